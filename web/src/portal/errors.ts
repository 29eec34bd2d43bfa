// What the portal says when a call fails: from the google.rpc.Status body's
// reason and field violations (shared/status.ts), never from its message's
// words, except to show the service's own sentence where the page has none
// of its own. A 401 is not shown: the page goes back to signing in.

import { sentence } from '../checkout/errors.js';
import type { ApiStatus } from '../shared/status.js';

const REASONS: Record<string, string> = {
  // Subscriptions.
  ALREADY_CANCELED: 'This subscription is already set to end.',
  NOT_CANCELED: 'This subscription is not set to end.',
  CANCEL_IMMEDIATELY:
    'This subscription has no paid period to finish, so it cannot be canceled here. Contact the merchant.',
  SUBSCRIPTION_CANCELING: 'This subscription is set to end. Resume it before changing its plan.',
  SUBSCRIPTION_NOT_ACTIVE: 'Pay what is due on this subscription (a new card retries it) before changing its plan.',
  SUBSCRIPTION_ENDED: 'This subscription has ended.',
  RENEWAL_IN_PROGRESS: 'This subscription is renewing right now. Try again in a moment.',
  SEATS_NOT_ALLOWED: 'That plan is not priced per seat.',
  PAYMENT_METHOD_DETACHED: 'That card was removed already.',
  NO_CHANGE: 'That is the plan and number of seats you have. Choose another.',
  CURRENCY_MISMATCH: 'That plan is billed in another currency. Choose another.',
  INTERVAL_MISMATCH: 'That plan is billed over another period. Choose another.',
  PRICE_ARCHIVED: 'That plan is no longer offered. Choose another.',
  PRODUCT_ARCHIVED: 'That plan is no longer offered. Choose another.',
  SEATS_ASSIGNED: 'More seats are assigned to people than that. Free some seats first.',
  // Cards.
  STRIPE_PUBLISHABLE_KEY_UNSET: 'Cards cannot be added here at the moment. Contact the merchant.',
  STRIPE_UNAVAILABLE: 'The card service is not answering. Please try again in a moment.',
  // Signing in.
  PORTAL_SIGN_IN_NOT_FOUND: 'This sign-in link has expired or was already used. Ask for a new one below.',
  ORGANIZATION_NOT_FOUND: 'This portal is not known here. Check the address.',
};

/** One sentence for the customer about a failed call. */
export function messageOf(status: ApiStatus): string {
  if (status.httpStatus === 0) return 'The connection failed. Check your network and try again.';
  if (status.httpStatus === 401) return 'Your session has ended. Sign in again.';
  if (status.httpStatus === 429) return 'Too many attempts in a short time. Wait a moment and try again.';
  if (status.httpStatus >= 500 && !REASONS[status.reason]) {
    return `Something went wrong on our side (error ${status.httpStatus}). Please try again.`;
  }
  const known = REASONS[status.reason];
  if (known) return known;
  const described = status.violations.map((violation) => sentence(violation.description)).filter(Boolean);
  if (described.length > 0) return described.join(' ');
  return status.message ? sentence(status.message) : `The request failed (error ${status.httpStatus}).`;
}

/** The violation of `field` (e.g. "email"), as a sentence; "" when none. */
export function fieldMessage(status: ApiStatus, field: string): string {
  const found = status.violations.find((violation) => violation.field === field);
  return found ? sentence(found.description) || 'This value is not accepted.' : '';
}
