// Where the card is typed: Stripe.js's card element, mounted once the
// session's payment has started (its answer names the publishable key and
// where Stripe.js comes from), and kept across a declined attempt (a new
// SetupIntent needs no new element). The element is Stripe's own (an iframe
// with its own labels); this page gives it a visible label and a group role.

import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorId, FieldError } from './fields.js';
import type { CheckoutPayment } from './session.js';
import { loadStripeJs, type CardElement, type StripeInstance } from './stripe.js';

export interface MountedCard {
  publishableKey: string;
  stripe: StripeInstance;
  card: CardElement;
}

interface PaymentSectionProps {
  payment: CheckoutPayment;
  /** Set once the card element is mounted. */
  mounted: RefObject<MountedCard | null>;
  onLoadFailed: (message: string) => void;
}

export function PaymentSection(props: PaymentSectionProps) {
  const { payment, mounted, onLoadFailed } = props;
  const host = useRef<HTMLDivElement>(null);
  const [ready, setReady] = useState(mounted.current !== null);
  const [cardError, setCardError] = useState('');

  useEffect(() => {
    const element = host.current;
    if (element === null || mounted.current?.publishableKey === payment.publishable_key) return;
    let current = true;
    loadStripeJs(payment.stripe_js_url).then(
      (Stripe) => {
        if (!current || mounted.current?.publishableKey === payment.publishable_key) return;
        const stripe = Stripe(payment.publishable_key);
        const card = stripe.elements().create('card', { hidePostalCode: true });
        card.mount(element);
        card.on('change', (event) => setCardError(event?.error?.message ?? ''));
        mounted.current = { publishableKey: payment.publishable_key, stripe, card };
        setReady(true);
      },
      () => {
        if (current) onLoadFailed('The payment form could not be loaded. Check your connection and reload the page.');
      },
    );
    return () => {
      current = false;
    };
  }, [payment.publishable_key, payment.stripe_js_url, mounted, onLoadFailed]);

  return (
    <section class="section" aria-labelledby="payment-heading">
      <h2 id="payment-heading">Payment</h2>
      <p class="field-label" id="card-label">
        Card
      </p>
      <div
        class="card-field"
        role="group"
        aria-labelledby="card-label"
        aria-describedby={errorId('card')}
        aria-busy={!ready}
        ref={host}
      />
      {!ready && (
        <p class="hint" role="status">
          Loading the secure card form…
        </p>
      )}
      <FieldError id={errorId('card')} text={cardError} />
    </section>
  );
}
