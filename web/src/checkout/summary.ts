// The order summary from a session's totals (CheckoutTotals: the first
// order's own figures, computed by the service): each line, the discount,
// the tax with its rate, the total, what is due today and when a trial ends.
// Amounts are integers in minor units (strings); nothing is added up here,
// every figure shown is one the service sent.

import { formatMinor } from '../shared/money.js';
import type { CheckoutTotals } from './session.js';

export interface SummaryRow {
  kind: 'line' | 'subtotal' | 'discount' | 'tax' | 'total';
  label: string;
  amount: string;
}

export interface Summary {
  rows: SummaryRow[];
  /** "$290.00". */
  total: string;
  /** What is charged when the customer pays. */
  dueNow: string;
  /** "March 3, 2027": when the trial ends (the first charge); null: no trial. */
  trialEnd: string | null;
  /** One sentence for a live region, said when the figures change. */
  announcement: string;
}

function isPositive(minor: string | undefined): boolean {
  return /^\d+$/.test(minor ?? '') && /[1-9]/.test(minor ?? '');
}

function negated(minor: string): string {
  return minor.startsWith('-') ? minor.slice(1) : `-${minor}`;
}

function difference(total: string | undefined, part: string | undefined): string {
  // Exclusive tax is the tax less its inclusive part; both are int64 strings.
  return (BigInt(total ?? '0') - BigInt(part ?? '0')).toString();
}

export function formatDate(time: string, locale?: string): string | null {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return null;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'long' }).format(date);
}

export function summaryOf(totals: CheckoutTotals, locale?: string, discountCode = ''): Summary {
  const currency = totals.currency;
  const money = (minor: string | undefined): string => formatMinor(minor ?? '0', currency, locale, true);
  const rows: SummaryRow[] = [];
  const lines = totals.lines ?? [];
  for (const line of lines) {
    rows.push({ kind: 'line', label: line.description || 'Subscription', amount: money(line.amount_minor) });
  }
  const discounted = isPositive(totals.discount_minor);
  const rate = (totals.tax_rate_percent ?? '').trim();
  const exclusiveTax = difference(totals.tax_minor, totals.inclusive_tax_minor);
  const taxed = isPositive(exclusiveTax) || isPositive(totals.inclusive_tax_minor) || rate !== '';
  if (lines.length > 1 || discounted || taxed) {
    rows.push({ kind: 'subtotal', label: 'Subtotal', amount: money(totals.subtotal_minor) });
  }
  if (discounted) {
    const code = discountCode.trim();
    rows.push({
      kind: 'discount',
      label: code ? `Discount (${code.toUpperCase()})` : 'Discount',
      amount: money(negated(totals.discount_minor ?? '0')),
    });
  }
  const ratePart = rate ? ` (${rate}%)` : '';
  if (isPositive(totals.inclusive_tax_minor)) {
    rows.push({ kind: 'tax', label: `Includes tax${ratePart}`, amount: money(totals.inclusive_tax_minor) });
  }
  if (isPositive(exclusiveTax) || (taxed && !isPositive(totals.inclusive_tax_minor))) {
    rows.push({ kind: 'tax', label: `Tax${ratePart}`, amount: money(exclusiveTax) });
  }
  const total = money(totals.total_minor);
  rows.push({ kind: 'total', label: 'Total', amount: total });
  const dueNow = money(totals.amount_due_now_minor);
  const trialEnd = totals.trial_end_time ? formatDate(totals.trial_end_time, locale) : null;
  const announcement =
    trialEnd === null
      ? `Total ${total}. Due today ${dueNow}.`
      : `Total ${total}, first charged on ${trialEnd}. Due today ${dueNow}.`;
  return { rows, total, dueNow, trialEnd, announcement };
}
