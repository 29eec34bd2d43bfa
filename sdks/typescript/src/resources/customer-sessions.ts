import { toWire } from '../case.js';
import type { Core } from '../core.js';
import type {
  CustomerSession,
  CustomerSessionCreateParams,
  MutationOptions,
  Schemas,
} from '../types.js';

export class CustomerSessions {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `POST /v1/customer-sessions`: a short-lived token (`bcs_...`, in `token`,
   * shown only here) for the customer portal routes. */
  async create(
    params: CustomerSessionCreateParams,
    options?: MutationOptions,
  ): Promise<CustomerSession> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/customer-sessions', {
      params: { header },
      body: toWire<Schemas['billingos.customers.v1.CreateCustomerSessionRequest']>(params),
      ...init,
    });
    return this.#core.unwrap(result) as CustomerSession;
  }
}
