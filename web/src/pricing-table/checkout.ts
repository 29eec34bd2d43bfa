// Where a plan's button leads. Until checkout links exist (issue 15) the
// merchant says it: a `checkout-url` template such as
// "https://shop.example/checkout?price={price_id}", and/or a listener for the
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
