// What the customer has typed (drafts) and what the form makes of it, as
// pure functions (web/test/checkout-drafts.test.ts): the session's values as
// drafts, the fields a change is about, which field in error comes first,
// and the billing details Stripe.js gets.

import { ADDRESS_PARTS, type FieldKey } from './errors.js';
import type { Address, PublicCheckoutSession, SessionChanges } from './session.js';
import type { BillingDetails } from './stripe.js';

export interface Drafts {
  email: string;
  name: string;
  address: Required<Address>;
  code: string;
  seats: string;
}

export type Errors = Partial<Record<FieldKey, string>>;

// The order in which the first field in error gets the focus.
export const FIELD_ORDER: readonly FieldKey[] = [
  'price_id',
  'seats',
  'customer_email',
  'customer_name',
  ...ADDRESS_PARTS.map((part): FieldKey => `billing_address.${part}`),
  'discount_code',
];

export function addressOf(session: PublicCheckoutSession): Required<Address> {
  const given = session.billing_address ?? {};
  return {
    line1: given.line1 ?? '',
    line2: given.line2 ?? '',
    city: given.city ?? '',
    postal_code: given.postal_code ?? '',
    state: given.state ?? '',
    country: given.country ?? '',
  };
}

export function draftsOf(session: PublicCheckoutSession): Drafts {
  return {
    email: session.customer_email ?? '',
    name: session.customer_name ?? '',
    address: addressOf(session),
    code: session.discount_code ?? '',
    seats: session.seats ? String(session.seats) : '',
  };
}

export function trimmed(address: Required<Address>): Required<Address> {
  const out = { ...address };
  for (const part of ADDRESS_PARTS) out[part] = out[part].trim();
  return out;
}

export function sameAddress(a: Required<Address>, b: Required<Address>): boolean {
  return ADDRESS_PARTS.every((part) => a[part] === b[part]);
}

/** The form's fields a change is about. */
export function keysOf(changes: SessionChanges): FieldKey[] {
  return Object.keys(changes).flatMap((field): FieldKey[] =>
    field === 'billing_address'
      ? ADDRESS_PARTS.map((part): FieldKey => `billing_address.${part}`)
      : [field as FieldKey],
  );
}

export function without(errors: Errors, keys: readonly FieldKey[]): Errors {
  const left = { ...errors };
  for (const key of keys) delete left[key];
  return left;
}

export function firstError(errors: Errors): FieldKey | null {
  return FIELD_ORDER.find((key) => errors[key]) ?? null;
}

/** What Stripe gets of the customer: no empty values (Stripe refuses them). */
export function billingDetails(drafts: Drafts): BillingDetails {
  const address: NonNullable<BillingDetails['address']> = {};
  for (const part of ADDRESS_PARTS) {
    const value = drafts.address[part].trim();
    if (value) address[part] = value;
  }
  const details: BillingDetails = { address };
  if (drafts.name.trim()) details.name = drafts.name.trim();
  if (drafts.email.trim()) details.email = drafts.email.trim();
  return details;
}
