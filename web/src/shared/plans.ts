// What a pricing table (and the checkout page's choice of price) shows, from
// the public catalog: pure functions, so the rules below are tested without a
// browser (web/test/plans.test.ts).
//
// The toggle. Prices whose billing period is one month are "monthly", one
// year "yearly"; the toggle appears only when the catalog has both. A product
// with prices of the chosen period shows those. A product with none (only the
// other period, a one-time price, a weekly or quarterly one) shows all of its
// prices, each labelled with its own period: no plan disappears when the
// toggle moves, and no price is shown under a period it is not billed in.
//
// One button per price a customer chooses: per currency and billing period a
// product has at most one static price (fixed, free, pay-what-you-want or per
// seat) and any number of metered ones, and a subscription buys them
// together. So the static price is the button, and the metered prices of the
// same currency and period are listed under it as usage charges (a product
// with metered prices only gets one button, for its first).

import type { Period, PublicPrice, PublicProduct } from './catalog.js';
import { minorUnitExponent } from './currencies.js';
import { formatMinor, minorToMajor } from './money.js';

export type Cycle = 'month' | 'year';

export const CYCLES: readonly Cycle[] = ['month', 'year'];

/** One choice of a plan: the price its button checks out. */
export interface PlanOption {
  productId: string;
  priceId: string;
  currency: string;
  /** The billing period; null for a one-time price. */
  period: Period | null;
  /** "$29", "Free", "Pay what you want", "$8". */
  amount: string;
  /** "/ month", "per seat / year", "one-time", "" */
  cadence: string;
  /** Usage charges bought with it: "+ $0.01 per unit". */
  usage: string[];
  /** "Subscribe", "Start free trial", "Buy now", "Get started". */
  action: string;
}

export interface Plan {
  productId: string;
  name: string;
  description: string;
  /** The plan's benefits; until the catalog carries them, the lines of the
   * product's public_metadata.features. */
  features: string[];
  /** "14-day free trial", or "". */
  trial: string;
  options: PlanOption[];
}

const STATIC_KINDS = ['fixed', 'free', 'custom', 'seat_based'] as const;

function isStatic(price: PublicPrice): boolean {
  return STATIC_KINDS.some((kind) => price[kind] !== undefined);
}

/** The price's billing period; null for a one-time price. */
export function periodOf(price: PublicPrice, product: PublicProduct): Period | null {
  const period = price.recurring ?? product.recurring;
  if (!period || period.interval === 'INTERVAL_UNSPECIFIED') return null;
  return period;
}

export function cycleOf(period: Period | null): Cycle | null {
  if (period === null || (period.count ?? 1) !== 1) return null;
  if (period.interval === 'INTERVAL_MONTH') return 'month';
  if (period.interval === 'INTERVAL_YEAR') return 'year';
  return null;
}

/** The toggle's choices that some price is billed in, in order. */
export function availableCycles(products: readonly PublicProduct[]): Cycle[] {
  const found = new Set<Cycle>();
  for (const product of products) {
    for (const price of product.prices ?? []) {
      const cycle = cycleOf(periodOf(price, product));
      if (cycle) found.add(cycle);
    }
  }
  return CYCLES.filter((cycle) => found.has(cycle));
}

const UNIT_NAMES: Record<string, [string, string]> = {
  INTERVAL_DAY: ['day', 'days'],
  INTERVAL_WEEK: ['week', 'weeks'],
  INTERVAL_MONTH: ['month', 'months'],
  INTERVAL_YEAR: ['year', 'years'],
};

/** "month", "3 months". */
export function periodName(period: Period): string {
  const [one, many] = UNIT_NAMES[period.interval] ?? ['period', 'periods'];
  const count = period.count ?? 1;
  return count === 1 ? one : `${count} ${many}`;
}

/** "14-day free trial", "1-month free trial". */
export function trialText(trial: Period | undefined): string {
  if (!trial || trial.interval === 'INTERVAL_UNSPECIFIED') return '';
  const [one] = UNIT_NAMES[trial.interval] ?? ['period'];
  return `${trial.count ?? 1}-${one} free trial`;
}

