// What the portal says about each thing it shows, in words: pure functions
// of the API's answers (and the clock), so their rules are tested without a
// browser (web/test/portal-describe.test.ts). Amounts go through the shared
// money module (every digit of the currency: "$290.00"); dates are the
// locale's long form ("March 3, 2027").

import { formatMinor } from '../shared/money.js';
import { periodName } from '../shared/plans.js';
import type {
  BenefitGrant,
  PortalLicenseKey,
  PortalOrder,
  PortalPaymentMethod,
  PortalSubscription,
  SubscriptionStatus,
} from './types.js';

/** "March 3, 2027"; "" for a missing or unreadable time. */
export function dateText(time: string | undefined, locale?: string): string {
  if (!time) return '';
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'long' }).format(date);
}

export function money(minor: string | undefined, currency: string | undefined, locale?: string): string {
  return formatMinor(minor || '0', (currency || 'USD').toUpperCase(), locale, true);
}

/** A decimal string of units ("1500", "0.25") in the locale, exactly. */
export function quantityText(decimal: string | undefined, locale?: string): string {
  const value = (decimal ?? '').trim() || '0';
  if (!/^-?\d+(\.\d+)?$/.test(value)) return value;
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 20 }).format(value as `${number}`);
}

// ---- subscriptions --------------------------------------------------------------

const STATUS_LABELS: Record<SubscriptionStatus, string> = {
  SUBSCRIPTION_STATUS_UNSPECIFIED: 'Unknown',
  SUBSCRIPTION_STATUS_INCOMPLETE: 'Awaiting payment',
  SUBSCRIPTION_STATUS_TRIALING: 'Free trial',
  SUBSCRIPTION_STATUS_ACTIVE: 'Active',
  SUBSCRIPTION_STATUS_PAST_DUE: 'Past due',
  SUBSCRIPTION_STATUS_CANCELED: 'Ended',
  SUBSCRIPTION_STATUS_UNPAID: 'Unpaid',
};

export type Tone = 'good' | 'warning' | 'neutral';

export function subscriptionStatus(subscription: PortalSubscription): { label: string; tone: Tone } {
  const status = subscription.status ?? 'SUBSCRIPTION_STATUS_UNSPECIFIED';
  if (subscription.cancel_at_period_end && status !== 'SUBSCRIPTION_STATUS_CANCELED') {
    return { label: 'Canceling', tone: 'warning' };
  }
  const tone: Tone =
    status === 'SUBSCRIPTION_STATUS_ACTIVE' || status === 'SUBSCRIPTION_STATUS_TRIALING'
      ? 'good'
      : status === 'SUBSCRIPTION_STATUS_CANCELED'
        ? 'neutral'
        : 'warning';
  return { label: STATUS_LABELS[status] ?? 'Unknown', tone };
}

/** "$290.00 / year", "$87.00 / month for 3 seats", "Billed by usage". */
export function subscriptionPrice(subscription: PortalSubscription, locale?: string): string {
  const amount = subscription.period_amount_minor ?? '0';
  const recurring = subscription.recurring;
  const period = recurring ? ` / ${periodName(recurring)}` : '';
  const seats = subscription.seats ?? 0;
  const seatText = seats > 0 ? ` for ${seats} ${seats === 1 ? 'seat' : 'seats'}` : '';
  if (!/[1-9]/.test(amount)) {
    const items = subscription.items ?? [];
    const metered = items.length > 0 && items.every((item) => {
      const price = item.price;
      return price !== undefined && !price.fixed && !price.free && !price.custom && !price.seat_based;
    });
    if (metered) return recurring ? `Billed by usage every ${periodName(recurring)}` : 'Billed by usage';
    return `Free${seatText}`;
  }
  return `${money(amount, subscription.currency, locale)}${period}${seatText}`;
}

/** Where the subscription stands, as one sentence: "Renews on March 3,
 * 2027", "Cancels on March 3, 2027", "Ended on …", "Trial ends on …". */
