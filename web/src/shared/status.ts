// BillingOS errors as the gateway sends them: a JSON `google.rpc.Status`
// ({code, message, details}) whose details carry an ErrorInfo (a stable
// `reason`, e.g. "DISCOUNT_NOT_ALLOWED") and, for bad input, a BadRequest's
// field violations ("checkout_session.customer_email": "must be a valid email
// address"). Pages decide what to show from the reason and the fields, never
// from the message's words.

export interface FieldViolation {
  field: string;
  description: string;
}

export interface ApiStatus {
  /** The HTTP status; 0 when the network failed (no answer at all). */
  httpStatus: number;
  /** The google.rpc code (5 NOT_FOUND, 9 FAILED_PRECONDITION, ...); 0 if unknown. */
  code: number;
  message: string;
  /** ErrorInfo's reason; "" when there is none. */
  reason: string;
  violations: FieldViolation[];
}

interface Detail {
  '@type'?: unknown;
  reason?: unknown;
  field_violations?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The status in an error body (any JSON, or null when it was not JSON). */
export function statusOf(httpStatus: number, body: unknown): ApiStatus {
  const status: ApiStatus = { httpStatus, code: 0, message: '', reason: '', violations: [] };
  if (!isRecord(body)) return status;
  if (typeof body['code'] === 'number') status.code = body['code'];
  if (typeof body['message'] === 'string') status.message = body['message'];
  const details = Array.isArray(body['details']) ? (body['details'] as Detail[]) : [];
  for (const detail of details) {
    if (!isRecord(detail) || typeof detail['@type'] !== 'string') continue;
    const type = detail['@type'];
    if (type.endsWith('google.rpc.ErrorInfo') && typeof detail.reason === 'string' && !status.reason) {
      status.reason = detail.reason;
    }
    if (type.endsWith('google.rpc.BadRequest') && Array.isArray(detail.field_violations)) {
      for (const violation of detail.field_violations as unknown[]) {
        if (!isRecord(violation)) continue;
        const field = violation['field'];
        const description = violation['description'];
        if (typeof field === 'string') {
          status.violations.push({ field, description: typeof description === 'string' ? description : '' });
        }
      }
    }
  }
  return status;
}

/** The status of a failed response (its body read as JSON if it is JSON). */
export async function statusOfResponse(response: Response): Promise<ApiStatus> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return statusOf(response.status, body);
}
