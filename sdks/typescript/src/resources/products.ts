import { toWire } from '../case.js';
import { required, type Core } from '../core.js';
import { atPage, PagePromise } from '../pagination.js';
import type { Product, ProductListParams, RequestOptions, WireQuery } from '../types.js';

export class Products {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `GET /v1/products`: await for a page, `for await` for all. */
  list(params: ProductListParams = {}, options?: RequestOptions): PagePromise<Product> {
    return new PagePromise(async (pageToken) => {
      const result = await this.#core.client.GET('/v1/products', {
        params: { query: toWire<WireQuery<'ProductService_ListProducts'>>(atPage(params, pageToken)) },
        ...this.#core.read(options),
      });
      const page = this.#core.unwrap(result);
      return { data: (page.products ?? []) as Product[], nextPageToken: page.nextPageToken };
    }, params.pageToken);
  }

  /** `GET /v1/products/{id}`, with its prices. */
  async get(id: string, options?: RequestOptions): Promise<Product> {
    const result = await this.#core.client.GET('/v1/products/{id}', {
      params: { path: { id: required('id', id) } },
      ...this.#core.read(options),
    });
    return this.#core.unwrap(result) as Product;
  }
}