export function subscriptionStanding(subscription: PortalSubscription, locale?: string): string {
  const status = subscription.status ?? 'SUBSCRIPTION_STATUS_UNSPECIFIED';
  const periodEnd = dateText(subscription.current_period_end, locale);
  if (status === 'SUBSCRIPTION_STATUS_CANCELED') {
    const ended = dateText(subscription.end_time, locale);
    return ended ? `Ended on ${ended}` : 'Ended';
  }
  if (subscription.cancel_at_period_end) {
    return periodEnd ? `Cancels on ${periodEnd}` : 'Cancels at the end of the period';
  }
  if (status === 'SUBSCRIPTION_STATUS_TRIALING') {
    const trialEnd = dateText(subscription.trial_end, locale);
    return trialEnd ? `Free trial until ${trialEnd}; first payment then` : 'Free trial';
  }
  if (status === 'SUBSCRIPTION_STATUS_PAST_DUE') {
    const retry = dateText(subscription.next_retry_time, locale);
    return retry
      ? `The last payment failed. It is tried again on ${retry}.`
      : 'The last payment failed. Update your card to keep the subscription.';
  }
  if (status === 'SUBSCRIPTION_STATUS_UNPAID') return 'Unpaid. Update your card, or contact the merchant.';
  if (status === 'SUBSCRIPTION_STATUS_INCOMPLETE') return 'Waiting for the first payment.';
  return periodEnd ? `Renews on ${periodEnd}` : 'Active';
}

export interface SubscriptionActions {
  cancel: boolean;
  uncancel: boolean;
  change: boolean;
}

/** What the customer may do with it here: cancel at the period's end (a
 * subscription with a period to finish), take that back, change its plan
 * (live and not canceling). */
export function subscriptionActions(subscription: PortalSubscription): SubscriptionActions {
  const status = subscription.status ?? 'SUBSCRIPTION_STATUS_UNSPECIFIED';
  const canceling = subscription.cancel_at_period_end === true;
  const live = status === 'SUBSCRIPTION_STATUS_ACTIVE' || status === 'SUBSCRIPTION_STATUS_TRIALING';
  return {
    cancel: !canceling && (live || status === 'SUBSCRIPTION_STATUS_PAST_DUE'),
    uncancel: canceling && status !== 'SUBSCRIPTION_STATUS_CANCELED',
    change: !canceling && live,
  };
}

/** "Launch: 20% off", "Welcome: $5.00 off", with its end. */
export function discountText(subscription: PortalSubscription, locale?: string): string {
  const discount = subscription.discount;
  if (!discount) return '';
  const basisPoints = discount.percent_off_basis_points ?? 0;
  const off =
    basisPoints > 0
      ? `${new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(basisPoints / 100)}% off`
      : `${money(discount.amount_off_minor, subscription.currency, locale)} off`;
  const name = (discount.name ?? '').trim();
  const until = dateText(discount.end_time, locale);
  const remaining = discount.remaining_orders ?? 0;
  const limit = until
    ? ` until ${until}`
    : remaining > 0
      ? ` on the next ${remaining === 1 ? 'order' : `${remaining} orders`}`
      : '';
  return `${name ? `${name}: ` : ''}${off}${limit}`;
}

// ---- orders -------------------------------------------------------------------------

const ORDER_STATUS: Record<string, [string, Tone]> = {
  ORDER_STATUS_DRAFT: ['Draft', 'neutral'],
  ORDER_STATUS_PENDING: ['Payment due', 'warning'],
  ORDER_STATUS_PAID: ['Paid', 'good'],
  ORDER_STATUS_PARTIALLY_REFUNDED: ['Partially refunded', 'neutral'],
  ORDER_STATUS_REFUNDED: ['Refunded', 'neutral'],
  ORDER_STATUS_VOID: ['Void', 'neutral'],
};

export function orderStatus(order: PortalOrder): { label: string; tone: Tone } {
  const [label, tone] = ORDER_STATUS[order.status ?? ''] ?? ['Unknown', 'neutral'];
  return { label, tone };
}

const REASONS: Record<string, string> = {
  BILLING_REASON_SUBSCRIPTION_CREATE: 'New subscription',
  BILLING_REASON_SUBSCRIPTION_CYCLE: 'Renewal',
  BILLING_REASON_SUBSCRIPTION_UPDATE: 'Plan change',
  BILLING_REASON_PURCHASE: 'Purchase',
};

/** "New subscription: Pro (yearly)": why the order was made and its first line. */
export function orderDescription(order: PortalOrder): string {
  const reason = REASONS[order.billing_reason ?? ''] ?? 'Order';
  const first = (order.lines ?? []).map((line) => (line.description ?? '').trim()).find(Boolean);
  return first ? `${reason}: ${first}` : reason;
}

// ---- payment methods ------------------------------------------------------------

const BRANDS: Record<string, string> = {
  visa: 'Visa',
  mastercard: 'Mastercard',
  amex: 'American Express',
  american_express: 'American Express',
  discover: 'Discover',
  diners: 'Diners Club',
  jcb: 'JCB',
  unionpay: 'UnionPay',
  cartes_bancaires: 'Cartes Bancaires',
};

