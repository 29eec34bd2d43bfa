// Typed errors. The gateway answers every failure with a JSON body in the
// `google.rpc.Status` shape:
//   {"code": 3, "message": "customer.email: must be a valid email address",
//    "details": [
//      {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_ARGUMENT",
//       "domain": "billingos.dev", "metadata": {...}},
//      {"@type": "type.googleapis.com/google.rpc.BadRequest",
//       "field_violations": [{"field": "customer.email", "description": "..."}]}]}
// Error bodies are kept as sent (no camelCase conversion): `status.details`
// is the raw list, and the useful parts are lifted onto the error.

/** One entry of `google.rpc.Status.details`. */
export interface StatusDetail {
  '@type': string;
  [key: string]: unknown;
}

/** The `google.rpc.Status` the gateway sends as an error body. */
export interface RpcStatus {
  /** The `google.rpc.Code` (3 INVALID_ARGUMENT, 5 NOT_FOUND, 16 UNAUTHENTICATED, ...). */
  code: number;
  message: string;
  details: StatusDetail[];
}

/** A `google.rpc.BadRequest.FieldViolation`: the field is the wire (snake_case) path. */
export interface FieldViolation {
  field: string;
  description: string;
}

export interface BillingOSErrorInit {
  /** HTTP status; undefined for a network error. */
  status?: number | undefined;
  rpcStatus?: RpcStatus | undefined;
  requestId?: string | undefined;
  headers?: Headers | undefined;
  body?: unknown;
  cause?: unknown;
}

const ERROR_INFO = 'google.rpc.ErrorInfo';
const BAD_REQUEST = 'google.rpc.BadRequest';

const typeOf = (detail: StatusDetail): string => String(detail['@type'] ?? '');

/** Any failed call. Subclasses say which kind; `reason` says exactly why. */
export class BillingOSError extends Error {
  /** HTTP status of the answer; undefined when none came (NetworkError). */
  readonly status: number | undefined;
  /** `google.rpc.Code` of the answer (e.g. 3 INVALID_ARGUMENT), when it had one. */
  readonly code: number | undefined;
  /** `google.rpc.ErrorInfo.reason`, e.g. `CUSTOMER_NOT_FOUND`, `ORGANIZATION_NOT_OWN`. */
  readonly reason: string | undefined;
  /** `google.rpc.ErrorInfo.domain` (`billingos.dev`). */
  readonly domain: string | undefined;
  /** `google.rpc.ErrorInfo.metadata`. */
  readonly metadata: Record<string, string>;
  /** `google.rpc.BadRequest.field_violations`: which fields were refused. */
  readonly fieldViolations: FieldViolation[];
  /** The whole `google.rpc.Status`, when the body was one. */
  readonly rpcStatus: RpcStatus | undefined;
  /** The `x-request-id` header of the answer: quote it when asking for help. */
  readonly requestId: string | undefined;
  /** Response headers, when an answer came. */
  readonly headers: Headers | undefined;
  /** The parsed (or text) error body as sent. */
  readonly body: unknown;

  constructor(message: string, init: BillingOSErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.rpcStatus = init.rpcStatus;
    this.code = init.rpcStatus?.code;
    this.requestId = init.requestId;
    this.headers = init.headers;
    this.body = init.body;
    const details = init.rpcStatus?.details ?? [];
    const info = details.find((d) => typeOf(d).endsWith(ERROR_INFO));
    this.reason = typeof info?.['reason'] === 'string' ? info['reason'] : undefined;
    this.domain = typeof info?.['domain'] === 'string' ? info['domain'] : undefined;
    const metadata = info?.['metadata'];
    this.metadata =
      metadata && typeof metadata === 'object' ? { ...(metadata as Record<string, string>) } : {};
    this.fieldViolations = details
      .filter((d) => typeOf(d).endsWith(BAD_REQUEST))
      .flatMap((d) => (Array.isArray(d['field_violations']) ? d['field_violations'] : []))
      .filter((v): v is Record<string, unknown> => !!v && typeof v === 'object')
      .map((v) => ({ field: String(v['field'] ?? ''), description: String(v['description'] ?? '') }));
  }

  /** The `google.rpc.Status.details` as sent. */
  get details(): StatusDetail[] {
    return this.rpcStatus?.details ?? [];
  }
}

/** 400: the request was refused as invalid; see `reason` and `fieldViolations`. */
export class InvalidRequestError extends BillingOSError {}
/** 401: missing, unknown or revoked API key (`API_KEY_MISSING`, `API_KEY_INVALID`). */
export class AuthenticationError extends BillingOSError {}
/** 403: the key may not do this (e.g. a read-only key writing). */
export class PermissionDeniedError extends BillingOSError {}
/** 404: unknown id, or another organization's resource. */
export class NotFoundError extends BillingOSError {}
/** 409: a duplicate (`EXTERNAL_ID_ALREADY_EXISTS`, ...) or a concurrent change. */
export class ConflictError extends BillingOSError {}
/** 429: too many requests; `retryAfter` is the server's Retry-After in seconds, if sent. */
export class RateLimitError extends BillingOSError {
  readonly retryAfter: number | undefined;
  constructor(message: string, init: BillingOSErrorInit = {}) {
    super(message, init);
    const header = init.headers?.get('retry-after');
    const ms = header == null ? undefined : parseRetryAfter(header);
    this.retryAfter = ms === undefined ? undefined : ms / 1000;
  }
}
/** 5xx: the suite failed (retried first, unless 501). */
export class ServerError extends BillingOSError {}
/** No answer: connection refused or reset, DNS, timeout (retried first). */
export class NetworkError extends BillingOSError {}

/** Retry-After (seconds or an HTTP date) in milliseconds; undefined if unreadable. */
export function parseRetryAfter(value: string, now: number = Date.now()): number | undefined {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function asRpcStatus(body: unknown): RpcStatus | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b['code'] !== 'number') return undefined;
  const details = Array.isArray(b['details'])
    ? (b['details'].filter((d) => d && typeof d === 'object') as StatusDetail[])
    : [];
  return { code: b['code'], message: typeof b['message'] === 'string' ? b['message'] : '', details };
}

/** The error for a non-2xx answer. */
export function errorFromResponse(response: Response, body: unknown): BillingOSError {
  const rpcStatus = asRpcStatus(body);
  const status = response.status;
  const text = typeof body === 'string' ? body.trim().slice(0, 300) : '';
  const message =
    rpcStatus?.message || text || `${status} ${response.statusText || 'error'}`.trim();
  const init: BillingOSErrorInit = {
    status,
    rpcStatus,
    requestId: response.headers.get('x-request-id') ?? undefined,
    headers: response.headers,
    body,
  };
  const Kind =
    status === 400
      ? InvalidRequestError
      : status === 401
        ? AuthenticationError
        : status === 403
          ? PermissionDeniedError
          : status === 404
            ? NotFoundError
            : status === 409
              ? ConflictError
              : status === 429
                ? RateLimitError
                : status >= 500
                  ? ServerError
                  : BillingOSError;
  return new Kind(message, init);
}
