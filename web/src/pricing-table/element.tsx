// <billingos-pricing-table organization-id="acme" theme="dark">: a custom
// element with a shadow root, so it works in any page (and framework) and a
// merchant's CSS neither breaks it nor is broken by it.
//
// Attributes:
//   organization-id  the organization's slug or id (required)
//   theme            "light" (default) or "dark"
//   api-url          the BillingOS gateway to read from; default: where this
//                    script was loaded from
//   checkout-url     where a plan's button leads: a URL template with
//                    {price_id}, {product_id}, {organization}, {currency}
//   locale           for amounts (default: the browser's)
//
// A plan's button dispatches `billingos-checkout` (bubbles, composed,
// cancelable; detail: CheckoutDetail). Unless a listener calls
// preventDefault(), the browser then goes to the checkout-url, if any.

import { render } from 'preact';
import { CHECKOUT_EVENT, checkoutUrl, type CheckoutDetail } from './checkout.js';
import type { PlanOption } from './plans.js';
import styles from './styles.css?inline';
import { PricingTable, type Theme } from './view.js';

export const TAG = 'billingos-pricing-table';

const ATTRIBUTES = ['organization-id', 'theme', 'api-url', 'checkout-url', 'locale'] as const;

export function defineElement(defaultApiBase: string): void {
  if (customElements.get(TAG)) return; // the script included twice

  class BillingOSPricingTable extends HTMLElement {
    static readonly observedAttributes = ATTRIBUTES;
    readonly #mount: HTMLElement;

    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      const style = document.createElement('style');
      style.textContent = styles;
      this.#mount = document.createElement('div');
      root.append(style, this.#mount);
    }

    connectedCallback(): void {
      this.#render();
    }

    disconnectedCallback(): void {
      render(null, this.#mount); // ends the component, and its pending request
    }

    attributeChangedCallback(): void {
      if (this.isConnected) this.#render();
    }

    #render(): void {
      const theme: Theme = this.getAttribute('theme') === 'dark' ? 'dark' : 'light';
      render(
        <PricingTable
          apiBase={this.getAttribute('api-url') || defaultApiBase}
          organization={this.getAttribute('organization-id') ?? ''}
          theme={theme}
          locale={this.getAttribute('locale') || undefined}
          onChoose={(option) => this.#choose(option)}
        />,
        this.#mount,
      );
    }

    #choose(option: PlanOption): void {
      const detail: CheckoutDetail = {
        organization: this.getAttribute('organization-id') ?? '',
        productId: option.productId,
        priceId: option.priceId,
        currency: option.currency,
        interval: option.period?.interval ?? null,
        intervalCount: option.period ? (option.period.count ?? 1) : null,
      };
      const event = new CustomEvent<CheckoutDetail>(CHECKOUT_EVENT, {
        detail,
        bubbles: true,
        composed: true,
        cancelable: true,
      });
      if (!this.dispatchEvent(event)) return; // a listener handles it
      const template = this.getAttribute('checkout-url');
      if (!template) return;
      const url = checkoutUrl(template, detail, document.baseURI);
      if (url !== null) window.location.assign(url);
    }
  }

  customElements.define(TAG, BillingOSPricingTable);
}
