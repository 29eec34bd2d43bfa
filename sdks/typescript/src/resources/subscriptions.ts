import { toWire } from '../case.js';
import { required, type Core } from '../core.js';
import { atPage, PagePromise } from '../pagination.js';
import type {
  MutationOptions,
  RequestOptions,
  Schemas,
  Subscription,
  SubscriptionCancelParams,
  SubscriptionCreateParams,
  SubscriptionListParams,
  WireBody,
  WireQuery,
} from '../types.js';

export class Subscriptions {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `POST /v1/subscriptions`: `{ subscription: { customerId, productId, ... }, trial?, skipTrial?, promotionCode? }`. */
  async create(params: SubscriptionCreateParams, options?: MutationOptions): Promise<Subscription> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/subscriptions', {
      params: { header },
      body: toWire<Schemas['billingos.subscriptions.v1.CreateSubscriptionRequest']>(params),
      ...init,
    });
    return this.#core.unwrap(result) as Subscription;
  }

  /** `GET /v1/subscriptions/{id}`. */
  async get(id: string, options?: RequestOptions): Promise<Subscription> {
    const result = await this.#core.client.GET('/v1/subscriptions/{id}', {
      params: { path: { id: required('id', id) } },
      ...this.#core.read(options),
    });
    return this.#core.unwrap(result) as Subscription;
  }

  /** `GET /v1/subscriptions`: await for a page, `for await` for all. */
  list(params: SubscriptionListParams = {}, options?: RequestOptions): PagePromise<Subscription> {
    return new PagePromise(async (pageToken) => {
      const result = await this.#core.client.GET('/v1/subscriptions', {
        params: { query: toWire<WireQuery<'SubscriptionService_ListSubscriptions'>>(atPage(params, pageToken)) },
        ...this.#core.read(options),
      });
      const page = this.#core.unwrap(result);
      return { data: (page.subscriptions ?? []) as Subscription[], nextPageToken: page.nextPageToken };
    }, params.pageToken);
  }

  /** `POST /v1/subscriptions/{id}/cancel`: at the period's end, or `{ immediately: true }`. */
  async cancel(
    id: string,
    params: SubscriptionCancelParams = {},
    options?: MutationOptions,
  ): Promise<Subscription> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/subscriptions/{id}/cancel', {
      params: { path: { id: required('id', id) }, header },
      body: toWire<WireBody<'SubscriptionService_CancelSubscription'>>(params),
      ...init,
    });
    return this.#core.unwrap(result) as Subscription;
  }
}
