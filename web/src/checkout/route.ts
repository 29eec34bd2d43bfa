// Which checkout the page's URL names. The gateway serves the page at two
// kinds of path (under its root, which may sit below a path prefix):
//
//   checkout/{organization id}/{checkout link id}[?price_id=...]   a link's URL
//   checkout/session/{client secret}                               a session's URL
//
// A link's page opens a new session, then replaces its URL with the
// session's, so a reload (or the back button) finds the same session.

export type CheckoutRoute =
  | { kind: 'link'; organizationId: string; linkId: string; priceId: string | null }
  | { kind: 'session'; secret: string };

const ID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const LINK = new RegExp(`^checkout/(${ID})/(${ID})$`);
// "bcx_" and 32 random bytes in url-safe base64 (the gateway's route is as strict).
const SESSION = /^checkout\/session\/(bcx_[A-Za-z0-9_-]{43})$/;
const PRICE_ID = new RegExp(`^${ID}$`);

/** The route of `url` under the gateway root `base`; null for any other path. */
export function routeOf(url: URL, base: URL): CheckoutRoute | null {
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return null;
  const path = url.pathname.slice(base.pathname.length);
  const session = SESSION.exec(path);
  if (session) return { kind: 'session', secret: session[1] ?? '' };
  const link = LINK.exec(path);
  if (!link) return null;
  const price = url.searchParams.get('price_id');
  return {
    kind: 'link',
    organizationId: link[1] ?? '',
    linkId: link[2] ?? '',
    priceId: price !== null && PRICE_ID.test(price) ? price : null,
  };
}

/** The session's own page, under the gateway root: what the address bar
 * shows once a link's page has opened one. */
export function sessionPath(base: URL, secret: string): string {
  return `${base.pathname}checkout/session/${secret}`;
}