/** "monthly", "yearly", "every 3 months". */
function adverb(period: Period): string {
  if ((period.count ?? 1) === 1) {
    const adverbs: Record<string, string> = {
      INTERVAL_DAY: 'daily',
      INTERVAL_WEEK: 'weekly',
      INTERVAL_MONTH: 'monthly',
      INTERVAL_YEAR: 'yearly',
    };
    const found = adverbs[period.interval];
    if (found) return found;
  }
  return `every ${periodName(period)}`;
}

function per(period: Period | null): string {
  return period === null ? 'one-time' : `/ ${periodName(period)}`;
}

function money(minor: string | undefined, currency: string, locale: string | undefined): string {
  return formatMinor(minor ?? '0', currency, locale);
}

function headline(
  price: PublicPrice,
  period: Period | null,
  locale: string | undefined,
): { amount: string; cadence: string } {
  const currency = price.currency;
  if (price.fixed) return { amount: money(price.fixed.amount_minor, currency, locale), cadence: per(period) };
  if (price.free) return { amount: 'Free', cadence: '' };
  if (price.custom) {
    const minimum = price.custom.minimum_amount_minor ?? '0';
    return Number(minimum) > 0
      ? { amount: `From ${money(minimum, currency, locale)}`, cadence: per(period) }
      : { amount: 'Pay what you want', cadence: period === null ? '' : per(period) };
  }
  if (price.seat_based) {
    const tiers = price.seat_based.tiers ?? [];
    const amounts = new Set(tiers.map((tier) => tier.amount_per_seat_minor ?? '0'));
    const first = tiers[0]?.amount_per_seat_minor;
    const prefix = amounts.size > 1 ? 'From ' : '';
    const cadence = period === null ? 'per seat' : `per seat ${per(period)}`;
    return { amount: prefix + money(first, currency, locale), cadence };
  }
  return { amount: 'Usage-based', cadence: period === null ? '' : `billed ${adverb(period)}` };
}

/** A metered price as one line: "$0.01 per unit", "2.9% of volume". */
export function usageText(price: PublicPrice, locale: string | undefined): string {
  const currency = price.currency;
  if (price.metered_unit) return `${money(price.metered_unit.unit_amount, currency, locale)} per unit`;
  if (price.metered_package) {
    const size = price.metered_package.package_size ?? '1';
    return `${money(price.metered_package.amount_per_package, currency, locale)} per ${size} units`;
  }
  if (price.metered_tiers) {
    const first = price.metered_tiers.tiers?.[0]?.unit_amount || '0';
    return `From ${money(first, currency, locale)} per unit`;
  }
  if (price.metered_percentage) {
    const fee = price.metered_percentage.fixed_fee_per_event;
    const rate = `${price.metered_percentage.rate ?? '0'}% of volume`;
    return fee && Number(fee) > 0 ? `${rate} + ${money(fee, currency, locale)} per event` : rate;
  }
  if (price.metered_graduated_percentage) {
    const first = price.metered_graduated_percentage.tiers?.[0]?.rate ?? '0';
    return `From ${first}% of volume`;
  }
  return 'Usage-based';
}

function actionFor(price: PublicPrice, period: Period | null, product: PublicProduct): string {
  if (price.free) return 'Get started';
  if (period === null) return 'Buy now';
  if (trialText(product.trial)) return 'Start free trial';
  return 'Subscribe';
}

