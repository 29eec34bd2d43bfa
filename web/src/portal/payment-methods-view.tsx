// The customer's cards: brand, last four digits, expiry and which is the
// default; make another the default, remove one (confirmed in a dialog), and
// add one. Adding is the checkout page's way: the portal's SetupIntent
// answer names Stripe's publishable key, where Stripe.js comes from and the
// client secret; the card is typed into Stripe.js's card element (it goes
// from there to Stripe, never through this page's code or BillingOS),
// confirmCardSetup saves it, and the sync call records it at once (Stripe's
// webhook would too, a moment later).

import { useEffect, useRef, useState } from 'preact/hooks';
import { loadStripeJs, type BillingDetails, type CardElement, type StripeInstance } from '../checkout/stripe.js';
import type { PortalApi } from './api.js';
import { Badge, Failed, FlashMessage, Loading, problemText, useFlash, useLoad } from './common.js';
import { cardExpired, cardExpiry, cardName } from './describe.js';
import { Dialog } from './dialog.js';
import type { PortalCustomer, PortalPaymentMethod, PortalSetupIntent } from './types.js';

interface ViewProps {
  api: PortalApi;
  customer: PortalCustomer | null;
  locale: string | undefined;
}

const SUCCEEDED = 'SETUP_INTENT_STATUS_SUCCEEDED';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function PaymentMethodsView(props: ViewProps) {
  const { api, customer } = props;
  const [loaded, reload] = useLoad(() => api.paymentMethods(), [api]);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [removing, setRemoving] = useState<PortalPaymentMethod | null>(null);
  const [adding, setAdding] = useState(false);
  const [flash, say] = useFlash();
  const addButton = useRef<HTMLButtonElement>(null);
  const now = new Date();

  async function makeDefault(method: PortalPaymentMethod): Promise<void> {
    setBusyId(method.id);
    try {
      const after = await api.setDefaultPaymentMethod(method.id);
      await reload();
      say(`${cardName(after)} is now your default card.`);
      // Its "Make default" button is gone: the card itself takes the focus.
      window.setTimeout(() => document.getElementById(`card-${method.id}`)?.focus(), 0);
    } catch (error) {
      say(problemText(error), true);
    } finally {
      setBusyId(null);
    }
  }

  let body;
  if (loaded.state === 'loading') body = <Loading what="your cards" />;
  else if (loaded.state === 'failed') body = <Failed message={loaded.message} onRetry={() => void reload()} />;
  else if (loaded.data.length === 0) body = <p class="empty">You have no saved cards.</p>;
  else {
    body = (
      <ul class="cards" aria-label="Saved cards">
        {loaded.data.map((method) => {
          const expired = cardExpired(method, now);
          const id = `card-${method.id}`;
          return (
            <li class="card card-row" key={method.id} aria-labelledby={id}>
              <div class="card-main">
                <h2 class="card-title" id={id} tabIndex={-1}>
                  {cardName(method)}
                </h2>
                <p class={expired ? 'warning-text' : 'muted'}>{cardExpiry(method, now)}</p>
              </div>
              {method.is_default && <Badge tone="good">Default</Badge>}
              <div class="actions">
                {!method.is_default && (
                  <button
                    type="button"
                    class="secondary small"
                    onClick={() => void makeDefault(method)}
                    disabled={busyId !== null}
                    aria-busy={busyId === method.id}
                    aria-describedby={id}
                  >
                    {busyId === method.id ? 'Saving…' : 'Make default'}
                  </button>
                )}
                <button
                  type="button"
                  class="secondary small danger-text"
                  onClick={() => setRemoving(method)}
                  disabled={busyId !== null}
                  aria-describedby={id}
                >
                  Remove
                </button>
              </div>
            </li>
          );
        })}
      </ul>
    );
  }

  return (
    <>
      <FlashMessage flash={flash} />
      {body}
      {adding ? (
        <AddCard
          api={api}
          customer={customer}
          onCancel={() => {
            setAdding(false);
            window.setTimeout(() => addButton.current?.focus(), 0);
          }}
          onSaved={async (intent) => {
            setAdding(false);
            await reload();
            say('Your card is saved.');
            window.setTimeout(() => document.getElementById(`card-${intent.payment_method_id}`)?.focus(), 0);
          }}
        />
      ) : (
        <p>
          <button type="button" class="secondary" ref={addButton} onClick={() => setAdding(true)}>
            Add a card
          </button>
        </p>
      )}
      {removing && (
        <RemoveDialog
          api={api}
          method={removing}
          onClose={() => setRemoving(null)}
          onRemoved={async () => {
            // The list without the card first, then the dialog closes (its
            // opener gone, the focus goes to the page's heading).
            await reload();
            setRemoving(null);
            say(`${cardName(removing)} was removed.`);
          }}
        />
      )}
    </>
  );
}

