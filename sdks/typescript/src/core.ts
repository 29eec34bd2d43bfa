// What every resource shares: the typed openapi-fetch client, the retrying
// transport, idempotency keys and error mapping.
import createClient, { type Client } from 'openapi-fetch';

import { fromWire, type Camelize } from './case.js';
import { errorFromResponse } from './errors.js';
import type { paths } from './generated/openapi.js';
import { DEFAULT_RETRY, retryingFetch, type RetryOptions, type TransportOptions } from './transport.js';
import type { MutationOptions, RequestOptions } from './types.js';

export interface CoreOptions extends RetryOptions {
  baseUrl: string;
  accessToken: string;
  fetch: typeof globalThis.fetch;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  timeoutMs: number;
  idempotencyKey: () => string;
  userAgent: string | undefined;
}

type Result<Data> = { data?: Data; error?: unknown; response: Response };

export class Core {
  readonly client: Client<paths>;
  readonly #options: CoreOptions;

  constructor(options: CoreOptions) {
    this.#options = options;
    const headers: Record<string, string> = { Authorization: `Bearer ${options.accessToken}` };
    if (options.userAgent) headers['User-Agent'] = options.userAgent;
    this.client = createClient<paths>({ baseUrl: options.baseUrl, headers });
  }

  #transport(options: RequestOptions | undefined): (request: Request) => Promise<Response> {
    const transport: TransportOptions = {
      fetch: this.#options.fetch,
      sleep: this.#options.sleep,
      random: this.#options.random,
      timeoutMs: options?.timeoutMs ?? this.#options.timeoutMs,
      maxRetries: options?.maxRetries ?? this.#options.maxRetries ?? DEFAULT_RETRY.maxRetries,
    };
    if (this.#options.initialDelayMs !== undefined) transport.initialDelayMs = this.#options.initialDelayMs;
    if (this.#options.maxDelayMs !== undefined) transport.maxDelayMs = this.#options.maxDelayMs;
    if (this.#options.maxRetryAfterMs !== undefined) transport.maxRetryAfterMs = this.#options.maxRetryAfterMs;
    return retryingFetch(transport);
  }

  /** The fetch options of a read (GET): no Idempotency-Key. */
  read(options?: RequestOptions) {
    return {
      fetch: this.#transport(options),
      ...(options?.signal ? { signal: options.signal } : {}),
    };
  }

  /** The fetch options and the Idempotency-Key header of a mutation: one key
   * per logical call, sent unchanged on each retry. */
  write(options?: MutationOptions) {
    return {
      header: { 'Idempotency-Key': options?.idempotencyKey ?? this.#options.idempotencyKey() },
      init: this.read(options),
    };
  }

  /** The data of a 2xx answer, camelCased; anything else as a typed error. */
  unwrap<Data>(result: Result<Data>): Camelize<Data> {
    if (!result.response.ok) throw errorFromResponse(result.response, result.error);
    return fromWire((result.data ?? {}) as Data);
  }
}

/** A path parameter: a non-empty string (an empty one would name another route). */
export function required(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}
