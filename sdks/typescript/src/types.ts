// The SDK's types: the generated wire types (src/generated/openapi.ts,
// snake_case) as the SDK shows them (camelCase; free-form maps untouched).
import type { Camelize } from './case.js';
import type { components, operations } from './generated/openapi.js';

export type { components, operations, paths } from './generated/openapi.js';

/** The wire (snake_case) schemas, by their OpenAPI names. */
export type Schemas = components['schemas'];
/** The query parameters of an operation, as on the wire. */
export type WireQuery<Op extends keyof operations> = NonNullable<operations[Op]['parameters']['query']>;
/** The JSON request body of an operation, as on the wire. */
export type WireBody<Op extends keyof operations> = NonNullable<
  operations[Op]['requestBody']
> extends { content: { 'application/json': infer Body } }
  ? Body
  : never;

/** A stored resource: the wire marks every field optional (proto3), but
 * whatever the API returns has its id. */
type Stored<T> = T & { id: string };

export type Address = Camelize<Schemas['billingos.common.v1.Address']>;

export type Customer = Stored<Camelize<Schemas['billingos.customers.v1.Customer']>>;
export type CustomerCreateParams = Omit<
  Camelize<Schemas['billingos.customers.v1.Customer']>,
  'id' | 'createTime' | 'updateTime' | 'deleteTime' | 'stripeCustomerId'
>;
export type CustomerUpdateParams = Partial<
  Pick<Customer, 'email' | 'externalId' | 'name' | 'metadata' | 'billingAddress'>
>;
export type CustomerListParams = Camelize<WireQuery<'CustomerService_ListCustomers'>>;

export type UsageEventInput = Camelize<Schemas['billingos.metering.v1.UsageEventInput']>;
export type EventsIngestParams = Camelize<Schemas['billingos.metering.v1.IngestEventsRequest']>;
export type EventsIngestResult = Camelize<Schemas['billingos.metering.v1.IngestEventsResponse']>;

export type BenefitGrant = Stored<Camelize<Schemas['billingos.entitlements.v1.BenefitGrant']>>;
export type BenefitGrantListParams = Camelize<WireQuery<'BenefitGrantService_ListBenefitGrants'>>;

export type Product = Stored<Camelize<Schemas['billingos.catalog.v1.Product']>>;
export type Price = Stored<Camelize<Schemas['billingos.catalog.v1.Price']>>;
export type ProductListParams = Camelize<WireQuery<'ProductService_ListProducts'>>;

export type Subscription = Stored<Camelize<Schemas['billingos.subscriptions.v1.Subscription']>>;
export type SubscriptionStatus = Schemas['billingos.subscriptions.v1.SubscriptionStatus'];
export type SubscriptionCreateParams = Camelize<
  Schemas['billingos.subscriptions.v1.CreateSubscriptionRequest']
>;
export type SubscriptionListParams = Camelize<WireQuery<'SubscriptionService_ListSubscriptions'>>;
export type SubscriptionCancelParams = Camelize<WireBody<'SubscriptionService_CancelSubscription'>>;

export type Entitlement = Camelize<Schemas['billingos.entitlements.v1.Entitlement']>;
export type EntitlementCheckParams = Camelize<WireQuery<'EntitlementService_CheckEntitlement'>>;

export type CustomerSession = Stored<Camelize<Schemas['billingos.customers.v1.CustomerSession']>>;
export type CustomerSessionCreateParams = Camelize<
  Schemas['billingos.customers.v1.CreateCustomerSessionRequest']
>;

export type WebhookEndpoint = Stored<Camelize<Schemas['billingos.customers.v1.WebhookEndpoint']>>;
/** `url` (required), `description`, `eventTypes` (empty: every type). */
export type WebhookEndpointCreateParams = Pick<
  Camelize<Schemas['billingos.customers.v1.WebhookEndpoint']>,
  'url' | 'description' | 'eventTypes'
>;
export type WebhookEndpointUpdateParams = Partial<
  Pick<WebhookEndpoint, 'url' | 'description' | 'eventTypes' | 'disabled'>
>;
export type WebhookEndpointListParams = Camelize<WireQuery<'WebhookEndpointService_ListWebhookEndpoints'>>;
export type WebhookEndpointRotateSecretParams = Camelize<
  WireBody<'WebhookEndpointService_RotateWebhookEndpointSecret'>
>;
export type WebhookDelivery = Stored<Camelize<Schemas['billingos.customers.v1.WebhookDelivery']>>;
export type WebhookDeliveryStatus = Schemas['billingos.customers.v1.WebhookDeliveryStatus'];
export type WebhookDeliveryListParams = Camelize<WireQuery<'WebhookEndpointService_ListWebhookDeliveries'>>;

/** Options of any call. */
export interface RequestOptions {
  /** Aborts the call (and its retries). */
  signal?: AbortSignal;
  /** Overrides the client's `maxRetries` for this call. */
  maxRetries?: number;
  /** Overrides the client's per-attempt `timeoutMs` for this call. */
  timeoutMs?: number;
}

/** Options of a call that changes something (POST, PATCH, DELETE). */
export interface MutationOptions extends RequestOptions {
  /** The Idempotency-Key to send; by default a new random UUID per call,
   * the same on each of its retries. Give your own to make a retry of your
   * own (e.g. after a crash) safe too. */
  idempotencyKey?: string;
}

export interface CustomerUpdateOptions extends MutationOptions {
  /** The fields to change (camelCase, e.g. `['name', 'billingAddress']`);
   * by default the keys given in the update. A field named here and left out
   * of the update is cleared. */
  updateMask?: string[];
}

export interface WebhookEndpointUpdateOptions extends MutationOptions {
  /** The fields to change (camelCase: `url`, `description`, `eventTypes`,
   * `disabled`); by default the keys given in the update. A field named here
   * and left out of the update is cleared (`eventTypes`: every type again). */
  updateMask?: string[];
}
