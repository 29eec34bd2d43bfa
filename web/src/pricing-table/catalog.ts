// The public catalog as the gateway serves it to a pricing table:
// GET /v1/public/organizations/{organization}/products, no API key
// (protos/billingos/catalog/v1/public.proto; the shapes: shared/catalog.ts).

import type { PublicProduct } from '../shared/catalog.js';
import { statusOfResponse } from '../shared/status.js';

interface ListPublicProductsResponse {
  products?: PublicProduct[];
  next_page_token?: string;
}

/** Why the catalog could not be read. */
export type CatalogError =
  | { kind: 'unknown-organization' }
  | { kind: 'unavailable'; status: number | null };

export class CatalogUnavailable extends Error {
  constructor(readonly reason: CatalogError) {
    super(reason.kind);
  }
}

// The catalog's reason for an organization it does not know; any other 404
// (a wrong api-url) is a failure to load, not a statement about the organization.
const UNKNOWN_ORGANIZATION = 'ORGANIZATION_NOT_FOUND';

// A pricing table with more products than this is not one.
const MAX_PAGES = 5;
const PAGE_SIZE = 100;

/** The URL of one page of the organization's public products, under `base`
 * (the gateway's root: "https://billing.example/"). */
export function productsUrl(base: string, organization: string, pageToken = ''): string {
  const url = new URL(
    `v1/public/organizations/${encodeURIComponent(organization)}/products`,
    base.endsWith('/') ? base : `${base}/`,
  );
  url.searchParams.set('page_size', String(PAGE_SIZE));
  if (pageToken) url.searchParams.set('page_token', pageToken);
  return url.toString();
}

/** Every public product of the organization (a few pages at most). The
 * request is a CORS "simple" GET: no custom header, no credentials, so a
 * merchant's page on any origin reads it without a preflight. */
export async function fetchProducts(
  base: string,
  organization: string,
  signal?: AbortSignal,
): Promise<PublicProduct[]> {
  const products: PublicProduct[] = [];
  let token = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    let response: Response;
    try {
      const init: RequestInit = { credentials: 'omit', mode: 'cors' };
      if (signal) init.signal = signal;
      response = await fetch(productsUrl(base, organization, token), init);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new CatalogUnavailable({ kind: 'unavailable', status: null });
    }
    if (response.status === 404 && (await statusOfResponse(response)).reason === UNKNOWN_ORGANIZATION) {
      throw new CatalogUnavailable({ kind: 'unknown-organization' });
    }
    if (!response.ok) throw new CatalogUnavailable({ kind: 'unavailable', status: response.status });
    const body = (await response.json()) as ListPublicProductsResponse;
    products.push(...(body.products ?? []));
    token = body.next_page_token ?? '';
    if (!token) break;
  }
  return products;
}
