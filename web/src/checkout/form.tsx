// The checkout form. What the customer types is kept here as drafts; each
// committed change (a choice made, a field left, a code applied) is a PATCH
// of the session through the SessionUpdater, whose answer's totals the
// summary shows and whose errors are shown next to their fields. Paying is
// two steps: "Continue to payment" saves the details and starts the payment
// (the customer, a SetupIntent, Stripe.js's parameters), which mounts the
// card element; "Pay" has Stripe.js save the card, then confirms the session
// and waits for the first payment's outcome.

import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { formatMinor } from '../shared/money.js';
import type { Cycle } from '../shared/plans.js';
import { ApiError, type CheckoutApi } from './api.js';
import { cycleOfPrice, offerFor, parseSeats, priceForCycle, seatRange, locate } from './choices.js';
import { countries } from './countries.js';
import {
  addressOf,
  billingDetails,
  draftsOf,
  firstError,
  keysOf,
  sameAddress,
  trimmed,
  without,
  type Drafts,
  type Errors,
} from './drafts.js';
import { problemsOf, type FieldKey, type PageProblem } from './errors.js';
import { AddressSection, ContactSection, DiscountField } from './details.js';
import { controlId } from './fields.js';
import { confirmAndWait, declineMessage } from './payment.js';
import { PaymentSection, type MountedCard } from './payment-section.js';
import { PlanChoice } from './plan-choice.js';
import type { CheckoutPayment, PublicCheckoutSession } from './session.js';
import { OrderSummary } from './summary-view.js';
import { SessionUpdater } from './updater.js';

interface FormProps {
  api: CheckoutApi;
  secret: string;
  initial: PublicCheckoutSession;
  locale: string | undefined;
  /** The session is no longer open (paid, expired, processing). */
  onSettled: (session: PublicCheckoutSession) => void;
  onPageProblem: (problem: PageProblem) => void;
}

/** Steps of paying: details (until the payment starts), the card, and the
 * two requests in flight, during which the buttons do nothing. */
type Phase = 'details' | 'starting' | 'card' | 'paying';

