export {
  BillingOS,
  DEFAULT_TIMEOUT_MS,
  SDK_VERSION,
  SERVER_URL_ENV,
  isLoopbackHost,
  resolveServerURL,
} from './client.js';
export type { BillingOSOptions, ServerName } from './client.js';
export {
  BillingOSError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  InvalidRequestError,
  RateLimitError,
  ServerError,
  NetworkError,
} from './errors.js';
export type { FieldViolation, RpcStatus, StatusDetail } from './errors.js';
export { PagePromise } from './pagination.js';
export type { Page } from './pagination.js';
export type { RetryOptions } from './transport.js';
export { camelCase, snakeCase, toWire, fromWire } from './case.js';
export type { Camelize, CamelCase } from './case.js';
export { FREE_FORM_KEYS } from './generated/free-form.js';
export type * from './types.js';
export type { Customers } from './resources/customers.js';
export type { Events } from './resources/events.js';
export type { BenefitGrants } from './resources/benefit-grants.js';
export type { Products } from './resources/products.js';
export type { Subscriptions } from './resources/subscriptions.js';
export type { Entitlements } from './resources/entitlements.js';
export type { CustomerSessions } from './resources/customer-sessions.js';
export type { WebhookEndpoints } from './resources/webhook-endpoints.js';
