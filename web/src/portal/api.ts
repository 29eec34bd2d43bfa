// The calls the portal makes, on its own gateway (same origin). Anonymous:
//
//   POST v1/public/organizations/{org}/portal-sign-in   {email}: links by email
//   POST v1/public/portal-sign-in:exchange              {token}: a link's token for a session
//
// and, with the customer session's token (`Authorization: Bearer bcs_…`),
// the customer portal's routes (v1/customer-portal/…): the customer, its
// subscriptions (cancel, uncancel, preview a change, change), orders and
// their invoices (PDF), cards (a SetupIntent for a new one, default,
// detach), benefit grants and license keys (activations, deactivate), and
// usage per meter. A 401 means the session is over (expired, revoked): the
// page goes back to signing in. Every failure is an ApiError carrying the
// google.rpc.Status it came with. Mutations carry an Idempotency-Key, and
// one that failed for the network is sent once more with the same key, so
// the service does it at most once.

import { statusOf, statusOfResponse, type ApiStatus } from '../shared/status.js';
import type {
  BenefitGrant,
  CustomerSession,
  LicenseKeyActivation,
  PortalCustomer,
  PortalCustomerMeter,
  PortalLicenseKey,
  PortalOrder,
  PortalPaymentMethod,
  PortalSetupIntent,
  PortalSubscription,
  PortalSubscriptionChangePreview,
} from './types.js';

export class ApiError extends Error {
  constructor(readonly status: ApiStatus) {
    super(status.message || `HTTP ${status.httpStatus}`);
  }
}

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

const defaultFetch: Fetch = (url, init) => fetch(url, init);

function under(base: string, path: string): string {
  return new URL(path, base.endsWith('/') ? base : `${base}/`).toString();
}

const id = encodeURIComponent;

// A portal list longer than this many pages is not shown whole.
const MAX_PAGES = 10;
const PAGE_SIZE = 100;

async function send(fetcher: Fetch, url: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetcher(url, { credentials: 'omit', cache: 'no-store', ...init });
  } catch {
    throw new ApiError(statusOf(0, null));
  }
  if (!response.ok) throw new ApiError(await statusOfResponse(response));
  return response;
}

async function json<T>(response: Response): Promise<T> {
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError(statusOf(response.status, null));
  }
}

