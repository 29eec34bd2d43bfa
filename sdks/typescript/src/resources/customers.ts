import { snakeCase, toWire } from '../case.js';
import { required, type Core } from '../core.js';
import { atPage, PagePromise } from '../pagination.js';
import type {
  Customer,
  CustomerCreateParams,
  CustomerListParams,
  CustomerUpdateOptions,
  CustomerUpdateParams,
  MutationOptions,
  RequestOptions,
  Schemas,
  WireQuery,
} from '../types.js';

type WireCustomer = Schemas['billingos.customers.v1.Customer'];

export class Customers {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `POST /v1/customers`. `organizationId`, if given, must be the key's own. */
  async create(params: CustomerCreateParams, options?: MutationOptions): Promise<Customer> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/customers', {
      params: { header },
      body: toWire<WireCustomer>(params),
      ...init,
    });
    return this.#core.unwrap(result) as Customer;
  }

  /** `GET /v1/customers/{id}`. */
  async get(id: string, options?: RequestOptions): Promise<Customer> {
    const result = await this.#core.client.GET('/v1/customers/{id}', {
      params: { path: { id: required('id', id) } },
      ...this.#core.read(options),
    });
    return this.#core.unwrap(result) as Customer;
  }

  /** `GET /v1/customers/external/{external_id}`: by your own id. */
  async getByExternalId(externalId: string, options?: RequestOptions): Promise<Customer> {
    const result = await this.#core.client.GET('/v1/customers/external/{external_id}', {
      params: { path: { external_id: required('externalId', externalId) } },
      ...this.#core.read(options),
    });
    return this.#core.unwrap(result) as Customer;
  }

  /** `GET /v1/customers`, newest first: await for a page, `for await` for all. */
  list(params: CustomerListParams = {}, options?: RequestOptions): PagePromise<Customer> {
    return new PagePromise(async (pageToken) => {
      const result = await this.#core.client.GET('/v1/customers', {
        params: { query: toWire<WireQuery<'CustomerService_ListCustomers'>>(atPage(params, pageToken)) },
        ...this.#core.read(options),
      });
      const page = this.#core.unwrap(result);
      return { data: (page.customers ?? []) as Customer[], nextPageToken: page.nextPageToken };
    }, params.pageToken);
  }

  /** `PATCH /v1/customers/{id}`: changes the fields given (or those named in
   * `options.updateMask`). */
  async update(
    id: string,
    params: CustomerUpdateParams,
    options?: CustomerUpdateOptions,
  ): Promise<Customer> {
    const mask =
      options?.updateMask ??
      Object.entries(params)
        .filter(([, value]) => value !== undefined)
        .map(([key]) => key);
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.PATCH('/v1/customers/{id}', {
      params: {
        path: { id: required('id', id) },
        query: mask.length ? { update_mask: mask.map(snakeCase).join(',') } : {},
        header,
      },
      // email is required on create only; an update sends just what changes.
      body: toWire(params) as WireCustomer,
      ...init,
    });
    return this.#core.unwrap(result) as Customer;
  }

  /** `DELETE /v1/customers/{id}`: the external id becomes free again. */
  async delete(id: string, options?: MutationOptions): Promise<Customer> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.DELETE('/v1/customers/{id}', {
      params: { path: { id: required('id', id) }, header },
      ...init,
    });
    return this.#core.unwrap(result) as Customer;
  }
}
