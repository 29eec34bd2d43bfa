// The prices a session offers, as the customer chooses among them: a
// monthly/yearly toggle when some product has both, then one option per
// product (and currency) of the period chosen, in the link's order, with the
// pricing table's own wording (shared/plans.ts). Seats for a seat-based
// price, within its minimum and maximum.

import type { PublicPrice, PublicProduct } from '../shared/catalog.js';
import { availableCycles, cycleOf, periodOf, planFor, type Cycle, type Plan } from '../shared/plans.js';

export interface Offer {
  /** The toggle's choices; fewer than two: no toggle. */
  cycles: Cycle[];
  /** The plans of the cycle shown (each with its options). */
  plans: Plan[];
}

/** The offer shown for `cycle` (null: the products have neither). */
export function offerFor(products: readonly PublicProduct[], cycle: Cycle | null, locale?: string): Offer {
  const plans = products.map((product) => planFor(product, cycle, locale)).filter((plan) => plan !== null);
  return { cycles: availableCycles(products), plans };
}

export interface Located {
  product: PublicProduct;
  price: PublicPrice;
}

/** The product and price of `priceId` among the offered products. */
export function locate(products: readonly PublicProduct[], priceId: string | undefined): Located | null {
  for (const product of products) {
    for (const price of product.prices ?? []) {
      if (price.id === priceId) return { product, price };
    }
  }
  return null;
}

/** The cycle a price is billed in (null: neither monthly nor yearly). */
export function cycleOfPrice(products: readonly PublicProduct[], priceId: string | undefined): Cycle | null {
  const found = locate(products, priceId);
  return found === null ? null : cycleOf(periodOf(found.price, found.product));
}

/** The price to switch to when the customer moves the toggle to `cycle`:
 * the same product's option of that cycle (same currency first), else the
 * first option shown; null when nothing changes. */
export function priceForCycle(
  products: readonly PublicProduct[],
  currentPriceId: string | undefined,
  cycle: Cycle,
  locale?: string,
): string | null {
  const { plans } = offerFor(products, cycle, locale);
  const current = locate(products, currentPriceId);
  const plan = plans.find((candidate) => candidate.productId === current?.product.id) ?? plans[0];
  if (!plan) return null;
  const options = plan.options;
  const option = options.find((o) => o.currency === current?.price.currency) ?? options[0];
  if (!option || option.priceId === currentPriceId) return null;
  return option.priceId;
}

export interface SeatRange {
  min: number;
  /** null: no maximum. */
  max: number | null;
}

/** The seats a seat-based price allows; null for any other price. */
export function seatRange(price: PublicPrice | undefined): SeatRange | null {
  const seats = price?.seat_based;
  if (!seats) return null;
  const min = Math.max(1, seats.minimum_seats ?? 1);
  const max = seats.maximum_seats !== undefined && seats.maximum_seats > 0 ? seats.maximum_seats : null;
  return { min, max };
}

/** Seats as typed, checked against the range: the number, or why not. */
export function parseSeats(text: string, range: SeatRange): { seats: number } | { error: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return { error: 'Enter a whole number of seats.' };
  const seats = Number(trimmed);
  if (seats < range.min) return { error: `At least ${range.min} ${range.min === 1 ? 'seat' : 'seats'}.` };
  if (range.max !== null && seats > range.max) return { error: `At most ${range.max} seats.` };
  return { seats };
}