function focusField(key: FieldKey): void {
  const element = document.getElementById(controlId(key));
  if (element instanceof HTMLFieldSetElement) {
    (element.querySelector('input:checked') as HTMLInputElement | null ?? element).focus();
  } else {
    element?.focus();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function CheckoutForm(props: FormProps) {
  const { api, secret, initial, locale, onSettled, onPageProblem } = props;
  const products = initial.products ?? [];
  const [session, setSession] = useState(initial);
  const [drafts, setDrafts] = useState(() => draftsOf(initial));
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pendingPrice, setPendingPrice] = useState<string | null>(null);
  const [cycle, setCycle] = useState<Cycle | null>(
    () => cycleOfPrice(products, initial.price_id) ?? offerFor(products, null).cycles[0] ?? null,
  );
  const [phase, setPhase] = useState<Phase>('details');
  const [payment, setPayment] = useState<CheckoutPayment | null>(null);
  const [paymentError, setPaymentError] = useState<string | null>(
    initial.payment_error ? declineMessage(initial) : null,
  );
  const countryList = useMemo(() => countries(locale), [locale]);
  const card = useRef<MountedCard | null>(null);
  const paymentErrorRef = useRef<HTMLParagraphElement>(null);
  // The latest of each, for callbacks that outlive a render.
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const errorsRef = useRef(errors);
  errorsRef.current = errors;
  // The details last sent (or saved): what a commit compares the drafts
  // with, so leaving a field and then pressing a button sends it once.
  const sent = useRef({
    email: initial.customer_email ?? '',
    name: initial.customer_name ?? '',
    address: addressOf(initial),
  });
  // The SetupIntent Stripe.js has confirmed: a Pay after a failed :confirm
  // (the network) goes straight to confirming again.
  const savedIntent = useRef<string | null>(null);
  // The payment error gets the focus once shown (it is hidden until then).
  const focusPaymentError = useRef(false);
  useEffect(() => {
    if (paymentError && focusPaymentError.current) paymentErrorRef.current?.focus();
    focusPaymentError.current = false;
  }, [paymentError]);
  const reportPaymentError = useCallback((message: string) => {
    focusPaymentError.current = true;
    setPaymentError(message);
  }, []);

  const handlePageProblem = useCallback(
    (problem: PageProblem) => {
      if (problem === 'completed' || problem === 'processing') {
        // Paid meanwhile (another tab): the session says how it stands.
        api.get(secret).then(onSettled, () => onPageProblem(problem));
      } else {
        onPageProblem(problem);
      }
    },
    [api, secret, onSettled, onPageProblem],
  );

  const showError = useCallback(
    (error: unknown, keys: readonly FieldKey[]) => {
      const status = error instanceof ApiError ? error.status : null;
      const problems = status ? problemsOf(status) : { fields: {}, form: 'Something went wrong.', page: null };
      if (problems.page) {
        handlePageProblem(problems.page);
        return;
      }
      const next = { ...without(errorsRef.current, keys), ...problems.fields };
      errorsRef.current = next;
      setErrors(next);
      setFormError(problems.form);
    },
    [handlePageProblem],
  );

  const updater = useMemo(
    () =>
      new SessionUpdater((changes) => api.update(secret, changes), {
        saved(saved, changes) {
          sessionRef.current = saved;
          setSession(saved);
          const next = without(errorsRef.current, keysOf(changes));
          errorsRef.current = next;
          setErrors(next);
          setFormError(null);
          if ('price_id' in changes) setPendingPrice(null);
        },
        refused(error, changes) {
          // Sent again by the next commit (the service kept its own values).
          const kept = sessionRef.current;
          if ('customer_email' in changes) sent.current.email = kept.customer_email ?? '';
          if ('customer_name' in changes) sent.current.name = kept.customer_name ?? '';
          if ('billing_address' in changes) sent.current.address = addressOf(kept);
          showError(error, keysOf(changes));
          if ('price_id' in changes) {
            setPendingPrice(null);
            const now = sessionRef.current;
            setCycle((shown) => cycleOfPrice(now.products ?? [], now.price_id) ?? shown);
          }
        },
      }),
    [api, secret, showError],
  );

  const priceId = pendingPrice ?? session.price_id ?? '';
  const started = phase !== 'details';
  const busy = phase === 'starting' || phase === 'paying';

  function choosePrice(next: string): void {
    setPendingPrice(next);
    updater.submit({ price_id: next });
  }

  function chooseCycle(next: Cycle): void {
    setCycle(next);
    const price = priceForCycle(products, priceId, next, locale);
    if (price !== null) choosePrice(price);
  }

  function commitSeats(): void {
    const range = seatRange(locate(products, priceId)?.price);
    if (range === null) return;
    const parsed = parseSeats(drafts.seats, range);
    if ('error' in parsed) {
      setErrors((shown) => ({ ...shown, seats: parsed.error }));
      return;
    }
    if (parsed.seats !== session.seats) updater.submit({ seats: parsed.seats });
  }

  /** The details typed but not saved yet, as one change each (email, name,
   * address: a refused one leaves the others saved). */
  function commitDetails(current: Drafts = drafts): void {
    const email = current.email.trim();
    if (email !== sent.current.email) {
      sent.current.email = email;
      updater.submit({ customer_email: email });
    }
    const name = current.name.trim();
    if (name !== sent.current.name) {
      sent.current.name = name;
      updater.submit({ customer_name: name });
    }
    const address = trimmed(current.address);
    // Without a country an address is refused: it waits for one.
    if (address.country && !sameAddress(address, sent.current.address)) {
      sent.current.address = address;
      updater.submit({ billing_address: address });
    }
  }

  function applyCode(): void {
    const code = drafts.code.trim();
    if (code === (session.discount_code ?? '') && !errors.discount_code) return;
    updater.submit({ discount_code: code });
  }

  function removeCode(): void {
    setDrafts({ ...drafts, code: '' });
    updater.submit({ discount_code: '' });
  }

  /** Saves what is typed; false (the first field in error focused) when
   * something is missing or refused. */
  async function saveDetails(): Promise<boolean> {
    const missing: Errors = {};
    if (!drafts.email.trim()) missing.customer_email = 'Enter your email address.';
    if (!drafts.name.trim()) missing.customer_name = 'Enter your name.';
    if (!drafts.address.country) missing['billing_address.country'] = 'Choose your country or region.';
    commitDetails();
    // A code typed but not applied is applied now (or its refusal shown).
    const code = drafts.code.trim();
    if (session.accepts_discount_codes && code !== (sessionRef.current.discount_code ?? '')) {
      updater.submit({ discount_code: code });
    }
    await updater.idle();
    const shown = { ...errorsRef.current, ...missing };
    errorsRef.current = shown;
    setErrors(shown);
    const first = firstError(shown);
    if (first !== null) {
      focusField(first);
      return false;
    }
    return true;
  }

  async function startPayment(): Promise<void> {
    setPhase('starting');
    setFormError(null);
    if (!(await saveDetails())) {
      setPhase('details');
      return;
    }
    try {
      const answer = await api.startPayment(secret);
      sessionRef.current = answer;
      setSession(answer);
      if (!answer.payment?.setup_intent_client_secret) throw new Error('no payment in the answer');
      setPayment(answer.payment);
      setPhase('card');
    } catch (error) {
      setPhase('details');
      showError(error, []);
    }
  }

  async function pay(): Promise<void> {
    const mounted = card.current;
    if (mounted === null || payment === null) {
      reportPaymentError('The card form is still loading. Try again in a moment.');
      return;
    }
    setPhase('paying');
    setPaymentError(null);
    setFormError(null);
    if (!(await saveDetails())) {
      setPhase('card');
      return;
    }
    try {
      const intent = payment.setup_intent_client_secret;
      if (savedIntent.current !== intent) {
        const saved = await mounted.stripe.confirmCardSetup(intent, {
          payment_method: { card: mounted.card, billing_details: billingDetails(drafts) },
        });
        if (saved.error) {
          reportPaymentError(saved.error.message || 'The card could not be saved. Check its details.');
          setPhase('card');
          return;
        }
        savedIntent.current = intent;
      }
      const stripe = mounted.stripe;
      const outcome = await confirmAndWait(api, secret, {
        sleep,
        now: Date.now,
        authenticate: async (clientSecret) => {
          await stripe.confirmCardPayment(clientSecret);
        },
      });
      if (outcome.kind === 'completed') {
        onSettled(outcome.session);
      } else if (outcome.kind === 'expired') {
        onPageProblem('expired');
      } else if (outcome.kind === 'pending') {
        onPageProblem('processing');
      } else {
        // Declined: another card needs a new SetupIntent.
        setSession(outcome.session);
        reportPaymentError(outcome.message);
        const again = await api.startPayment(secret);
        if (again.payment) setPayment(again.payment);
        setPhase('card');
      }
    } catch (error) {
      setPhase('card');
      const status = error instanceof ApiError ? error.status : null;
      const problems = status ? problemsOf(status) : null;
      if (problems?.page) handlePageProblem(problems.page);
      else reportPaymentError(problems?.form ?? 'The payment could not be completed. Please try again.');
    }
  }

  function submit(event: Event): void {
    event.preventDefault();
    if (busy) return; // a second click while a request is in flight
    void (phase === 'details' ? startPayment() : pay());
  }

  const payLabel = payButtonLabel(session, locale);

  return (
    <div class="layout">
      <form class="form" noValidate onSubmit={submit} aria-describedby="form-error">
        <h1 class="title">Checkout</h1>
        <PlanChoice
          products={products}
          cycle={cycle}
          priceId={priceId}
          seats={drafts.seats}
          errors={errors}
          locale={locale}
          onCycle={chooseCycle}
          onPrice={choosePrice}
          onSeatsInput={(seats) => setDrafts({ ...drafts, seats })}
          onSeatsCommit={commitSeats}
        />
        <ContactSection
          drafts={drafts}
          errors={errors}
          locked={started}
          onDrafts={setDrafts}
          onCommit={(next) => commitDetails(next)}
        />
        <AddressSection
          drafts={drafts}
          errors={errors}
          countries={countryList}
          onDrafts={setDrafts}
          onCommit={(next) => commitDetails(next)}
        />
        {session.accepts_discount_codes && (
          <section class="section" aria-labelledby="discount-heading">
            <h2 id="discount-heading">Discount</h2>
            <DiscountField
              code={drafts.code}
              applied={session.discount_code ?? ''}
              error={errors.discount_code}
              onInput={(code) => {
                setDrafts({ ...drafts, code });
                // The error was about the code refused, not this one.
                if (errors.discount_code) setErrors(without(errors, ['discount_code']));
              }}
              onApply={applyCode}
              onRemove={removeCode}
            />
          </section>
        )}
        {payment !== null && (
          <PaymentSection payment={payment} mounted={card} onLoadFailed={reportPaymentError} />
        )}
        <p
          class="payment-error"
          role="alert"
          tabIndex={-1}
          ref={paymentErrorRef}
          hidden={!paymentError}
        >
          {paymentError ?? ''}
        </p>
        <p id="form-error" class="form-error" aria-live="polite">
          {formError ?? ''}
        </p>
        <button type="submit" class="primary pay" disabled={busy} aria-busy={busy}>
          {phase === 'details' && 'Continue to payment'}
          {phase === 'starting' && 'Preparing payment…'}
          {phase === 'card' && payLabel}
          {phase === 'paying' && 'Processing payment…'}
        </button>
        {started && <p class="hint">Your email and name are saved with the payment. To change them, reload the page.</p>}
      </form>
      <OrderSummary totals={session.totals} code={session.discount_code ?? ''} locale={locale} />
    </div>
  );
}

/** "Pay $232.00"; with nothing due now, "Start free trial" or "Subscribe". */
function payButtonLabel(session: PublicCheckoutSession, locale: string | undefined): string {
  const totals = session.totals;
  const due = totals?.amount_due_now_minor ?? '0';
  if (totals?.currency && /[1-9]/.test(due)) return `Pay ${formatMinor(due, totals.currency, locale, true)}`;
  return totals?.trial_end_time ? 'Start free trial' : 'Subscribe';
}
