// Where the page keeps the customer session's token between reloads: the
// tab's sessionStorage, one entry per organization. Not localStorage, which
// outlives the tab and the browser (a token left on a shared computer for
// anyone who opens the portal next), and not a cookie, which the browser
// would attach to requests by itself (the API takes the token only as an
// Authorization header, so no other site can make the customer's browser
// act for them) and which the gateway would have to set. A page script can
// read sessionStorage, so the page's Content-Security-Policy lets no other
// script run; the token also expires by itself (an hour for a sign-in link).

/** The part of the Web Storage API used here (sessionStorage, or a fake). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface StoredSession {
  token: string;
  /** RFC 3339; empty when the page was not told (a merchant's #session=). */
  expireTime: string;
}

const PREFIX = 'billingos.portal.session.';

function keyOf(organizationId: string): string {
  return PREFIX + organizationId;
}

/** The organization's session in `store`, unless it has expired (removed
 * then); null when there is none, or the store cannot be read (storage
 * disabled: the customer signs in on every load). */
export function loadSession(store: KeyValueStore | null, organizationId: string, now: number): StoredSession | null {
  if (store === null) return null;
  let raw: string | null;
  try {
    raw = store.getItem(keyOf(organizationId));
  } catch {
    return null;
  }
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = null;
  }
  const found = parsed as Partial<StoredSession> | null;
  const token = typeof found?.token === 'string' ? found.token : '';
  const expireTime = typeof found?.expireTime === 'string' ? found.expireTime : '';
  const expires = expireTime ? Date.parse(expireTime) : Number.NaN;
  if (!token.startsWith('bcs_') || (!Number.isNaN(expires) && expires <= now)) {
    clearSession(store, organizationId);
    return null;
  }
  return { token, expireTime };
}

export function saveSession(store: KeyValueStore | null, organizationId: string, session: StoredSession): void {
  try {
    store?.setItem(keyOf(organizationId), JSON.stringify(session));
  } catch {
    // Storage full or disabled: the session lasts as long as the page.
  }
}

export function clearSession(store: KeyValueStore | null, organizationId: string): void {
  try {
    store?.removeItem(keyOf(organizationId));
  } catch {
    // Nothing stored, then.
  }
}

/** The tab's sessionStorage, or null where the browser refuses it. */
export function tabStorage(): KeyValueStore | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}
