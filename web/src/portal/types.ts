// The customer portal's shapes as the gateway prints them (proto3's JSON
// mapping with the fields' proto names; int64 amounts as strings, enums by
// name, timestamps as RFC 3339): the portal services of
// protos/billingos/{subscriptions,payments,metering,entitlements,customers}/v1/
// customer_portal.proto and customers/v1/portal_sign_in.proto. Every field
// is optional here: a page reads what is there.

import type { Period, PublicPrice } from '../shared/catalog.js';

export type SubscriptionStatus =
  | 'SUBSCRIPTION_STATUS_UNSPECIFIED'
  | 'SUBSCRIPTION_STATUS_INCOMPLETE'
  | 'SUBSCRIPTION_STATUS_TRIALING'
  | 'SUBSCRIPTION_STATUS_ACTIVE'
  | 'SUBSCRIPTION_STATUS_PAST_DUE'
  | 'SUBSCRIPTION_STATUS_CANCELED'
  | 'SUBSCRIPTION_STATUS_UNPAID';

export interface PortalDiscount {
  name?: string;
  percent_off_basis_points?: number;
  amount_off_minor?: string;
  end_time?: string;
  remaining_orders?: number;
}

export interface PortalSubscription {
  id: string;
  organization_id?: string;
  product_id?: string;
  product_name?: string;
  price_id?: string;
  currency?: string;
  status?: SubscriptionStatus;
  recurring?: Period;
  seats?: number;
  period_amount_minor?: string;
  items?: { price_id?: string; price?: PublicPrice }[];
  current_period_start?: string;
  current_period_end?: string;
  trial_start?: string;
  trial_end?: string;
  cancel_at_period_end?: boolean;
  cancel_time?: string;
  end_time?: string;
  cancellation_reason?: string;
  next_retry_time?: string;
  scheduled_change?: { price_id?: string; seats?: number };
  discount?: PortalDiscount;
  payment_method_id?: string;
  latest_order_id?: string;
  create_time?: string;
}

export interface OrderLine {
  kind?: string;
  description?: string;
  price_id?: string;
  product_id?: string;
  period_start?: string;
  period_end?: string;
  quantity?: string;
  amount_minor?: string;
  discount_minor?: string;
  tax_minor?: string;
  tax_inclusive?: boolean;
  total_minor?: string;
}

export type OrderStatus =
  | 'ORDER_STATUS_UNSPECIFIED'
  | 'ORDER_STATUS_DRAFT'
  | 'ORDER_STATUS_PENDING'
  | 'ORDER_STATUS_PAID'
  | 'ORDER_STATUS_PARTIALLY_REFUNDED'
  | 'ORDER_STATUS_REFUNDED'
  | 'ORDER_STATUS_VOID';

export interface PortalOrder {
  id: string;
  invoice_number?: string;
  subscription_id?: string;
  billing_reason?: string;
  status?: OrderStatus;
  currency?: string;
  lines?: OrderLine[];
  subtotal_minor?: string;
  discount_minor?: string;
  tax_minor?: string;
  total_minor?: string;
  amount_due_minor?: string;
  amount_paid_minor?: string;
  amount_refunded_minor?: string;
  period_start?: string;
  period_end?: string;
  next_retry_time?: string;
  create_time?: string;
  paid_time?: string;
}

export interface PortalInvoicePreview {
  currency?: string;
  lines?: OrderLine[];
  subtotal_minor?: string;
  discount_minor?: string;
  tax_minor?: string;
  inclusive_tax_minor?: string;
  total_minor?: string;
  credit_applied_minor?: string;
  credit_carried_minor?: string;
  amount_due_minor?: string;
  tax_rate_percent?: string;
  period_start?: string;
  period_end?: string;
}

export type ProrationBehavior =
  | 'PRORATION_BEHAVIOR_UNSPECIFIED'
  | 'PRORATION_BEHAVIOR_INVOICE_NOW'
  | 'PRORATION_BEHAVIOR_NEXT_INVOICE'
  | 'PRORATION_BEHAVIOR_NONE'
  | 'PRORATION_BEHAVIOR_AT_PERIOD_END';

export interface PortalSubscriptionChangePreview {
  subscription_id?: string;
  price_id?: string;
  product_id?: string;
  product_name?: string;
  seats?: number;
  proration_behavior?: ProrationBehavior;
  effective_time?: string;
  proration_lines?: OrderLine[];
  invoice_now?: PortalInvoicePreview;
  amount_due_now_minor?: string;
  next_renewal?: PortalInvoicePreview;
}

export interface PortalPaymentMethod {
  id: string;
  brand?: string;
  last4?: string;
  exp_month?: number;
  exp_year?: number;
  is_default?: boolean;
  create_time?: string;
  detach_time?: string;
}

export type SetupIntentStatus =
  | 'SETUP_INTENT_STATUS_UNSPECIFIED'
  | 'SETUP_INTENT_STATUS_REQUIRES_PAYMENT_METHOD'
  | 'SETUP_INTENT_STATUS_REQUIRES_ACTION'
  | 'SETUP_INTENT_STATUS_PROCESSING'
  | 'SETUP_INTENT_STATUS_SUCCEEDED'
  | 'SETUP_INTENT_STATUS_CANCELED';

export interface PortalSetupIntent {
  id: string;
  status?: SetupIntentStatus;
  client_secret?: string;
  publishable_key?: string;
  stripe_js_url?: string;
  payment_method_id?: string;
}

export interface PortalCustomerMeter {
  id: string;
  meter_id?: string;
  meter_name?: string;
  consumed_units?: string;
  credited_units?: string;
  balance?: string;
  window_start_time?: string;
  update_time?: string;
}

export type BenefitType =
  | 'BENEFIT_TYPE_UNSPECIFIED'
  | 'BENEFIT_TYPE_FEATURE_FLAG'
  | 'BENEFIT_TYPE_METER_CREDITS'
  | 'BENEFIT_TYPE_LICENSE_KEYS'
  | 'BENEFIT_TYPE_CUSTOM';

export interface BenefitGrant {
  id: string;
  benefit_id?: string;
  benefit_type?: BenefitType;
  benefit_key?: string;
  subscription_id?: string;
  order_id?: string;
  product_id?: string;
  is_granted?: boolean;
  grant_time?: string;
  revoke_time?: string;
  meter_credits?: { meter_id?: string; units?: string; credited_period_start?: string };
  license_key?: { license_key_id?: string; display_key?: string };
  custom?: { properties?: Record<string, unknown>; note?: string };
}

export type LicenseKeyStatus =
  | 'PORTAL_LICENSE_KEY_STATUS_UNSPECIFIED'
  | 'PORTAL_LICENSE_KEY_STATUS_VALID'
  | 'PORTAL_LICENSE_KEY_STATUS_REVOKED'
  | 'PORTAL_LICENSE_KEY_STATUS_EXPIRED';

export interface PortalLicenseKey {
  id: string;
  benefit_id?: string;
  benefit_description?: string;
  key?: string;
  status?: LicenseKeyStatus;
  activation_limit?: number;
  activations?: number;
  expire_time?: string;
  create_time?: string;
}

export interface LicenseKeyActivation {
  id: string;
  license_key_id?: string;
  label?: string;
  create_time?: string;
}

export interface PortalCustomer {
  id: string;
  email?: string;
  name?: string;
}

/** A customer session (ExchangePortalSignIn's answer, CreateCustomerSession's). */
export interface CustomerSession {
  id?: string;
  organization_id?: string;
  customer_id?: string;
  token?: string;
  expire_time?: string;
}
