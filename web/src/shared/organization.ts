// An organization as anyone may read it: GET /v1/public/organizations/{organization}
// (its id or slug, no API key) answers its name, slug and branding. Pages
// use it for the merchant's name, logo and colour (checkout) and to turn a
// slug into the id a checkout link's URL holds (the pricing table). Where the
// gateway does not serve it (an older one: 404), pages go on without it.

export interface Branding {
  /** An https URL, or empty. */
  logo_url?: string;
  /** "#RRGGBB", or empty. */
  brand_color?: string;
  support_email?: string;
}

export interface PublicOrganization {
  id: string;
  name?: string;
  slug?: string;
  branding?: Branding;
}

const CANONICAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `value` is an id as the API writes them (a lower-case UUID). */
export function isCanonicalId(value: string): boolean {
  return CANONICAL_ID.test(value);
}

/** The URL of the organization's public record under `base` (the gateway's root). */
export function organizationUrl(base: string, organization: string): string {
  return new URL(
    `v1/public/organizations/${encodeURIComponent(organization)}`,
    base.endsWith('/') ? base : `${base}/`,
  ).toString();
}

/** The organization, or null when it cannot be read (unknown, or a gateway
 * without the call, or the network): nothing a page cannot do without. A
 * CORS "simple" GET, so a merchant's page on any origin may make it. */
export async function fetchOrganization(
  base: string,
  organization: string,
  signal?: AbortSignal,
): Promise<PublicOrganization | null> {
  try {
    const init: RequestInit = { credentials: 'omit', mode: 'cors' };
    if (signal) init.signal = signal;
    const response = await fetch(organizationUrl(base, organization), init);
    if (!response.ok) return null;
    const body = (await response.json()) as unknown;
    if (typeof body !== 'object' || body === null) return null;
    const found = body as PublicOrganization;
    return typeof found.id === 'string' && isCanonicalId(found.id) ? found : null;
  } catch {
    return null;
  }
}
