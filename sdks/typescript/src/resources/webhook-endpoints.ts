import { snakeCase, toWire } from '../case.js';
import { required, type Core } from '../core.js';
import { atPage, PagePromise } from '../pagination.js';
import type {
  MutationOptions,
  RequestOptions,
  Schemas,
  WebhookDelivery,
  WebhookDeliveryListParams,
  WebhookEndpoint,
  WebhookEndpointCreateParams,
  WebhookEndpointListParams,
  WebhookEndpointRotateSecretParams,
  WebhookEndpointUpdateOptions,
  WebhookEndpointUpdateParams,
  WireBody,
  WireQuery,
} from '../types.js';

type WireWebhookEndpoint = Schemas['billingos.customers.v1.WebhookEndpoint'];

/** The URLs that receive the organization's events, signed the Standard
 * Webhooks way (verify them with the `standardwebhooks` package), their
 * signing secrets, and what was delivered to them. */
export class WebhookEndpoints {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `POST /v1/webhook-endpoints`: the answer's `secret` (`whsec_...`) is
   * shown only here (and by `rotateSecret`). */
  async create(params: WebhookEndpointCreateParams, options?: MutationOptions): Promise<WebhookEndpoint> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/webhook-endpoints', {
      params: { header },
      body: toWire<WireWebhookEndpoint>(params),
      ...init,
    });
    return this.#core.unwrap(result) as WebhookEndpoint;
  }

  /** `GET /v1/webhook-endpoints/{id}`, without the secret. */
  async get(id: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    const result = await this.#core.client.GET('/v1/webhook-endpoints/{id}', {
      params: { path: { id: required('id', id) } },
      ...this.#core.read(options),
    });
    return this.#core.unwrap(result) as WebhookEndpoint;
  }

  /** `GET /v1/webhook-endpoints`, newest first, without secrets: await for a
   * page, `for await` for all. */
  list(params: WebhookEndpointListParams = {}, options?: RequestOptions): PagePromise<WebhookEndpoint> {
    return new PagePromise(async (pageToken) => {
      const result = await this.#core.client.GET('/v1/webhook-endpoints', {
        params: {
          query: toWire<WireQuery<'WebhookEndpointService_ListWebhookEndpoints'>>(atPage(params, pageToken)),
        },
        ...this.#core.read(options),
      });
      const page = this.#core.unwrap(result);
      return { data: (page.webhookEndpoints ?? []) as WebhookEndpoint[], nextPageToken: page.nextPageToken };
    }, params.pageToken);
  }

  /** `PATCH /v1/webhook-endpoints/{id}`: changes the fields given (or those
   * named in `options.updateMask`); `{ disabled: true }` stops posting,
   * `{ disabled: false }` resumes. */
  async update(
    id: string,
    params: WebhookEndpointUpdateParams,
    options?: WebhookEndpointUpdateOptions,
  ): Promise<WebhookEndpoint> {
    const mask =
      options?.updateMask ??
      Object.entries(params)
        .filter(([, value]) => value !== undefined)
        .map(([key]) => key);
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.PATCH('/v1/webhook-endpoints/{id}', {
      params: {
        path: { id: required('id', id) },
        query: mask.length ? { update_mask: mask.map(snakeCase).join(',') } : {},
        header,
      },
      // url is required on create only; an update sends just what changes.
      body: toWire(params) as WireWebhookEndpoint,
      ...init,
    });
    return this.#core.unwrap(result) as WebhookEndpoint;
  }

  /** `DELETE /v1/webhook-endpoints/{id}`: nothing more is posted to it; its
   * deliveries stay listable. */
  async delete(id: string, options?: MutationOptions): Promise<WebhookEndpoint> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.DELETE('/v1/webhook-endpoints/{id}', {
      params: { path: { id: required('id', id) }, header },
      ...init,
    });
    return this.#core.unwrap(result) as WebhookEndpoint;
  }

  /** `POST /v1/webhook-endpoints/{id}:rotate-secret`: a new `secret`, shown
   * only here. The replaced one keeps signing beside it for `graceSeconds`
   * (unset or 0: 24 hours; at most 604800, 7 days). */
  async rotateSecret(
    id: string,
    params: WebhookEndpointRotateSecretParams = {},
    options?: MutationOptions,
  ): Promise<WebhookEndpoint> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/webhook-endpoints/{id}:rotate-secret', {
      params: { path: { id: required('id', id) }, header },
      body: toWire<WireBody<'WebhookEndpointService_RotateWebhookEndpointSecret'>>(params),
      ...init,
    });
    return this.#core.unwrap(result) as WebhookEndpoint;
  }

  /** `GET /v1/webhook-endpoints/{endpointId}/deliveries`, newest first: await
   * for a page, `for await` for all. */
  listDeliveries(
    endpointId: string,
    params: WebhookDeliveryListParams = {},
    options?: RequestOptions,
  ): PagePromise<WebhookDelivery> {
    const endpoint_id = required('endpointId', endpointId);
    return new PagePromise(async (pageToken) => {
      const result = await this.#core.client.GET('/v1/webhook-endpoints/{endpoint_id}/deliveries', {
        params: {
          path: { endpoint_id },
          query: toWire<WireQuery<'WebhookEndpointService_ListWebhookDeliveries'>>(atPage(params, pageToken)),
        },
        ...this.#core.read(options),
      });
      const page = this.#core.unwrap(result);
      return { data: (page.webhookDeliveries ?? []) as WebhookDelivery[], nextPageToken: page.nextPageToken };
    }, params.pageToken);
  }

  /** `POST /v1/webhook-endpoints/{endpointId}/deliveries/{id}:redeliver`:
   * posts the delivery again, whatever its status (a new series of attempts,
   * the same `webhook-id` and body). */
  async redeliver(endpointId: string, id: string, options?: MutationOptions): Promise<WebhookDelivery> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST(
      '/v1/webhook-endpoints/{endpoint_id}/deliveries/{id}:redeliver',
      {
        params: {
          path: { endpoint_id: required('endpointId', endpointId), id: required('id', id) },
          header,
        },
        body: {},
        ...init,
      },
    );
    return this.#core.unwrap(result) as WebhookDelivery;
  }
}
