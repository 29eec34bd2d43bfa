// A checkout session as the customer's page sees it: PublicCheckoutSession
// (protos/billingos/subscriptions/v1/public_checkout.proto) in proto3's JSON
// mapping with the fields' proto names, as the gateway prints it (every
// scalar present; int64 amounts as strings; enums by name).

import type { PublicProduct } from '../shared/catalog.js';

export type SessionStatus =
  | 'CHECKOUT_SESSION_STATUS_UNSPECIFIED'
  | 'CHECKOUT_SESSION_STATUS_OPEN'
  | 'CHECKOUT_SESSION_STATUS_PROCESSING'
  | 'CHECKOUT_SESSION_STATUS_COMPLETED'
  | 'CHECKOUT_SESSION_STATUS_EXPIRED';

export interface Address {
  line1?: string;
  line2?: string;
  postal_code?: string;
  city?: string;
  state?: string;
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string;
}

export interface OrderLine {
  kind?: string;
  description?: string;
  price_id?: string;
  product_id?: string;
  quantity?: string;
  amount_minor?: string;
  discount_minor?: string;
  tax_minor?: string;
  tax_inclusive?: boolean;
  total_minor?: string;
}

export interface CheckoutTotals {
  currency: string;
  lines?: OrderLine[];
  subtotal_minor?: string;
  discount_minor?: string;
  tax_minor?: string;
  inclusive_tax_minor?: string;
  total_minor?: string;
  amount_due_now_minor?: string;
  /** A decimal string ("19"); empty: no tax. */
  tax_rate_percent?: string;
  /** RFC 3339; unset: no trial. */
  trial_end_time?: string;
}

export interface CheckoutPayment {
  publishable_key: string;
  stripe_js_url: string;
  setup_intent_client_secret: string;
  /** While the first payment waits for the customer's authentication (3-D
   * Secure): the PaymentIntent the page confirms with Stripe.js. */
  payment_intent_client_secret?: string;
}

export interface CheckoutPaymentError {
  code?: string;
  decline_code?: string;
  message?: string;
}

export interface PublicCheckoutSession {
  id: string;
  organization_id: string;
  checkout_link_id?: string;
  status: SessionStatus;
  products?: PublicProduct[];
  price_id?: string;
  seats?: number;
  customer_email?: string;
  customer_name?: string;
  billing_address?: Address;
  discount_code?: string;
  accepts_discount_codes?: boolean;
  totals?: CheckoutTotals;
  success_url?: string;
  expire_time?: string;
  /** In the answer that opened the session only. */
  client_secret?: string;
  /** In StartPublicCheckoutPayment's answer only. */
  payment?: CheckoutPayment;
  payment_error?: CheckoutPaymentError;
}

/** The fields a customer changes (UpdatePublicCheckoutSession's mask). */
export type EditableField =
  | 'price_id'
  | 'seats'
  | 'customer_email'
  | 'customer_name'
  | 'billing_address'
  | 'discount_code';

export type SessionChanges = Partial<Pick<PublicCheckoutSession, EditableField>>;

export const OPEN: SessionStatus = 'CHECKOUT_SESSION_STATUS_OPEN';
export const PROCESSING: SessionStatus = 'CHECKOUT_SESSION_STATUS_PROCESSING';
export const COMPLETED: SessionStatus = 'CHECKOUT_SESSION_STATUS_COMPLETED';
export const EXPIRED: SessionStatus = 'CHECKOUT_SESSION_STATUS_EXPIRED';