/** "Visa ending in 4242". */
export function cardName(method: PortalPaymentMethod): string {
  const brand = (method.brand ?? '').trim().toLowerCase();
  const name = BRANDS[brand] ?? (brand ? brand.charAt(0).toUpperCase() + brand.slice(1) : 'Card');
  return method.last4 ? `${name} ending in ${method.last4}` : name;
}

/** Whether the card's expiry month is over at `now`. */
export function cardExpired(method: PortalPaymentMethod, now: Date): boolean {
  const month = method.exp_month ?? 0;
  const year = method.exp_year ?? 0;
  if (month < 1 || year < 1) return false;
  return year < now.getUTCFullYear() || (year === now.getUTCFullYear() && month < now.getUTCMonth() + 1);
}

/** "Expires 12/2034", "Expired 01/2020". */
export function cardExpiry(method: PortalPaymentMethod, now: Date): string {
  const month = method.exp_month ?? 0;
  const year = method.exp_year ?? 0;
  if (month < 1 || year < 1) return '';
  const when = `${String(month).padStart(2, '0')}/${year}`;
  return cardExpired(method, now) ? `Expired ${when}` : `Expires ${when}`;
}

// ---- benefits -----------------------------------------------------------------------

const KEY_STATUS: Record<string, [string, Tone]> = {
  PORTAL_LICENSE_KEY_STATUS_VALID: ['Valid', 'good'],
  PORTAL_LICENSE_KEY_STATUS_REVOKED: ['Revoked', 'warning'],
  PORTAL_LICENSE_KEY_STATUS_EXPIRED: ['Expired', 'warning'],
};

export function licenseKeyStatus(key: PortalLicenseKey): { label: string; tone: Tone } {
  const [label, tone] = KEY_STATUS[key.status ?? ''] ?? ['Unknown', 'neutral'];
  return { label, tone };
}

/** "1 of 2 activations used", "3 activations (no limit)". */
export function activationsText(key: PortalLicenseKey): string {
  const used = key.activations ?? 0;
  const limit = key.activation_limit ?? 0;
  if (limit > 0) return `${used} of ${limit} ${limit === 1 ? 'activation' : 'activations'} used`;
  return `${used} ${used === 1 ? 'activation' : 'activations'} (no limit)`;
}

const GRANT_KINDS: Record<string, string> = {
  BENEFIT_TYPE_FEATURE_FLAG: 'Feature',
  BENEFIT_TYPE_METER_CREDITS: 'Usage credits',
  BENEFIT_TYPE_LICENSE_KEYS: 'License key',
  BENEFIT_TYPE_CUSTOM: 'Benefit',
};

export interface GrantView {
  /** "License key", "Feature", "Usage credits", "Benefit". */
  kind: string;
  /** The benefit's description where known, else its key ("desktop"). */
  name: string;
  /** "Granted since March 3, 2026", "Revoked on …". */
  standing: string;
  /** What it carries: "1,000 units each period", the custom note, the key. */
  detail: string;
  granted: boolean;
}

/** A grant in words. `meterNames` (meter id: name) and `descriptions`
 * (benefit id: its description for customers, which license keys carry)
 * name what the grant alone only identifies. */
export function grantView(
  grant: BenefitGrant,
  locale?: string,
  meterNames: ReadonlyMap<string, string> = new Map(),
  descriptions: ReadonlyMap<string, string> = new Map(),
): GrantView {
  const granted = grant.is_granted === true;
  const since = dateText(grant.grant_time, locale);
  const revoked = dateText(grant.revoke_time, locale);
  let detail = '';
  if (grant.meter_credits) {
    const meter = meterNames.get(grant.meter_credits.meter_id ?? '');
    const units = quantityText(grant.meter_credits.units, locale);
    detail = `${units} units${meter ? ` of ${meter}` : ''} each billing period`;
  } else if (grant.license_key) {
    detail = grant.license_key.display_key ?? '';
  } else if (grant.custom) {
    detail = (grant.custom.note ?? '').trim();
  }
  return {
    kind: GRANT_KINDS[grant.benefit_type ?? ''] ?? 'Benefit',
    name: descriptions.get(grant.benefit_id ?? '')?.trim() || grant.benefit_key || '',
    standing: granted ? (since ? `Granted since ${since}` : 'Granted') : revoked ? `Revoked on ${revoked}` : 'Revoked',
    detail,
    granted,
  };
}
