// Where a plan's button leads: a checkout link's hosted page (`checkout-link`,
// the link's id or url; the chosen price preselected), else a merchant's own
// `checkout-url` template such as
// "https://shop.example/checkout?price={price_id}"; and/or a listener for the
// `billingos-checkout` event, which may call preventDefault() to handle the
// choice itself (no navigation then).

/** What the `billingos-checkout` event carries (its `detail`). */
export interface CheckoutDetail {
  /** The element's organization-id, as given (a slug or an id). */
  organization: string;
  productId: string;
  priceId: string;
  currency: string;
  /** "INTERVAL_MONTH", "INTERVAL_YEAR", ...; null for a one-time price. */
  interval: string | null;
  intervalCount: number | null;
}

export const CHECKOUT_EVENT = 'billingos-checkout';

const PLACEHOLDERS: Record<string, (detail: CheckoutDetail) => string> = {
  price_id: (detail) => detail.priceId,
  product_id: (detail) => detail.productId,
  organization: (detail) => detail.organization,
  currency: (detail) => detail.currency,
};

/** The template with its {placeholders} filled in (URL-encoded), resolved
 * against `base` (the page's URL); null unless it is an http(s) URL, so a
 * `javascript:` template can never run. Unknown placeholders are left as
 * they are. */
export function checkoutUrl(template: string, detail: CheckoutDetail, base: string): string | null {
  const filled = template.replace(/\{([a-z_]+)\}/g, (whole, name: string) => {
    const value = PLACEHOLDERS[name];
    return value ? encodeURIComponent(value(detail)) : whole;
  });
  let url: URL;
  try {
    url = new URL(filled, base);
  } catch {
    return null;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : null;
}

const ID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const LINK_ID = new RegExp(`^${ID}$`);
const LINK_PATH = new RegExp(`/checkout/${ID}/${ID}$`);

/** What a `checkout-link` attribute names: a checkout link's id (its page
 * is then on the table's own gateway, under the organization's id) or the
 * link's `url` as the API gave it; null for anything else. */
export type CheckoutLink = { kind: 'id'; id: string } | { kind: 'url'; url: URL };

export function parseCheckoutLink(value: string): CheckoutLink | null {
  const text = value.trim();
  if (LINK_ID.test(text)) return { kind: 'id', id: text };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (!LINK_PATH.test(url.pathname)) return null;
  url.search = '';
  url.hash = '';
  return { kind: 'url', url };
}

/** The hosted checkout page of `link` with the chosen price preselected
 * (`?price_id=`). A link given by id needs the organization's id (a slug
 * resolved first) and the gateway's root `apiBase`; null without them. */
export function linkCheckoutUrl(
  link: CheckoutLink,
  priceId: string,
  apiBase: string,
  organizationId: string | null,
): string | null {
  let url: URL;
  if (link.kind === 'url') {
    url = new URL(link.url);
  } else {
    if (organizationId === null || !LINK_ID.test(organizationId)) return null;
    url = new URL(`checkout/${organizationId}/${link.id}`, apiBase.endsWith('/') ? apiBase : `${apiBase}/`);
  }
  url.searchParams.set('price_id', priceId);
  return url.toString();
}
