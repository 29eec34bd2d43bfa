// The public checkout calls the page makes, on its own gateway (same origin,
// no key: each call names its link or carries the session's client secret):
//
//   POST  v1/public/organizations/{org}/checkout-links/{link}/sessions   open a session
//   GET   v1/public/checkout-sessions/{secret}                           read it
//   PATCH v1/public/checkout-sessions/{secret}?update_mask=...           change fields
//   POST  v1/public/checkout-sessions/{secret}:start-payment             Stripe.js parameters
//   POST  v1/public/checkout-sessions/{secret}:confirm                   after the card is saved
//
// Every failure is an ApiError carrying the google.rpc.Status it came with.

import { statusOf, statusOfResponse, type ApiStatus } from '../shared/status.js';
import type { EditableField, PublicCheckoutSession, SessionChanges } from './session.js';

export class ApiError extends Error {
  constructor(readonly status: ApiStatus) {
    super(status.message || `HTTP ${status.httpStatus}`);
  }
}

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface CheckoutApi {
  openFromLink(organizationId: string, linkId: string, priceId: string | null): Promise<PublicCheckoutSession>;
  get(secret: string): Promise<PublicCheckoutSession>;
  update(secret: string, changes: SessionChanges): Promise<PublicCheckoutSession>;
  startPayment(secret: string): Promise<PublicCheckoutSession>;
  confirm(secret: string): Promise<PublicCheckoutSession>;
}

// The mask lists fields in this order, whatever order they changed in.
const FIELD_ORDER: readonly EditableField[] = [
  'price_id',
  'seats',
  'customer_email',
  'customer_name',
  'billing_address',
  'discount_code',
];

/** The PATCH of `changes`: its update_mask and its body (the changed fields). */
export function updateRequest(changes: SessionChanges): { mask: string; body: SessionChanges } {
  const fields = FIELD_ORDER.filter((field) => field in changes);
  const body: Record<string, unknown> = {};
  for (const field of fields) body[field] = changes[field];
  return { mask: fields.join(','), body: body as SessionChanges };
}

function under(base: string, path: string): string {
  return new URL(path, base.endsWith('/') ? base : `${base}/`).toString();
}

export function sessionUrl(base: string, secret: string, verb = ''): string {
  return under(base, `v1/public/checkout-sessions/${encodeURIComponent(secret)}${verb}`);
}

export function openUrl(base: string, organizationId: string, linkId: string): string {
  const organization = encodeURIComponent(organizationId);
  return under(base, `v1/public/organizations/${organization}/checkout-links/${encodeURIComponent(linkId)}/sessions`);
}

/** The calls, against the gateway at `base` ("https://billing.example/"). */
export function checkoutApi(base: string, fetcher: Fetch = (url, init) => fetch(url, init)): CheckoutApi {
  async function call(method: string, url: string, body?: unknown): Promise<PublicCheckoutSession> {
    const init: RequestInit = { method, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      init.headers = { 'content-type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetcher(url, init);
    } catch {
      throw new ApiError(statusOf(0, null));
    }
    if (!response.ok) throw new ApiError(await statusOfResponse(response));
    try {
      return (await response.json()) as PublicCheckoutSession;
    } catch {
      throw new ApiError(statusOf(response.status, null));
    }
  }
  return {
    openFromLink: (organizationId, linkId, priceId) =>
      call('POST', openUrl(base, organizationId, linkId), priceId ? { price_id: priceId } : {}),
    get: (secret) => call('GET', sessionUrl(base, secret)),
    update: (secret, changes) => {
      const { mask, body } = updateRequest(changes);
      const url = new URL(sessionUrl(base, secret));
      url.searchParams.set('update_mask', mask);
      return call('PATCH', url.toString(), body);
    },
    startPayment: (secret) => call('POST', sessionUrl(base, secret, ':start-payment'), {}),
    confirm: (secret) => call('POST', sessionUrl(base, secret, ':confirm'), {}),
  };
}
