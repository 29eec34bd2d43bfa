// The public catalog as the gateway serves it to a pricing table:
// GET /v1/public/organizations/{organization}/products, no API key
// (protos/billingos/catalog/v1/public.proto). JSON in proto3's mapping with
// the fields' proto names; int64 amounts are strings.

export type Interval =
  | 'INTERVAL_UNSPECIFIED'
  | 'INTERVAL_DAY'
  | 'INTERVAL_WEEK'
  | 'INTERVAL_MONTH'
  | 'INTERVAL_YEAR';

export interface Period {
  interval: Interval;
  count?: number;
}

export interface SeatTier {
  from_seats?: number;
  to_seats?: number;
  amount_per_seat_minor?: string;
}

export interface UsageTier {
  up_to?: string;
  unit_amount?: string;
  flat_fee_minor?: string;
}

export interface PercentageTier {
  up_to?: string;
  rate?: string;
  flat_fee_minor?: string;
}

/** A price that is not archived. Exactly one of the amount fields is set. */
export interface PublicPrice {
  id: string;
  product_id?: string;
  currency: string;
  /** The price's billing period (the product's unless the price has its own). */
  recurring?: Period;
  fixed?: { amount_minor?: string };
  free?: Record<string, never>;
  custom?: {
    minimum_amount_minor?: string;
    maximum_amount_minor?: string;
    preset_amount_minor?: string;
  };
  seat_based?: { tier_mode?: string; tiers?: SeatTier[]; minimum_seats?: number };
  metered_unit?: { unit_amount?: string };
  metered_tiers?: { tier_mode?: string; tiers?: UsageTier[] };
  metered_package?: { package_size?: string; amount_per_package?: string };
  metered_percentage?: { rate?: string; fixed_fee_per_event?: string };
  metered_graduated_percentage?: { tiers?: PercentageTier[] };
}

/** A benefit as a later public catalog may carry it (not served yet). */
export interface PublicBenefit {
  description?: string;
  name?: string;
}

export interface PublicProduct {
  id: string;
  name: string;
  description?: string;
  /** Unset for a one-time product. */
  recurring?: Period;
  trial?: Period;
  public_metadata?: Record<string, unknown>;
  prices?: PublicPrice[];
  benefits?: (PublicBenefit | string)[];
}

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

/** The `google.rpc.ErrorInfo` reason of a BillingOS error body, if any. */
async function errorReason(response: Response): Promise<string | null> {
  try {
    const body = (await response.json()) as { details?: { '@type'?: string; reason?: string }[] };
    const info = body.details?.find((detail) => detail['@type']?.endsWith('google.rpc.ErrorInfo'));
    return info?.reason ?? null;
  } catch {
    return null;
  }
}

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
    if (response.status === 404 && (await errorReason(response)) === UNKNOWN_ORGANIZATION) {
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