function RemoveDialog(props: {
  api: PortalApi;
  method: PortalPaymentMethod;
  onClose: () => void;
  onRemoved: () => Promise<void>;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const name = cardName(props.method);

  async function remove(): Promise<void> {
    setBusy(true);
    setError('');
    try {
      await props.api.detachPaymentMethod(props.method.id);
      await props.onRemoved();
    } catch (failure) {
      setError(problemText(failure));
      setBusy(false);
    }
  }

  return (
    <Dialog
      id="remove-card-dialog"
      title={`Remove ${name}?`}
      onClose={props.onClose}
      busy={busy}
      returnFocus={() => document.querySelector<HTMLElement>('main h1')}
    >
      <p>
        {props.method.is_default
          ? 'It is your default card: your subscriptions are charged to it. Your newest other card becomes ' +
            'the default; without one, the next payment fails until you add a card.'
          : 'It will no longer be charged.'}
      </p>
      <p class="field-error" aria-live="polite">
        {error}
      </p>
      <div class="dialog-actions">
        <button type="button" class="secondary" onClick={props.onClose} disabled={busy} data-autofocus>
          Keep card
        </button>
        <button type="button" class="danger" onClick={() => void remove()} disabled={busy} aria-busy={busy}>
          {busy ? 'Removing…' : 'Remove card'}
        </button>
      </div>
    </Dialog>
  );
}

interface Mounted {
  stripe: StripeInstance;
  card: CardElement & { destroy?: () => void };
}

// One Stripe.js instance per publishable key and page, as Stripe asks.
const instances = new Map<string, StripeInstance>();

function billingDetailsOf(customer: PortalCustomer | null): BillingDetails {
  // Stripe refuses empty values: only what is known.
  const details: BillingDetails = {};
  if (customer?.name?.trim()) details.name = customer.name.trim();
  if (customer?.email?.trim()) details.email = customer.email.trim();
  return details;
}

function AddCard(props: {
  api: PortalApi;
  customer: PortalCustomer | null;
  onCancel: () => void;
  onSaved: (intent: PortalSetupIntent) => Promise<void>;
}) {
  const { api } = props;
  const host = useRef<HTMLDivElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const mounted = useRef<Mounted | null>(null);
  const [intent, setIntent] = useState<PortalSetupIntent | null>(null);
  const [ready, setReady] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState('');
  const [cardError, setCardError] = useState('');

  useEffect(() => {
    heading.current?.focus();
    let current = true;
    api.createSetupIntent().then(
      async (made) => {
        if (!current) return;
        setIntent(made);
        try {
          const Stripe = await loadStripeJs(made.stripe_js_url ?? '');
          if (!current || host.current === null) return;
          const key = made.publishable_key ?? '';
          const stripe = instances.get(key) ?? Stripe(key);
          instances.set(key, stripe);
          const card = stripe.elements().create('card', { hidePostalCode: true });
          card.mount(host.current);
          card.on('change', (event) => setCardError(event?.error?.message ?? ''));
          mounted.current = { stripe, card };
          setReady(true);
        } catch {
          if (current) setError('The card form could not be loaded. Check your connection and try again.');
        }
      },
      (failure: unknown) => {
        if (current) setError(problemText(failure));
      },
    );
    return () => {
      current = false;
      mounted.current?.card.destroy?.();
      mounted.current = null;
    };
  }, [api]);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    const found = mounted.current;
    if (saving || found === null || intent === null) return;
    setSaving(true);
    setError('');
    try {
      const saved = await found.stripe.confirmCardSetup(intent.client_secret ?? '', {
        payment_method: { card: found.card, billing_details: billingDetailsOf(props.customer) },
      });
      if (saved.error) {
        setError(saved.error.message || 'The card could not be saved. Check its details.');
        setSaving(false);
        return;
      }
      let synced = await api.syncSetupIntent(intent.id);
      for (let attempt = 0; synced.status !== SUCCEEDED && attempt < 5; attempt++) {
        await sleep(1000);
        synced = await api.syncSetupIntent(intent.id);
      }
      if (synced.status !== SUCCEEDED) {
        setError('The card is still being checked. It appears here once it is saved.');
        setSaving(false);
        return;
      }
      await props.onSaved(synced);
    } catch (failure) {
      setError(problemText(failure));
      setSaving(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="add-card-heading">
      <h2 id="add-card-heading" tabIndex={-1} ref={heading}>
        Add a card
      </h2>
      <form onSubmit={(event) => void save(event)} noValidate>
        <p class="field-label" id="card-label">
          Card
        </p>
        <div
          class="card-field"
          role="group"
          aria-labelledby="card-label"
          aria-describedby="card-error"
          aria-busy={!ready}
          ref={host}
        />
        {!ready && !error && (
          <p class="hint" role="status">
            Loading the secure card form…
          </p>
        )}
        <p id="card-error" class="field-error" aria-live="polite">
          {cardError || error}
        </p>
        <div class="actions">
          <button type="submit" class="primary-inline" disabled={!ready || saving} aria-busy={saving}>
            {saving ? 'Saving card…' : 'Save card'}
          </button>
          <button type="button" class="secondary" onClick={props.onCancel} disabled={saving}>
            Cancel
          </button>
        </div>
        <p class="hint">Your card goes straight to Stripe, our payment processor. It never reaches the merchant.</p>
      </form>
    </section>
  );
}
