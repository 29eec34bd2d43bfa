import { Core } from './core.js';
import { BenefitGrants } from './resources/benefit-grants.js';
import { Customers } from './resources/customers.js';
import { CustomerSessions } from './resources/customer-sessions.js';
import { Entitlements } from './resources/entitlements.js';
import { Events } from './resources/events.js';
import { Products } from './resources/products.js';
import { Subscriptions } from './resources/subscriptions.js';
import { defaultSleep, type RetryOptions } from './transport.js';

/** The hosted BillingOS servers, by name. */
export const SERVERS = {
  production: 'https://api.billingos.dev',
  sandbox: 'https://sandbox-api.billingos.dev',
} as const;

export type ServerName = keyof typeof SERVERS;

export const SDK_VERSION = '0.1.0';

export interface BillingOSOptions extends RetryOptions {
  /** The API key (`Authorization: Bearer ...`). Default: the environment's
   * BILLINGOS_ACCESS_TOKEN (or BILLINGOS_API_KEY, as `./billingos up` writes it). */
  accessToken?: string | undefined;
  /** A hosted server: 'production' (the default) or 'sandbox'. */
  server?: ServerName | undefined;
  /** The base URL of a self-hosted suite (e.g. `http://127.0.0.1:8080`).
   * Default: the environment's BILLINGOS_URL. Either one wins over `server`. */
  serverURL?: string | undefined;
  /** Per attempt, in milliseconds (default 60000). A timeout counts as a network error. */
  timeoutMs?: number | undefined;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch | undefined;
  /** How to wait between retries (default setTimeout); tests inject their own. */
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** The jitter's random source in [0, 1) (default Math.random). */
  random?: (() => number) | undefined;
  /** Makes a mutation's Idempotency-Key (default crypto.randomUUID). */
  idempotencyKey?: (() => string) | undefined;
  /** User-Agent header; `false` sends none (default `billingos-typescript/<version>`). */
  userAgent?: string | false | undefined;
}

function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  const value = env?.[name];
  return value ? value : undefined;
}

/** The base URL a client with these options talks to. */
export function resolveServerURL(options: Pick<BillingOSOptions, 'server' | 'serverURL'> = {}): string {
  const explicit = options.serverURL ?? environment('BILLINGOS_URL');
  if (explicit) return explicit.replace(/\/+$/, '');
  const name = options.server ?? 'production';
  const url = SERVERS[name];
  if (!url) {
    throw new TypeError(`server must be one of ${Object.keys(SERVERS).join(', ')}, got ${String(name)}`);
  }
  return url;
}

/** The BillingOS API client. */
export class BillingOS {
  /** The base URL this client talks to. */
  readonly serverURL: string;
  readonly customers: Customers;
  readonly events: Events;
  readonly benefitGrants: BenefitGrants;
  readonly products: Products;
  readonly subscriptions: Subscriptions;
  readonly entitlements: Entitlements;
  readonly customerSessions: CustomerSessions;

  constructor(options: BillingOSOptions = {}) {
    const accessToken =
      options.accessToken ?? environment('BILLINGOS_ACCESS_TOKEN') ?? environment('BILLINGOS_API_KEY');
    if (!accessToken) {
      throw new TypeError(
        'BillingOS needs an API key: pass { accessToken } or set BILLINGOS_ACCESS_TOKEN',
      );
    }
    this.serverURL = resolveServerURL(options);
    const core = new Core({
      baseUrl: this.serverURL,
      accessToken,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      sleep: options.sleep ?? defaultSleep,
      random: options.random ?? Math.random,
      timeoutMs: options.timeoutMs ?? 60_000,
      idempotencyKey: options.idempotencyKey ?? (() => globalThis.crypto.randomUUID()),
      userAgent: options.userAgent === false ? undefined : (options.userAgent ?? `billingos-typescript/${SDK_VERSION}`),
      ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
      ...(options.initialDelayMs !== undefined ? { initialDelayMs: options.initialDelayMs } : {}),
      ...(options.maxDelayMs !== undefined ? { maxDelayMs: options.maxDelayMs } : {}),
      ...(options.maxRetryAfterMs !== undefined ? { maxRetryAfterMs: options.maxRetryAfterMs } : {}),
    });
    this.customers = new Customers(core);
    this.events = new Events(core);
    this.benefitGrants = new BenefitGrants(core);
    this.products = new Products(core);
    this.subscriptions = new Subscriptions(core);
    this.entitlements = new Entitlements(core);
    this.customerSessions = new CustomerSessions(core);
  }
}
