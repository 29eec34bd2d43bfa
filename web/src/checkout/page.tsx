// The checkout page: finds its session (opens one from the link, or reads
// the one its URL names), the organization's branding, and then shows the
// form, or where the session stands (expired, paid, unknown).

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { fetchOrganization, type PublicOrganization } from '../shared/organization.js';
import { ApiError, type CheckoutApi } from './api.js';
import { brandColors } from './brand.js';
import { problemsOf, type PageProblem } from './errors.js';
import { CheckoutForm } from './form.js';
import { waitForOutcome } from './payment.js';
import { sessionPath, type CheckoutRoute } from './route.js';
import { COMPLETED, EXPIRED, PROCESSING, type PublicCheckoutSession } from './session.js';
import { loadStripeJs } from './stripe.js';

export interface PageProps {
  api: CheckoutApi;
  /** The gateway's root. */
  base: URL;
  route: CheckoutRoute | null;
  locale: string | undefined;
}

type Load =
  | { state: 'loading' }
  | { state: 'open'; session: PublicCheckoutSession; secret: string }
  | { state: 'problem'; problem: PageProblem | 'waiting'; session: PublicCheckoutSession | null }
  | { state: 'failed'; message: string };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A page reloaded while its first payment waits for authentication
 * authenticates it with the Stripe.js the session names. */
async function authenticateWith(session: PublicCheckoutSession, clientSecret: string): Promise<void> {
  const payment = session.payment;
  if (!payment?.stripe_js_url || !payment.publishable_key) return;
  const factory = await loadStripeJs(payment.stripe_js_url);
  await factory(payment.publishable_key).confirmCardPayment(clientSecret);
}

/** The session the route names; a link's page opens one (the price asked
 * for preselected, unless the link does not offer it) and moves the address
 * bar to the session's own URL. */
async function findSession(api: CheckoutApi, base: URL, route: CheckoutRoute) {
  if (route.kind === 'session') return { session: await api.get(route.secret), secret: route.secret };
  let session: PublicCheckoutSession;
  try {
    session = await api.openFromLink(route.organizationId, route.linkId, route.priceId);
  } catch (error) {
    const priceRefused = error instanceof ApiError && error.status.reason === 'PRICE_NOT_FOUND';
    if (!priceRefused || route.priceId === null) throw error;
    session = await api.openFromLink(route.organizationId, route.linkId, null);
  }
  const secret = session.client_secret ?? '';
  window.history.replaceState(null, '', sessionPath(base, secret));
  return { session, secret };
}