function features(product: PublicProduct): string[] {
  // The public catalog does not carry benefits yet (issue 15): shown once it
  // does; until then the merchant's public_metadata.features, the feature
  // list products.proto names as what public_metadata is for. Metadata values
  // are scalars, so the list is one string, a feature per line.
  const benefits = (product.benefits ?? [])
    .map((benefit) => (typeof benefit === 'string' ? benefit : benefit.description || benefit.name || ''))
    .map((text) => text.trim())
    .filter((text) => text !== '');
  if (benefits.length > 0) return benefits;
  const listed = product.public_metadata?.['features'];
  if (typeof listed !== 'string') return [];
  return listed
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

function periodKey(period: Period | null): string {
  return period === null ? 'once' : `${period.interval}:${period.count ?? 1}`;
}

function optionsOf(
  product: PublicProduct,
  prices: readonly PublicPrice[],
  locale: string | undefined,
): PlanOption[] {
  // Groups by currency and period, in the order the catalog lists them.
  const groups = new Map<string, PublicPrice[]>();
  for (const price of prices) {
    const key = `${price.currency}|${periodKey(periodOf(price, product))}`;
    groups.set(key, [...(groups.get(key) ?? []), price]);
  }
  const options: PlanOption[] = [];
  for (const group of groups.values()) {
    const chosen = group.find(isStatic) ?? group[0];
    if (!chosen) continue;
    const period = periodOf(chosen, product);
    const shown = headline(chosen, period, locale);
    // The rest of a group is metered (at most one static price per group).
    const usage = group.filter((price) => price !== chosen).map((price) => `+ ${usageText(price, locale)}`);
    if (!isStatic(chosen)) usage.unshift(usageText(chosen, locale));
    options.push({
      productId: product.id,
      priceId: chosen.id,
      currency: chosen.currency,
      period,
      amount: shown.amount,
      cadence: shown.cadence,
      usage,
      action: actionFor(chosen, period, product),
    });
  }
  return options;
}

/** What a product costs a month at least, in major units, for ordering
 * cards cheapest first; null when it has no fixed or free price. */
function monthlyCost(product: PublicProduct): number | null {
  let least: number | null = null;
  for (const price of product.prices ?? []) {
    let minor: string | undefined;
    if (price.free) minor = '0';
    else if (price.fixed) minor = price.fixed.amount_minor;
    if (minor === undefined) continue;
    const major = Number(minorToMajor(minor, minorUnitExponent(price.currency)) ?? NaN);
    const period = periodOf(price, product);
    const months = period === null ? 1 : monthsIn(period);
    const perMonth = major / months;
    if (Number.isFinite(perMonth) && (least === null || perMonth < least)) least = perMonth;
  }
  return least;
}

function monthsIn(period: Period): number {
  const count = period.count ?? 1;
  switch (period.interval) {
    case 'INTERVAL_DAY':
      return (count * 12) / 365;
    case 'INTERVAL_WEEK':
      return (count * 12) / 52;
    case 'INTERVAL_YEAR':
      return count * 12;
    default:
      return count;
  }
}

/** The plans to show for the chosen billing period, cheapest first (by a
 * month's cost of their fixed or free prices; the others after them), in
 * the order the merchant created them where that does not decide. */
export function plansFor(
  products: readonly PublicProduct[],
  cycle: Cycle | null,
  locale?: string,
): Plan[] {
  // The catalog lists newest first; a merchant creates plans in order.
  const ordered = [...products].reverse();
  const costs = new Map(ordered.map((product) => [product.id, monthlyCost(product)]));
  ordered.sort((a, b) => {
    const left = costs.get(a.id) ?? null;
    const right = costs.get(b.id) ?? null;
    if (left === null || right === null) return left === null ? (right === null ? 0 : 1) : -1;
    return left - right;
  });
  return ordered.map((product) => planFor(product, cycle, locale)).filter((plan) => plan !== null);
}

/** One product as a plan for the chosen billing period: its prices of that
 * period, else all of them (each labelled with its own); null when it has no
 * price. The checkout page shows a link's products in the link's order with
 * this, the pricing table sorted by plansFor. */
export function planFor(product: PublicProduct, cycle: Cycle | null, locale?: string): Plan | null {
  const prices = product.prices ?? [];
  if (prices.length === 0) return null;
  const inCycle = cycle === null ? [] : prices.filter((price) => cycleOf(periodOf(price, product)) === cycle);
  return {
    productId: product.id,
    name: product.name,
    description: product.description ?? '',
    features: features(product),
    trial: trialText(product.trial),
    options: optionsOf(product, inCycle.length > 0 ? inCycle : prices, locale),
  };
}
