// The fetch the openapi-fetch client calls: one logical call, with retries.
// Retried: 429, 5xx other than 501, a 409 whose google.rpc.Status code is 10
// (ABORTED: a transient conflict, e.g. CONCURRENT_CHANGE or
// METER_CATCHING_UP), and network errors (no answer, timeout), with
// exponential backoff and jitter, or exactly the server's Retry-After.
// Every attempt sends the same request, so a mutation's Idempotency-Key (set
// once per logical call, before this runs) is the same on every attempt.
import { NetworkError, parseRetryAfter } from './errors.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 3; 0 turns retries off). */
  maxRetries?: number;
  /** First backoff, before jitter (default 500 ms); doubles each retry. */
  initialDelayMs?: number;
  /** Longest backoff (default 8000 ms). */
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error is thrown (default 60000 ms). */
  maxRetryAfterMs?: number;
}

export interface TransportOptions extends RetryOptions {
  fetch: typeof globalThis.fetch;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** Per attempt, in milliseconds. */
  timeoutMs: number;
}

export const DEFAULT_RETRY = {
  maxRetries: 3,
  initialDelayMs: 500,
  maxDelayMs: 8000,
  maxRetryAfterMs: 60_000,
} as const;

export const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

export const isRetryableStatus = (status: number): boolean =>
  status === 429 || (status >= 500 && status !== 501);

/** `google.rpc.Code` ABORTED: the server answers a transient conflict (a
 * serialization failure or deadlock, reason CONCURRENT_CHANGE; metering's
 * METER_CATCHING_UP) with HTTP 409 and this code. A 409 with any other code
 * (6 ALREADY_EXISTS: a duplicate externalId) is never retried. */
export const ABORTED = 10;

/** Whether a 409 answer is a transient conflict (its body's code is ABORTED).
 * Reads a clone, so the answer itself stays unread. */
async function isAborted(response: Response): Promise<boolean> {
  try {
    const body: unknown = await response.clone().json();
    return typeof body === 'object' && body !== null && (body as { code?: unknown }).code === ABORTED;
  } catch {
    return false;
  }
}

async function isRetryable(response: Response): Promise<boolean> {
  if (response.status === 409) return isAborted(response);
  return isRetryableStatus(response.status);
}

/** The wait before retry number `retry` (0-based): half fixed, half random. */
export function backoffMs(retry: number, options: TransportOptions): number {
  const initial = options.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  const ceiling = Math.min(max, initial * 2 ** retry);
  return Math.round(ceiling / 2 + (options.random() * ceiling) / 2);
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // already consumed or closed: nothing to free
  }
}

export function retryingFetch(options: TransportOptions): (request: Request) => Promise<Response> {
  const maxRetries = Math.max(0, options.maxRetries ?? DEFAULT_RETRY.maxRetries);
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_RETRY.maxRetryAfterMs;
  return async (request: Request): Promise<Response> => {
    // Read the body once; each attempt sends the same bytes and headers.
    const body = request.body === null ? undefined : await request.arrayBuffer();
    const userSignal = request.signal;
    for (let retry = 0; ; retry++) {
      const timeout = AbortSignal.timeout(options.timeoutMs);
      let response: Response;
      try {
        const init: RequestInit = {
          method: request.method,
          headers: request.headers,
          redirect: request.redirect,
          signal: AbortSignal.any([userSignal, timeout]),
        };
        if (body !== undefined) init.body = body;
        response = await options.fetch(request.url, init);
      } catch (error) {
        if (userSignal.aborted) throw error; // the caller gave up: no retry
        const timedOut = timeout.aborted;
        if (retry >= maxRetries) {
          const why = timedOut
            ? `timed out after ${options.timeoutMs} ms`
            : error instanceof Error
              ? (error.cause instanceof Error ? error.cause.message : '') || error.message
              : String(error);
          throw new NetworkError(
            `${request.method} ${new URL(request.url).pathname}: no answer (${why})` +
              (maxRetries ? ` after ${retry + 1} attempts` : ''),
            { cause: error },
          );
        }
        await options.sleep(backoffMs(retry, options));
        continue;
      }
      if (retry >= maxRetries || !(await isRetryable(response))) return response;
      const header = response.headers.get('retry-after');
      const retryAfter = header == null ? undefined : parseRetryAfter(header);
      if (retryAfter !== undefined && retryAfter > maxRetryAfterMs) return response;
      await discard(response);
      await options.sleep(retryAfter ?? backoffMs(retry, options));
    }
  };
}
