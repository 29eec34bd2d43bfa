// The customer portal page: the organization's branding, then either the
// sign-in form (no session) or the portal itself, whose views are the
// customer's subscriptions, orders, cards, benefits and usage. The session
// comes from a sign-in link's token (exchanged once for a session), from a
// merchant's app (#session=), or from the tab's sessionStorage (a reload);
// a 401 from any call ends it and brings the sign-in form back.

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { brandColors } from '../checkout/brand.js';
import { fetchOrganization, type PublicOrganization } from '../shared/organization.js';
import { ApiError, portalApi, type PublicPortalApi } from './api.js';
import { BenefitsView } from './benefits-view.js';
import { messageOf } from './errors.js';
import { OrdersView } from './orders-view.js';
import { PaymentMethodsView } from './payment-methods-view.js';
import { portalPath, searchOf, viewOf, VIEWS, type PortalRoute, type View } from './route.js';
import { SignIn } from './sign-in.js';
import { clearSession, loadSession, saveSession, type KeyValueStore } from './storage.js';
import { SubscriptionsView } from './subscriptions-view.js';
import type { PortalCustomer } from './types.js';
import { UsageView } from './usage-view.js';

export interface Credentials {
  /** A sign-in link's token, read from the fragment (and removed from it). */
  signInToken: string | null;
  /** A session a merchant's app handed over in the fragment. */
  sessionToken: string | null;
}

export interface AppProps {
  publicApi: PublicPortalApi;
  /** The gateway's root. */
  base: URL;
  route: PortalRoute | null;
  credentials: Credentials;
  storage: KeyValueStore | null;
  locale: string | undefined;
}

type Auth =
  | { state: 'starting' }
  | { state: 'signed-out'; notice: string | null }
  | { state: 'signed-in'; token: string };

const TITLES: Record<View, string> = {
  subscriptions: 'Subscriptions',
  orders: 'Orders',
  'payment-methods': 'Payment methods',
  benefits: 'Benefits',
  usage: 'Usage',
};

export function PortalApp(props: AppProps) {
  const { publicApi, base, route, credentials, storage, locale } = props;
  const organizationId = route?.organizationId ?? '';
  const [organization, setOrganization] = useState<PublicOrganization | null>(null);
  const [auth, setAuth] = useState<Auth>({ state: 'starting' });

  useEffect(() => {
    if (!organizationId) return;
    let current = true;
    void fetchOrganization(base.toString(), organizationId).then((found) => {
      if (current) setOrganization(found);
    });
    return () => {
      current = false;
    };
  }, [base, organizationId]);

  useEffect(() => {
    if (!organizationId) return;
    if (credentials.signInToken) {
      publicApi.exchangeSignIn(credentials.signInToken).then(
        (session) => {
          const token = session.token ?? '';
          // A link of another organization's, under this one's branding:
          // not a session of this portal's.
          const elsewhere = session.organization_id !== undefined && session.organization_id !== organizationId;
          if (!token.startsWith('bcs_') || elsewhere) {
            setAuth({ state: 'signed-out', notice: 'Signing in did not work. Ask for a new link below.' });
            return;
          }
          saveSession(storage, organizationId, { token, expireTime: session.expire_time ?? '' });
          setAuth({ state: 'signed-in', token });
        },
        (error: unknown) =>
          setAuth({
            state: 'signed-out',
            notice: error instanceof ApiError ? messageOf(error.status) : 'Signing in did not work. Please try again.',
          }),
      );
      return;
    }
    if (credentials.sessionToken) {
      saveSession(storage, organizationId, { token: credentials.sessionToken, expireTime: '' });
      setAuth({ state: 'signed-in', token: credentials.sessionToken });
      return;
    }
    const stored = loadSession(storage, organizationId, Date.now());
    setAuth(stored ? { state: 'signed-in', token: stored.token } : { state: 'signed-out', notice: null });
  }, [organizationId, credentials, publicApi, storage]);

  const signOut = useCallback(
    (notice: string | null) => {
      clearSession(storage, organizationId);
      setAuth({ state: 'signed-out', notice });
    },
    [storage, organizationId],
  );

  const name = organization?.name?.trim() ?? '';
  useEffect(() => {
    const page = auth.state === 'signed-in' ? 'Your account' : 'Sign in';
    document.title = name ? `${page} · ${name}` : page;
  }, [name, auth.state]);

  const support = organization?.branding?.support_email?.trim() ?? '';
  const colors = brandColors(organization?.branding?.brand_color);
  const style: Record<string, string> = {};
  if (colors) {
    style['--brand'] = colors.brand;
    style['--on-brand'] = colors.onBrand;
    if (colors.ring) style['--ring'] = colors.ring;
  }

  let body: ComponentChildren;
  if (route === null) {
    body = (
      <div class="notice standing" role="alert">
        <h1>This page was not found</h1>
        <p>Check the address of the link you followed.</p>
      </div>
    );
  } else if (auth.state === 'starting') {
    body = (
      <p class="notice-inline" role="status">
        {credentials.signInToken ? 'Signing you in…' : 'Loading…'}
      </p>
    );
  } else if (auth.state === 'signed-out') {
    body = <SignIn api={publicApi} organizationId={organizationId} organizationName={name} notice={auth.notice} />;
  } else {
    body = (
      <SignedIn
        key={auth.token}
        token={auth.token}
        base={base}
        organizationId={organizationId}
        locale={locale}
        onSignOut={signOut}
      />
    );
  }
  return (
    <div class={`page portal${colors ? ' branded' : ''}`} style={style}>
      <header class="masthead">
        <div class="masthead-inner">
          {/^https:\/\//.test(organization?.branding?.logo_url ?? '') && (
            <img class="logo" src={organization?.branding?.logo_url} alt={name ? `${name} logo` : 'Logo'} />
          )}
          <p class="merchant">{name || 'Customer portal'}</p>
          {name && <p class="masthead-note">Customer portal</p>}
        </div>
      </header>
      {auth.state === 'signed-in' && route !== null ? body : <main class="content">{body}</main>}
      <footer class="footer">
        {support && (
          <p>
            Questions? <a href={`mailto:${support}`}>{support}</a>
          </p>
        )}
        <p>Payments are processed by Stripe. Your card details never reach the merchant.</p>
      </footer>
    </div>
  );
}

