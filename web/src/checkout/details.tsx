// The customer's details on the form: contact (email, name: read-only once
// the payment has started, as the customer and the card are made for them;
// a reload starts over with them editable), the billing
// address (its country decides the tax) and the discount code. Markup only:
// the form keeps the drafts and decides when a change is sent.

import type { Country } from './countries.js';
import type { Drafts, Errors } from './drafts.js';
import type { AddressPart } from './errors.js';
import { TextField, SelectField } from './fields.js';

interface DetailsProps {
  drafts: Drafts;
  errors: Errors;
  /** Typing: the drafts as they now are. */
  onDrafts: (drafts: Drafts) => void;
  /** A field was left (or a choice made): send what changed. */
  onCommit: (drafts?: Drafts) => void;
}

export function ContactSection(props: DetailsProps & { locked: boolean }) {
  const { drafts, errors, onDrafts, onCommit, locked } = props;
  return (
    <section class="section" aria-labelledby="contact-heading">
      <h2 id="contact-heading">Contact</h2>
      <TextField
        field="customer_email"
        label="Email"
        type="email"
        autocomplete="email"
        required
        readOnly={locked}
        value={drafts.email}
        error={errors.customer_email}
        onInput={(email) => onDrafts({ ...drafts, email })}
        onCommit={() => onCommit()}
      />
      <TextField
        field="customer_name"
        label="Name"
        autocomplete="name"
        required
        readOnly={locked}
        value={drafts.name}
        error={errors.customer_name}
        onInput={(name) => onDrafts({ ...drafts, name })}
        onCommit={() => onCommit()}
      />
    </section>
  );
}

export function AddressSection(props: DetailsProps & { countries: readonly Country[] }) {
  const { drafts, errors, onDrafts, onCommit, countries } = props;
  function part(name: AddressPart, value: string, commit = false): void {
    const next = { ...drafts, address: { ...drafts.address, [name]: value } };
    onDrafts(next);
    if (commit) onCommit(next);
  }
  return (
    <section class="section" aria-labelledby="address-heading">
      <h2 id="address-heading">Billing address</h2>
      <SelectField
        field="billing_address.country"
        label="Country or region"
        placeholder="Choose…"
        autocomplete="country"
        value={drafts.address.country}
        options={countries.map((country) => ({ value: country.code, label: country.name }))}
        error={errors['billing_address.country']}
        onChange={(country) => part('country', country, true)}
      />
      <TextField
        field="billing_address.line1"
        label="Address line 1"
        autocomplete="address-line1"
        value={drafts.address.line1}
        error={errors['billing_address.line1']}
        onInput={(value) => part('line1', value)}
        onCommit={() => onCommit()}
      />
      <TextField
        field="billing_address.line2"
        label="Address line 2"
        autocomplete="address-line2"
        value={drafts.address.line2}
        error={errors['billing_address.line2']}
        onInput={(value) => part('line2', value)}
        onCommit={() => onCommit()}
      />
      <div class="field-pair">
        <TextField
          field="billing_address.city"
          label="City"
          autocomplete="address-level2"
          value={drafts.address.city}
          error={errors['billing_address.city']}
          onInput={(value) => part('city', value)}
          onCommit={() => onCommit()}
        />
        <TextField
          field="billing_address.postal_code"
          label="Postal code"
          autocomplete="postal-code"
          value={drafts.address.postal_code}
          error={errors['billing_address.postal_code']}
          onInput={(value) => part('postal_code', value)}
          onCommit={() => onCommit()}
        />
      </div>
      <TextField
        field="billing_address.state"
        label="State, province or region"
        autocomplete="address-level1"
        value={drafts.address.state}
        error={errors['billing_address.state']}
        onInput={(value) => part('state', value)}
        onCommit={() => onCommit()}
      />
    </section>
  );
}

interface DiscountProps {
  code: string;
  applied: string;
  error: string | undefined;
  onInput: (code: string) => void;
  onApply: () => void;
  onRemove: () => void;
}

export function DiscountField(props: DiscountProps) {
  return (
    <TextField
      field="discount_code"
      label="Discount code"
      autocomplete="off"
      value={props.code}
      error={props.error}
      hint={props.applied ? `Code ${props.applied.toUpperCase()} is applied.` : undefined}
      onInput={props.onInput}
      onEnter={props.onApply}
    >
      <button type="button" class="secondary" aria-label="Apply discount code" onClick={props.onApply}>
        Apply
      </button>
      {props.applied && (
        <button type="button" class="secondary" aria-label="Remove discount code" onClick={props.onRemove}>
          Remove
        </button>
      )}
    </TextField>
  );
}
