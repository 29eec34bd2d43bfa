// @billingos/pricing-table: <PricingTable> for React, a thin typed wrapper
// around the <billingos-pricing-table> custom element that a BillingOS
// gateway serves at /pricing-table.js (web/ in the BillingOS repository).
//
// The element itself is loaded from the merchant's own BillingOS gateway
// (`baseUrl`), never from a CDN, so the table always matches the API it
// reads. Server rendering emits the element's tag with its attributes; the
// browser upgrades it once the script has run.

import { createElement, useEffect, useRef, type CSSProperties, type ReactElement } from 'react';

export const TAG = 'billingos-pricing-table';
export const CHECKOUT_EVENT = 'billingos-checkout';
const SCRIPT = 'pricing-table.js';

/** What a plan's button carries (the `billingos-checkout` event's detail). */
export interface CheckoutDetail {
  /** The organization-id given (a slug or an id). */
  organization: string;
  productId: string;
  priceId: string;
  currency: string;
  /** "INTERVAL_MONTH", "INTERVAL_YEAR", ...; null for a one-time price. */
  interval: string | null;
  intervalCount: number | null;
}

export interface PricingTableProps {
  /** The organization's slug or id. */
  organizationId: string;
  theme?: 'light' | 'dark';
  /** Where a plan's button leads: a URL template with {price_id},
   * {product_id}, {organization} and {currency}. */
  checkoutUrl?: string;
  /** Called when a plan is chosen, before any navigation to `checkoutUrl`;
   * `event.preventDefault()` keeps the page where it is. */
  onCheckout?: (detail: CheckoutDetail, event: CustomEvent<CheckoutDetail>) => void;
  /** The BillingOS gateway ("https://billing.example.com"): the element's
   * script is loaded from it and the catalog read from it. Without it the
   * page loads `<gateway>/pricing-table.js` itself. */
  baseUrl?: string;
  /** For amounts (default: the browser's). */
  locale?: string;
  id?: string;
  className?: string;
  style?: CSSProperties;
}

function scriptUrl(baseUrl: string): string {
  return new URL(SCRIPT, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
}

/** Loads the element's script from the gateway at `baseUrl` once per page
 * (resolves at once where it is already defined, or outside a browser). */
export function loadPricingTable(baseUrl: string): Promise<void> {
  if (typeof document === 'undefined' || typeof customElements === 'undefined') {
    return Promise.resolve();
  }
  if (customElements.get(TAG)) return Promise.resolve();
  const src = scriptUrl(baseUrl);
  const defined = customElements.whenDefined(TAG).then(() => undefined);
  const present = Array.from(document.querySelectorAll('script')).some((script) => script.src === src);
  if (present) return defined;
  return new Promise<void>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.addEventListener('error', () => reject(new Error(`could not load ${src}`)));
    document.head.append(script);
    defined.then(resolve, reject);
  });
}

/** `<billingos-pricing-table>` with typed props. */
export function PricingTable(props: PricingTableProps): ReactElement {
  const { organizationId, theme, checkoutUrl, onCheckout, baseUrl, locale, id, className, style } =
    props;
  const element = useRef<HTMLElement>(null);
  // The latest handler, without rebinding the listener on every render.
  const handler = useRef(onCheckout);
  handler.current = onCheckout;

  useEffect(() => {
    if (baseUrl) loadPricingTable(baseUrl).catch(() => undefined); // the element shows nothing
  }, [baseUrl]);

  useEffect(() => {
    const target = element.current;
    if (!target) return undefined;
    const listener = (event: Event): void => {
      const chosen = event as CustomEvent<CheckoutDetail>;
      handler.current?.(chosen.detail, chosen);
    };
    target.addEventListener(CHECKOUT_EVENT, listener);
    return () => target.removeEventListener(CHECKOUT_EVENT, listener);
  }, []);

  return createElement(TAG, {
    ref: element,
    id,
    className,
    style,
    'organization-id': organizationId,
    theme,
    'checkout-url': checkoutUrl,
    'api-url': baseUrl,
    locale,
  });
}
