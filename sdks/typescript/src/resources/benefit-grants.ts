import { toWire } from '../case.js';
import type { Core } from '../core.js';
import { atPage, PagePromise } from '../pagination.js';
import type { BenefitGrant, BenefitGrantListParams, RequestOptions, WireQuery } from '../types.js';

export class BenefitGrants {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `GET /v1/benefit-grants`: await for a page, `for await` for all. */
  list(params: BenefitGrantListParams = {}, options?: RequestOptions): PagePromise<BenefitGrant> {
    return new PagePromise(async (pageToken) => {
      const result = await this.#core.client.GET('/v1/benefit-grants', {
        params: { query: toWire<WireQuery<'BenefitGrantService_ListBenefitGrants'>>(atPage(params, pageToken)) },
        ...this.#core.read(options),
      });
      const page = this.#core.unwrap(result);
      return { data: (page.benefitGrants ?? []) as BenefitGrant[], nextPageToken: page.nextPageToken };
    }, params.pageToken);
  }
}
