// The public catalog's shapes, as the gateway serves them to pages in the
// browser (protos/billingos/catalog/v1/public.proto): the pricing table reads
// them from the catalog, the checkout page from a session's offer. JSON in
// proto3's mapping with the fields' proto names; int64 amounts are strings.

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
  seat_based?: {
    tier_mode?: string;
    tiers?: SeatTier[];
    minimum_seats?: number;
    maximum_seats?: number;
  };
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
