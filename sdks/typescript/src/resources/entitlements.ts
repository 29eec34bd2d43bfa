import { toWire } from '../case.js';
import type { Core } from '../core.js';
import type { Entitlement, EntitlementCheckParams, RequestOptions, WireQuery } from '../types.js';

export class Entitlements {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `GET /v1/entitlements/check`: may this customer (`customerId` or
   * `externalCustomerId`) use `feature` now? */
  async check(params: EntitlementCheckParams, options?: RequestOptions): Promise<Entitlement> {
    const result = await this.#core.client.GET('/v1/entitlements/check', {
      params: { query: toWire<WireQuery<'EntitlementService_CheckEntitlement'>>(params) },
      ...this.#core.read(options),
    });
    return this.#core.unwrap(result);
  }
}
