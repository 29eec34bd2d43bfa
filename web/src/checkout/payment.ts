// After Stripe.js has saved the card (the SetupIntent confirmed), the page
// confirms the session and follows it to its outcome: `:confirm` makes the
// subscription and its first order; the session is then PROCESSING until
// the first payment succeeds (COMPLETED: off to the success URL) or fails
// (OPEN again with `payment_error`: the customer may try another card, with
// a new SetupIntent from `:start-payment`). Nothing due now (a trial):
// COMPLETED at once. A first payment the bank wants authenticated (3-D
// Secure) shows its PaymentIntent's client secret on the processing
// session: the page has Stripe.js confirm it (once per secret), and the
// payment's outcome comes from the server as any other's. Pure of the DOM, so it is tested with a fake API and
// clock (web/test/payment.test.ts).

import { ApiError, type CheckoutApi } from './api.js';
import { COMPLETED, EXPIRED, OPEN, type PublicCheckoutSession } from './session.js';

export type Outcome =
  | { kind: 'completed'; session: PublicCheckoutSession }
  | { kind: 'declined'; session: PublicCheckoutSession; message: string }
  | { kind: 'expired'; session: PublicCheckoutSession }
  /** Still processing when the page stopped waiting. */
  | { kind: 'pending'; session: PublicCheckoutSession };

export interface Waiting {
  sleep(ms: number): Promise<void>;
  now(): number;
  /** How often the session is read (1 s). */
  intervalMs?: number;
  /** How long the page waits for the payment (60 s), from the confirmation
   * or the customer's authentication. */
  timeoutMs?: number;
  /** Has Stripe.js authenticate the PaymentIntent of `clientSecret`, as
   * `session` (the read that asked for it) names Stripe.js (none: the page
   * cannot, and waits). */
  authenticate?: (clientSecret: string, session: PublicCheckoutSession) => Promise<void>;
}

const DECLINE_WORDS: Record<string, string> = {
  insufficient_funds: 'The card has insufficient funds.',
  lost_card: 'The card was declined.',
  stolen_card: 'The card was declined.',
  expired_card: 'The card has expired.',
  incorrect_cvc: 'The card’s security code is incorrect.',
};

/** What to tell the customer of a failed payment. */
export function declineMessage(session: PublicCheckoutSession): string {
  const error = session.payment_error ?? {};
  const specific = DECLINE_WORDS[error.decline_code ?? ''] ?? DECLINE_WORDS[error.code ?? ''];
  const text = (error.message ?? '').trim() || specific || 'The payment was declined.';
  return `${text} Try another card.`;
}

/** Where the session stands, as an outcome; null while it is processing. */
export function outcomeOf(session: PublicCheckoutSession): Outcome | null {
  if (session.status === COMPLETED) return { kind: 'completed', session };
  if (session.status === EXPIRED) return { kind: 'expired', session };
  if (session.status === OPEN) {
    // Open after a confirmation: the payment failed (an open session
    // without an error would be one the customer never confirmed).
    return { kind: 'declined', session, message: declineMessage(session) };
  }
  return null;
}

/** Confirms the session and waits for its outcome (or stops waiting). */
export async function confirmAndWait(api: CheckoutApi, secret: string, waiting: Waiting): Promise<Outcome> {
  const confirmed = await api.confirm(secret);
  return outcomeOf(confirmed) ?? (await waitForOutcome(api, secret, waiting, confirmed));
}

/** The PaymentIntent the session asks the customer to authenticate, if any. */
export function authenticationOf(session: PublicCheckoutSession): string | null {
  return session.payment?.payment_intent_client_secret || null;
}

/** Reads the session every interval until it is no longer processing. A
 * read that fails for the network is tried again at the next interval. */
export async function waitForOutcome(
  api: CheckoutApi,
  secret: string,
  waiting: Waiting,
  last: PublicCheckoutSession,
): Promise<Outcome> {
  const interval = waiting.intervalMs ?? 1000;
  const timeout = waiting.timeoutMs ?? 60_000;
  let deadline = waiting.now() + timeout;
  const authenticated = new Set<string>();
  let session = last;
  while (waiting.now() < deadline) {
    const action = authenticationOf(session);
    if (action !== null && waiting.authenticate && !authenticated.has(action)) {
      authenticated.add(action);
      try {
        await waiting.authenticate(action, session);
      } catch {
        // A failed or abandoned authentication fails the payment: the
        // server's outcome (a decline) is what the page shows.
      }
      deadline = waiting.now() + timeout;
    }
    await waiting.sleep(interval);
    try {
      session = await api.get(secret);
    } catch (error) {
      if (error instanceof ApiError && (error.status.httpStatus === 0 || error.status.httpStatus >= 500)) continue;
      throw error;
    }
    const outcome = outcomeOf(session);
    if (outcome !== null) return outcome;
  }
  return { kind: 'pending', session };
}
