// <billingos-pricing-table organization-id="acme" theme="dark">: a custom
// element with a shadow root, so it works in any page (and framework) and a
// merchant's CSS neither breaks it nor is broken by it.
//
// Attributes:
//   organization-id  the organization's slug or id (required)
//   theme            "light" (default) or "dark"
//   api-url          the BillingOS gateway to read from; default: where this
//                    script was loaded from
//   checkout-link    a checkout link (its id, or its url): a plan's button
//                    leads to its hosted page with the plan's price chosen
//   checkout-url     otherwise, where a plan's button leads: a URL template
//                    with {price_id}, {product_id}, {organization}, {currency}
//   locale           for amounts (default: the browser's)
//
// A plan's button dispatches `billingos-checkout` (bubbles, composed,
// cancelable; detail: CheckoutDetail). Unless a listener calls
// preventDefault(), the browser then goes to the link's page, or the
// checkout-url, if any. A link given by id is on this gateway under the
// organization's id: a slug in organization-id is resolved to it once
// (GET /v1/public/organizations/{slug}).

import { render } from 'preact';
import { fetchOrganization, isCanonicalId } from '../shared/organization.js';
import type { PlanOption } from '../shared/plans.js';
import {
  CHECKOUT_EVENT,
  checkoutUrl,
  linkCheckoutUrl,
  parseCheckoutLink,
  type CheckoutDetail,
} from './checkout.js';
import styles from './styles.css?inline';
import { PricingTable, type Theme } from './view.js';

export const TAG = 'billingos-pricing-table';

const ATTRIBUTES = ['organization-id', 'theme', 'api-url', 'checkout-link', 'checkout-url', 'locale'] as const;

export function defineElement(defaultApiBase: string): void {
  if (customElements.get(TAG)) return; // the script included twice

  class BillingOSPricingTable extends HTMLElement {
    static readonly observedAttributes = ATTRIBUTES;
    readonly #mount: HTMLElement;
    // The organization's id by "gateway organization-id" (a slug resolved once).
    #organizationIds = new Map<string, Promise<string | null>>();

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

    #apiBase(): string {
      return this.getAttribute('api-url') || defaultApiBase;
    }

    /** The organization's id: organization-id itself when it is one, else
     * the id its slug names (null when that cannot be read). */
    #organizationId(): Promise<string | null> {
      const given = (this.getAttribute('organization-id') ?? '').trim();
      if (isCanonicalId(given)) return Promise.resolve(given);
      if (!given) return Promise.resolve(null);
      const key = `${this.#apiBase()} ${given}`;
      let found = this.#organizationIds.get(key);
      if (found === undefined) {
        found = fetchOrganization(this.#apiBase(), given).then((organization) => organization?.id ?? null);
        this.#organizationIds.set(key, found);
      }
      return found;
    }

    #render(): void {
      const link = parseCheckoutLink(this.getAttribute('checkout-link') ?? '');
      // Resolved ahead of a click, so the button answers at once.
      if (link?.kind === 'id') void this.#organizationId();
      const theme: Theme = this.getAttribute('theme') === 'dark' ? 'dark' : 'light';
      render(
        <PricingTable
          apiBase={this.#apiBase()}
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
      const link = parseCheckoutLink(this.getAttribute('checkout-link') ?? '');
      if (link !== null) {
        const resolving = link.kind === 'id' ? this.#organizationId() : Promise.resolve(null);
        void resolving.then((organizationId) => {
          const url = linkCheckoutUrl(link, detail.priceId, this.#apiBase(), organizationId);
          if (url !== null) window.location.assign(url);
          else console.warn(`${TAG}: the organization's id is unknown, so checkout-link cannot be followed`);
        });
        return;
      }
      const template = this.getAttribute('checkout-url');
      if (!template) return;
      const url = checkoutUrl(template, detail, document.baseURI);
      if (url !== null) window.location.assign(url);
    }
  }

  customElements.define(TAG, BillingOSPricingTable);
}