interface SignedInProps {
  token: string;
  base: URL;
  organizationId: string;
  locale: string | undefined;
  onSignOut: (notice: string | null) => void;
}

function SignedIn(props: SignedInProps) {
  const { token, base, organizationId, locale, onSignOut } = props;
  const [view, setView] = useState<View>(() => viewOf(window.location.search));
  const [customer, setCustomer] = useState<PortalCustomer | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const moved = useRef(false);
  const ended = useRef(false);

  const api = useMemo(
    () =>
      portalApi(base.toString(), token, {
        onUnauthorized: () => {
          if (ended.current) return;
          ended.current = true;
          onSignOut('Your session has ended. Sign in again to continue.');
        },
      }),
    [base, token, onSignOut],
  );

  useEffect(() => {
    let current = true;
    api.customer().then(
      (found) => current && setCustomer(found),
      () => undefined, // a 401 signs out; otherwise the header names no one
    );
    return () => {
      current = false;
    };
  }, [api]);

  useEffect(() => {
    const back = () => {
      moved.current = true;
      setView(viewOf(window.location.search));
    };
    window.addEventListener('popstate', back);
    return () => window.removeEventListener('popstate', back);
  }, []);

  useEffect(() => {
    // A view chosen (not the first one shown): its heading takes the focus,
    // so a screen reader says where the customer is now.
    if (moved.current) heading.current?.focus();
    moved.current = false;
  }, [view]);

  function go(event: MouseEvent, next: View): void {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (next === view) return;
    window.history.pushState(null, '', portalPath(base, organizationId, searchOf(next)));
    moved.current = true;
    setView(next);
  }

  let content: ComponentChildren;
  if (view === 'subscriptions') {
    content = <SubscriptionsView api={api} base={base} organizationId={organizationId} locale={locale} />;
  } else if (view === 'orders') content = <OrdersView api={api} locale={locale} />;
  else if (view === 'payment-methods') content = <PaymentMethodsView api={api} customer={customer} locale={locale} />;
  else if (view === 'benefits') content = <BenefitsView api={api} locale={locale} />;
  else content = <UsageView api={api} locale={locale} />;

  return (
    <div class="portal-layout">
      <section class="account-bar" aria-label="Your session">
        <p class="signed-in-as">
          {customer?.email ? (
            <>
              Signed in as <strong>{customer.email}</strong>
            </>
          ) : (
            'Signed in'
          )}
        </p>
        <button type="button" class="secondary small" onClick={() => onSignOut('You are signed out.')}>
          Sign out
        </button>
      </section>
      <nav class="views" aria-label="Account">
        <ul>
          {VIEWS.map((each) => (
            <li key={each}>
              <a
                href={portalPath(base, organizationId, searchOf(each))}
                aria-current={each === view ? 'page' : undefined}
                onClick={(event) => go(event, each)}
              >
                {TITLES[each]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main class="content" id="main">
        <h1 class="title" tabIndex={-1} ref={heading}>
          {TITLES[view]}
        </h1>
        {content}
      </main>
    </div>
  );
}