export function CheckoutPage(props: PageProps) {
  const { api, base, route, locale } = props;
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const [organization, setOrganization] = useState<PublicOrganization | null>(null);

  const settle = useCallback(
    (session: PublicCheckoutSession, secret: string) => {
      if (session.status === COMPLETED) {
        setLoad({ state: 'problem', problem: 'completed', session });
        if (session.success_url) window.location.assign(session.success_url);
      } else if (session.status === EXPIRED) {
        setLoad({ state: 'problem', problem: 'expired', session });
      } else if (session.status === PROCESSING) {
        // Paid from this page before a reload: wait for the outcome here too.
        setLoad({ state: 'problem', problem: 'waiting', session });
        const waiting = {
          sleep,
          now: Date.now,
          // The read that asks for it names Stripe.js (the one loaded may not).
          authenticate: (clientSecret: string, polled: PublicCheckoutSession) =>
            authenticateWith(polled, clientSecret),
        };
        void waitForOutcome(api, secret, waiting, session).then(
          (outcome) =>
            outcome.kind === 'pending'
              ? setLoad({ state: 'problem', problem: 'processing', session })
              : settle(outcome.session, secret),
          () => setLoad({ state: 'problem', problem: 'processing', session }),
        );
      } else {
        setLoad({ state: 'open', session, secret });
      }
    },
    [api],
  );

  useEffect(() => {
    if (route === null) {
      setLoad({ state: 'problem', problem: 'not-found', session: null });
      return;
    }
    let current = true;
    setLoad({ state: 'loading' });
    findSession(api, base, route).then(
      ({ session, secret }) => {
        if (!current) return;
        settle(session, secret);
        void fetchOrganization(base.toString(), session.organization_id).then((found) => {
          if (current) setOrganization(found);
        });
      },
      (error: unknown) => {
        if (!current) return;
        const problems = error instanceof ApiError ? problemsOf(error.status) : null;
        if (problems?.page) setLoad({ state: 'problem', problem: problems.page, session: null });
        else setLoad({ state: 'failed', message: problems?.form ?? 'The checkout could not be loaded.' });
      },
    );
    return () => {
      current = false;
    };
  }, [api, base, route, attempt, settle]);

  useEffect(() => {
    const name = organization?.name?.trim();
    document.title = name ? `Checkout · ${name}` : 'Checkout';
  }, [organization]);

  const colors = brandColors(organization?.branding?.brand_color);
  const style: Record<string, string> = {};
  if (colors) {
    style['--brand'] = colors.brand;
    style['--on-brand'] = colors.onBrand;
    if (colors.ring) style['--ring'] = colors.ring;
  }

  let body: ComponentChildren;
  if (load.state === 'loading') {
    body = (
      <p class="notice" role="status">
        Loading checkout…
      </p>
    );
  } else if (load.state === 'failed') {
    body = (
      <div class="notice error" role="alert">
        <p>{load.message}</p>
        <button type="button" class="secondary" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  } else if (load.state === 'problem') {
    body = <Standing problem={load.problem} session={load.session} />;
  } else {
    body = (
      <CheckoutForm
        key={load.secret}
        api={api}
        secret={load.secret}
        initial={load.session}
        locale={locale}
        onSettled={(session) => settle(session, load.secret)}
        onPageProblem={(problem) => setLoad({ state: 'problem', problem, session: null })}
      />
    );
  }
  return (
    <div class={`page${colors ? ' branded' : ''}`} style={style}>
      <Header organization={organization} />
      <main class="content" aria-busy={load.state === 'loading'}>
        {body}
      </main>
      <Footer organization={organization} />
    </div>
  );
}

function Header(props: { organization: PublicOrganization | null }) {
  const { organization } = props;
  const name = organization?.name?.trim() ?? '';
  const logo = organization?.branding?.logo_url ?? '';
  const showLogo = /^https:\/\//.test(logo);
  return (
    <header class="masthead">
      <div class="masthead-inner">
        {showLogo && <img class="logo" src={logo} alt={name ? `${name} logo` : 'Logo'} />}
        <p class="merchant">{name || 'Checkout'}</p>
        {name && <p class="masthead-note">Secure checkout</p>}
      </div>
    </header>
  );
}

function Footer(props: { organization: PublicOrganization | null }) {
  const email = props.organization?.branding?.support_email?.trim() ?? '';
  return (
    <footer class="footer">
      {email && (
        <p>
          Questions? <a href={`mailto:${email}`}>{email}</a>
        </p>
      )}
      <p>Payments are processed by Stripe. Your card details never reach the merchant.</p>
    </footer>
  );
}

const STANDINGS: Record<PageProblem | 'waiting', [string, string]> = {
  expired: ['This checkout has expired', 'Open the checkout link again to start over.'],
  completed: ['Payment complete', 'Thank you! Taking you back to the merchant…'],
  processing: [
    'Your payment is being processed',
    'This can take a moment. You will receive a confirmation by email once it is done.',
  ],
  waiting: ['Your payment is being processed', 'Please keep this page open…'],
  'not-found': ['This checkout was not found', 'The link may be mistyped, or the checkout was removed.'],
  archived: ['This offer is no longer available', 'Ask the merchant for a current link.'],
};

function Standing(props: { problem: PageProblem | 'waiting'; session: PublicCheckoutSession | null }) {
  const [title, text] = STANDINGS[props.problem];
  const success = props.problem === 'completed' ? props.session?.success_url : undefined;
  return (
    <div class="notice standing" role={props.problem === 'waiting' ? 'status' : 'alert'}>
      <h1>{title}</h1>
      <p>{text}</p>
      {success && (
        <p>
          <a href={success}>Continue</a>
        </p>
      )}
    </div>
  );
}
