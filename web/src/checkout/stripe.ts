// Stripe.js, as little of it as the page uses: the card element,
// confirmCardSetup, and confirmCardPayment for a first payment the bank
// wants the customer to authenticate (3-D Secure). The card is typed into Stripe's own element (an iframe
// of js.stripe.com; in development, localstripe's stand-in, plain inputs) and
// goes from there to Stripe: it never passes through this page's code or
// BillingOS. The script is loaded from the URL the session's start-payment
// answer names (`stripe_js_url`), once per page; the gateway's
// Content-Security-Policy allows that origin and no other.

export interface StripeError {
  message?: string;
  code?: string;
  decline_code?: string;
  type?: string;
}

export interface BillingDetails {
  name?: string;
  email?: string;
  address?: {
    line1?: string;
    line2?: string;
    city?: string;
    postal_code?: string;
    state?: string;
    country?: string;
  };
}

export interface CardElement {
  mount(element: HTMLElement): void;
  on(event: 'change', handler: (event?: { error?: StripeError | null; complete?: boolean }) => void): void;
  focus?(): void;
}

export interface StripeInstance {
  elements(options?: Record<string, unknown>): { create(type: 'card', options?: Record<string, unknown>): CardElement };
  confirmCardSetup(
    clientSecret: string,
    data: { payment_method: { card: CardElement; billing_details: BillingDetails } },
  ): Promise<{ error?: StripeError | null; setupIntent?: { status?: string } }>;
  confirmCardPayment(clientSecret: string): Promise<{ error?: StripeError | null; paymentIntent?: { status?: string } }>;
}

export type StripeFactory = (publishableKey: string) => StripeInstance;

declare global {
  interface Window {
    Stripe?: StripeFactory;
  }
}

const loads = new Map<string, Promise<StripeFactory>>();

/** Stripe.js from `url` (http(s) only), added to the page once. */
export function loadStripeJs(url: string, doc: Document = document): Promise<StripeFactory> {
  const found = loads.get(url);
  if (found) return found;
  const loading = new Promise<StripeFactory>((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new Error('the payment script URL is not valid'));
      return;
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      reject(new Error('the payment script URL is not http(s)'));
      return;
    }
    const script = doc.createElement('script');
    script.src = parsed.toString();
    script.async = true;
    script.addEventListener('load', () => {
      const factory = doc.defaultView?.Stripe;
      if (typeof factory === 'function') resolve(factory);
      else reject(new Error('the payment script did not define Stripe'));
    });
    script.addEventListener('error', () => reject(new Error('the payment script could not be loaded')));
    doc.head.append(script);
  });
  // A failed load may be retried (a flaky network): forget it.
  loading.catch(() => loads.delete(url));
  loads.set(url, loading);
  return loading;
}
