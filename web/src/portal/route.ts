// Which portal the page's URL names, and what its fragment carries. The
// gateway serves the page at two paths (under its root, which may sit below
// a path prefix):
//
//   portal/{organization id}            the portal (a merchant's app may add
//                                       #session=bcs_… : a session it made)
//   portal/{organization id}/sign-in    a sign-in link's landing (#token=bcm_…)
//
// Credentials travel in the fragment, which browsers send to no server and
// put in no Referer header; the page reads it once and removes it from the
// address bar (history.replaceState), so it is not left in the history, a
// bookmark or a shared screen.

export interface PortalRoute {
  organizationId: string;
  /** The sign-in link's landing page. */
  signIn: boolean;
}

export interface Fragment {
  /** A sign-in link's one-time token ("bcm_…"). */
  signInToken: string | null;
  /** A customer session's token ("bcs_…") a merchant handed over. */
  sessionToken: string | null;
}

const ID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
// The gateway's routes are as strict: anything else never reaches the page.
const PORTAL = new RegExp(`^portal/(${ID})(/sign-in)?$`);
// Tokens as the services make them: a prefix and URL-safe base64.
const SIGN_IN_TOKEN = /^bcm_[A-Za-z0-9_-]{16,200}$/;
const SESSION_TOKEN = /^bcs_[A-Za-z0-9_-]{16,200}$/;

/** The route of `url` under the gateway root `base`; null for any other path. */
export function routeOf(url: URL, base: URL): PortalRoute | null {
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return null;
  const match = PORTAL.exec(url.pathname.slice(base.pathname.length));
  if (!match) return null;
  return { organizationId: match[1] ?? '', signIn: match[2] !== undefined };
}

/** The tokens in a URL's fragment ("#token=bcm_…", "#session=bcs_…"); a
 * value that is not shaped like a token is ignored. */
export function fragmentOf(hash: string): Fragment {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const token = params.get('token') ?? '';
  const session = params.get('session') ?? '';
  return {
    signInToken: SIGN_IN_TOKEN.test(token) ? token : null,
    sessionToken: SESSION_TOKEN.test(session) ? session : null,
  };
}

/** The portal's own path under the gateway root (no fragment, no sign-in
 * segment): what the address bar shows once a token has been read. The
 * query (the view shown) is kept. */
export function portalPath(base: URL, organizationId: string, search = ''): string {
  return `${base.pathname}portal/${organizationId}${search}`;
}

export type View = 'subscriptions' | 'orders' | 'payment-methods' | 'benefits' | 'usage';

export const VIEWS: readonly View[] = ['subscriptions', 'orders', 'payment-methods', 'benefits', 'usage'];

/** The view a query names (`?view=orders`); the subscriptions otherwise. */
export function viewOf(search: string): View {
  const named = new URLSearchParams(search).get('view') ?? '';
  return (VIEWS as readonly string[]).includes(named) ? (named as View) : 'subscriptions';
}

/** The query of a view: none for the first. */
export function searchOf(view: View): string {
  return view === 'subscriptions' ? '' : `?view=${view}`;
}
