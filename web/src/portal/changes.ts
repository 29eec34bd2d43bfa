// Changing a subscription's plan or seats from the portal: which prices are
// offered (the organization's public catalog: a static price in the
// subscription's currency and billing period, as ChangePortalSubscription
// allows; the current one too, for a change of seats alone), what the
// change asks for, and the service's preview as rows to read before
// confirming (its proration lines, what is due now, the next renewal). Pure,
// so it is tested without a browser (web/test/portal-changes.test.ts).

import { locate, parseSeats, seatRange, type SeatRange } from '../checkout/choices.js';
import type { Period, PublicPrice, PublicProduct } from '../shared/catalog.js';
import { periodOf, planFor } from '../shared/plans.js';
import type { ChangeRequest } from './api.js';
import { dateText, money } from './describe.js';
import type { PortalSubscription, PortalSubscriptionChangePreview } from './types.js';

export interface ChangeOption {
  productId: string;
  productName: string;
  priceId: string;
  /** "$290 / year", "$8 per seat / month". */
  label: string;
  /** For a seat-based price: the seats it allows. */
  seats: SeatRange | null;
  current: boolean;
}

const STATIC_KINDS = ['fixed', 'free', 'custom', 'seat_based'] as const;

function isStatic(price: PublicPrice): boolean {
  return STATIC_KINDS.some((kind) => price[kind] !== undefined);
}

function samePeriod(a: Period | null, b: Period | undefined): boolean {
  if (a === null || b === undefined) return false;
  return a.interval === b.interval && (a.count ?? 1) === (b.count ?? 1);
}

/** The prices the subscription may change to, the current one first. */
export function changeOptions(
  subscription: PortalSubscription,
  products: readonly PublicProduct[],
  locale?: string,
): ChangeOption[] {
  const currency = (subscription.currency ?? '').toUpperCase();
  const options: ChangeOption[] = [];
  for (const product of products) {
    const plan = planFor(product, null, locale);
    for (const price of product.prices ?? []) {
      if (!isStatic(price) || price.currency.toUpperCase() !== currency) continue;
      if (!samePeriod(periodOf(price, product), subscription.recurring)) continue;
      const shown = plan?.options.find((option) => option.priceId === price.id);
      const label = shown ? `${shown.amount}${shown.cadence ? ` ${shown.cadence}` : ''}` : price.currency;
      options.push({
        productId: product.id,
        productName: product.name,
        priceId: price.id,
        label,
        seats: seatRange(price),
        current: price.id === subscription.price_id,
      });
    }
  }
  return options.sort((a, b) => Number(b.current) - Number(a.current));
}

/** The seat range of a price among the products (null: not seat-based). */
export function seatsOf(products: readonly PublicProduct[], priceId: string): SeatRange | null {
  return seatRange(locate(products, priceId)?.price);
}

/** What to send for the choice: the new price (empty when it is the
 * current one) and seats (0 when unchanged or not seat-based); or why not
 * (seats out of range, nothing changed). */
export function changeRequestOf(
  subscription: PortalSubscription,
  option: ChangeOption,
  seatsText: string,
): { request: ChangeRequest } | { error: string } {
  const priceId = option.current ? '' : option.priceId;
  let seats = 0;
  if (option.seats !== null) {
    const parsed = parseSeats(seatsText, option.seats);
    if ('error' in parsed) return { error: parsed.error };
    if (parsed.seats !== (subscription.seats ?? 0) || priceId !== '') seats = parsed.seats;
  }
  if (priceId === '' && seats === 0) return { error: 'Choose another plan or number of seats.' };
  return { request: { price_id: priceId, seats } };
}

export interface PreviewRow {
  kind: 'line' | 'discount' | 'tax' | 'credit' | 'due';
  label: string;
  amount: string;
}

export interface PreviewView {
  /** "Pro (yearly) from now on", with seats. */
  headline: string;
  /** "The change takes effect now." / "… on March 3, 2027." */
  effective: string;
  rows: PreviewRow[];
  /** "$120.00": what is charged when the customer confirms. */
  dueNow: string;
  /** "Then $290.00 on March 3, 2027 (next renewal)." or "". */
  nextRenewal: string;
  /** A sentence for a live region. */
  announcement: string;
}

function positive(minor: string | undefined): boolean {
  return /^\d+$/.test(minor ?? '') && /[1-9]/.test(minor ?? '');
}

/** When the change applies, and when its difference is billed (the
 * organization's proration behaviour decides; the customer does not). */
function effectiveText(preview: PortalSubscriptionChangePreview, locale?: string): string {
  const at = dateText(preview.effective_time, locale);
  switch (preview.proration_behavior) {
    case 'PRORATION_BEHAVIOR_AT_PERIOD_END':
      return at ? `The change takes effect on ${at}.` : 'The change takes effect at the end of the period.';
    case 'PRORATION_BEHAVIOR_NEXT_INVOICE':
      return 'The change takes effect now; the difference is billed with your next renewal.';
    case 'PRORATION_BEHAVIOR_NONE':
      return 'The change takes effect now; the rest of this period is neither charged nor credited.';
    default:
      return 'The change takes effect now.';
  }
}

export function previewView(
  subscription: PortalSubscription,
  preview: PortalSubscriptionChangePreview,
  locale?: string,
): PreviewView {
  const currency = preview.invoice_now?.currency || preview.next_renewal?.currency || subscription.currency || 'USD';
  const format = (minor: string | undefined): string => money(minor, currency, locale);
  const rows: PreviewRow[] = (preview.proration_lines ?? []).map((line) => ({
    kind: 'line',
    label: (line.description ?? '').trim() || 'Proration',
    amount: format(line.amount_minor),
  }));
  const now = preview.invoice_now;
  if (now) {
    if (positive(now.discount_minor)) {
      rows.push({ kind: 'discount', label: 'Discount', amount: format(`-${now.discount_minor}`) });
    }
    const rate = (now.tax_rate_percent ?? '').trim();
    const exclusive = (BigInt(now.tax_minor || '0') - BigInt(now.inclusive_tax_minor || '0')).toString();
    if (positive(exclusive)) {
      rows.push({ kind: 'tax', label: rate ? `Tax (${rate}%)` : 'Tax', amount: format(exclusive) });
    }
    if (positive(now.credit_applied_minor)) {
      rows.push({ kind: 'credit', label: 'Credit applied', amount: format(`-${now.credit_applied_minor}`) });
    }
    if (positive(now.credit_carried_minor)) {
      rows.push({ kind: 'credit', label: 'Credit for later orders', amount: format(now.credit_carried_minor) });
    }
  }
  const dueNow = format(preview.amount_due_now_minor);
  rows.push({ kind: 'due', label: 'Due now', amount: dueNow });
  const effective = effectiveText(preview, locale);
  const renewal = preview.next_renewal;
  const renewalDate = dateText(renewal?.period_start, locale);
  const nextRenewal =
    renewal && renewalDate ? `Then ${format(renewal.total_minor)} at the next renewal, on ${renewalDate}.` : '';
  const seats = preview.seats ?? 0;
  const name = (preview.product_name ?? '').trim() || (subscription.product_name ?? '').trim() || 'The new plan';
  const headline = seats > 0 ? `${name}, ${seats} ${seats === 1 ? 'seat' : 'seats'}` : name;
  return {
    headline,
    effective,
    rows,
    dueNow,
    nextRenewal,
    announcement: `${headline}: ${dueNow} due now. ${effective}`,
  };
}
