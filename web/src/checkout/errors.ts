// What an error from the checkout calls means for the page: a message next
// to each field it names, one for the form as a whole, or a state of the
// page itself (the session expired, was paid, cannot be found). Decided by
// the error's reason and its field violations, never by its message's words
// (the services' descriptions are shown, they are written for people).

import type { ApiStatus } from '../shared/status.js';
import type { EditableField } from './session.js';

export const ADDRESS_PARTS = ['line1', 'line2', 'city', 'postal_code', 'state', 'country'] as const;
export type AddressPart = (typeof ADDRESS_PARTS)[number];

/** A field of the form an error can be shown next to. */
export type FieldKey = Exclude<EditableField, 'billing_address'> | `billing_address.${AddressPart}`;

export type PageProblem = 'expired' | 'completed' | 'processing' | 'not-found' | 'archived';

export interface Problems {
  fields: Partial<Record<FieldKey, string>>;
  /** For the form as a whole (no field named, or the network). */
  form: string | null;
  /** The page cannot go on as a form. */
  page: PageProblem | null;
}

const SESSION_PREFIX = 'checkout_session.';

const FIELD_KEYS: ReadonlySet<string> = new Set<FieldKey>([
  'price_id',
  'seats',
  'customer_email',
  'customer_name',
  'discount_code',
  ...ADDRESS_PARTS.map((part): FieldKey => `billing_address.${part}`),
]);

// Reasons that say where the page stands, not what is wrong with a field.
const PAGE_REASONS: Record<string, PageProblem> = {
  CHECKOUT_SESSION_EXPIRED: 'expired',
  CHECKOUT_SESSION_COMPLETED: 'completed',
  CHECKOUT_SESSION_PROCESSING: 'processing',
  // Confirmed (from another tab, say): its choices are fixed now.
  CHECKOUT_SESSION_CONFIRMED: 'processing',
  CHECKOUT_LINK_ARCHIVED: 'archived',
  // A secret that names no session, a link that is not there (or not the
  // organization's): the page has nothing to show.
  CHECKOUT_SESSION_NOT_FOUND: 'not-found',
  CHECKOUT_LINK_NOT_FOUND: 'not-found',
  ORGANIZATION_NOT_FOUND: 'not-found',
};

// Reasons about one field, in words of our own (the field is sure).
const FIELD_REASONS: Record<string, [FieldKey, string]> = {
  DISCOUNT_NOT_ALLOWED: ['discount_code', 'This code is not accepted for this purchase.'],
  DISCOUNT_NOT_APPLICABLE: ['discount_code', 'This code does not apply to this plan or order.'],
  PRICE_NOT_FOUND: ['price_id', 'This price is no longer offered. Choose another.'],
  CHECKOUT_PAYMENT_STARTED: [
    'customer_email',
    'Your email and name can no longer be changed once payment has started.',
  ],
};

/** "must be a valid email address" as a sentence. */
export function sentence(description: string): string {
  const text = description.trim();
  if (!text) return '';
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** The form's field a violation names ("checkout_session.billing_address.city"), or null. */
export function fieldOf(violation: string): FieldKey | null {
  const field = violation.startsWith(SESSION_PREFIX) ? violation.slice(SESSION_PREFIX.length) : violation;
  return FIELD_KEYS.has(field) ? (field as FieldKey) : null;
}

function generalMessage(status: ApiStatus): string {
  if (status.httpStatus === 0) return 'The connection failed. Check your network and try again.';
  if (status.httpStatus === 429) return 'Too many attempts in a short time. Wait a moment and try again.';
  if (status.httpStatus >= 500) {
    return `Something went wrong on our side (error ${status.httpStatus}). Please try again.`;
  }
  return status.message ? sentence(status.message) : `The request failed (error ${status.httpStatus}).`;
}

export function problemsOf(status: ApiStatus): Problems {
  const problems: Problems = { fields: {}, form: null, page: null };
  const page = PAGE_REASONS[status.reason];
  if (page) {
    problems.page = page;
    return problems;
  }
  const known = FIELD_REASONS[status.reason];
  if (known) {
    const [field, text] = known;
    problems.fields[field] = text;
    return problems;
  }
  const unplaced: string[] = [];
  for (const violation of status.violations) {
    const field = fieldOf(violation.field);
    const text = sentence(violation.description);
    if (field === null) unplaced.push(text || sentence(status.message));
    else if (!problems.fields[field]) problems.fields[field] = text || 'This value is not accepted.';
  }
  if (unplaced.length > 0) problems.form = unplaced.join(' ');
  if (status.violations.length === 0) problems.form = generalMessage(status);
  return problems;
}