function jsonBody(body: unknown): RequestInit {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export interface PublicPortalApi {
  /** Asks for sign-in links for the organization's customers with `email`
   * (the same empty answer whoever has it). */
  requestSignIn(organization: string, email: string): Promise<void>;
  /** A sign-in link's token for a customer session (used up). */
  exchangeSignIn(token: string): Promise<CustomerSession>;
}

export function signInUrl(base: string, organization: string): string {
  return under(base, `v1/public/organizations/${id(organization)}/portal-sign-in`);
}

export function exchangeUrl(base: string): string {
  return under(base, 'v1/public/portal-sign-in:exchange');
}

export function publicPortalApi(base: string, fetcher: Fetch = defaultFetch): PublicPortalApi {
  return {
    async requestSignIn(organization, email) {
      await send(fetcher, signInUrl(base, organization), { method: 'POST', ...jsonBody({ email }) });
    },
    async exchangeSignIn(token) {
      const response = await send(fetcher, exchangeUrl(base), { method: 'POST', ...jsonBody({ token }) });
      return json<CustomerSession>(response);
    },
  };
}

export interface ChangeRequest {
  /** The new price; empty: the same. */
  price_id: string;
  /** The new seat count; 0: unchanged. */
  seats: number;
}

export interface Invoice {
  blob: Blob;
  fileName: string;
}

export interface PortalApi {
  customer(): Promise<PortalCustomer>;
  subscriptions(): Promise<PortalSubscription[]>;
  cancel(subscriptionId: string, comment: string): Promise<PortalSubscription>;
  uncancel(subscriptionId: string): Promise<PortalSubscription>;
  previewChange(subscriptionId: string, change: ChangeRequest): Promise<PortalSubscriptionChangePreview>;
  change(subscriptionId: string, change: ChangeRequest): Promise<PortalSubscription>;
  orders(): Promise<PortalOrder[]>;
  /** The order's invoice as a PDF (fetched with the token: a plain link
   * could not carry it). */
  invoice(order: PortalOrder): Promise<Invoice>;
  paymentMethods(): Promise<PortalPaymentMethod[]>;
  createSetupIntent(): Promise<PortalSetupIntent>;
  syncSetupIntent(setupIntentId: string): Promise<PortalSetupIntent>;
  setDefaultPaymentMethod(paymentMethodId: string): Promise<PortalPaymentMethod>;
  detachPaymentMethod(paymentMethodId: string): Promise<PortalPaymentMethod>;
  meters(): Promise<PortalCustomerMeter[]>;
  benefitGrants(): Promise<BenefitGrant[]>;
  licenseKeys(): Promise<PortalLicenseKey[]>;
  activations(licenseKeyId: string): Promise<LicenseKeyActivation[]>;
  deactivate(licenseKeyId: string, activationId: string): Promise<PortalLicenseKey>;
}

export interface PortalApiOptions {
  fetcher?: Fetch;
  /** Called on any 401 (before the call's ApiError is thrown). */
  onUnauthorized?: (status: ApiStatus) => void;
  /** A new Idempotency-Key (default: a random UUID). */
  newKey?: () => string;
}

export const PORTAL_PREFIX = 'v1/customer-portal/';

export function portalUrl(base: string, path: string, query: Record<string, string> = {}): string {
  const url = new URL(under(base, PORTAL_PREFIX + path));
  for (const [name, value] of Object.entries(query)) if (value) url.searchParams.set(name, value);
  return url.toString();
}

/** "invoice-2026-0001.pdf": the file name a download is saved under. */
export function invoiceFileName(order: PortalOrder): string {
  const name = (order.invoice_number || order.id).replace(/[^A-Za-z0-9_-]+/g, '-');
  return `invoice-${name}.pdf`;
}

/** 128 random bits in hex: an Idempotency-Key. (crypto.randomUUID exists
 * only in secure contexts; getRandomValues everywhere.) */
export function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The portal's calls with the session `token`, against the gateway at `base`. */
export function portalApi(base: string, token: string, options: PortalApiOptions = {}): PortalApi {
  const fetcher = options.fetcher ?? defaultFetch;
  const newKey = options.newKey ?? randomKey;
  const authorization = `Bearer ${token}`;

  async function call(url: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', authorization);
    try {
      return await send(fetcher, url, { ...init, headers });
    } catch (error) {
      if (error instanceof ApiError && error.status.httpStatus === 401) options.onUnauthorized?.(error.status);
      throw error;
    }
  }

  async function get<T>(path: string, query: Record<string, string> = {}): Promise<T> {
    return json<T>(await call(portalUrl(base, path, query), { method: 'GET' }));
  }

  async function post<T>(path: string, body: unknown = {}): Promise<T> {
    const key = newKey();
    const init = (): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    let response: Response;
    try {
      response = await call(portalUrl(base, path), init());
    } catch (error) {
      // The request may or may not have arrived: the same key again makes
      // the service do it at most once.
      if (!(error instanceof ApiError) || error.status.httpStatus !== 0) throw error;
      response = await call(portalUrl(base, path), init());
    }
    return json<T>(response);
  }

  async function list<T>(path: string, field: string): Promise<T[]> {
    const items: T[] = [];
    let pageToken = '';
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await get<Record<string, unknown>>(path, { page_size: String(PAGE_SIZE), page_token: pageToken });
      const found = body[field];
      if (Array.isArray(found)) items.push(...(found as T[]));
      pageToken = typeof body['next_page_token'] === 'string' ? body['next_page_token'] : '';
      if (!pageToken) break;
    }
    return items;
  }

  return {
    customer: () => get('customer'),
    subscriptions: () => list('subscriptions', 'subscriptions'),
    cancel: (subscription, comment) => post(`subscriptions/${id(subscription)}:cancel`, comment ? { comment } : {}),
    uncancel: (subscription) => post(`subscriptions/${id(subscription)}:uncancel`),
    previewChange: (subscription, change) => post(`subscriptions/${id(subscription)}:preview-change`, change),
    change: (subscription, change) => post(`subscriptions/${id(subscription)}:change`, change),
    orders: () => list('orders', 'orders'),
    async invoice(order) {
      const response = await call(portalUrl(base, `orders/${id(order.id)}/invoice`), {
        method: 'GET',
        headers: { accept: 'application/pdf' },
      });
      const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/pdf') throw new ApiError(statusOf(response.status, null));
      return { blob: await response.blob(), fileName: invoiceFileName(order) };
    },
    paymentMethods: () => list('payment-methods', 'payment_methods'),
    createSetupIntent: () => post('setup-intents'),
    syncSetupIntent: (intent) => post(`setup-intents/${id(intent)}:sync`),
    setDefaultPaymentMethod: (method) => post(`payment-methods/${id(method)}:set-default`),
    detachPaymentMethod: (method) => post(`payment-methods/${id(method)}:detach`),
    meters: () => list('meters', 'customer_meters'),
    benefitGrants: () => list('benefit-grants', 'benefit_grants'),
    licenseKeys: () => list('license-keys', 'license_keys'),
    activations: (key) => list(`license-keys/${id(key)}/activations`, 'activations'),
    deactivate: (key, activation) => post(`license-keys/${id(key)}/activations/${id(activation)}:deactivate`),
  };
}
