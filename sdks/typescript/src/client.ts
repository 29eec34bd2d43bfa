import { Core } from './core.js';
import { BenefitGrants } from './resources/benefit-grants.js';
import { Customers } from './resources/customers.js';
import { CustomerSessions } from './resources/customer-sessions.js';
import { Entitlements } from './resources/entitlements.js';
import { Events } from './resources/events.js';
import { Products } from './resources/products.js';
import { Subscriptions } from './resources/subscriptions.js';
import { WebhookEndpoints } from './resources/webhook-endpoints.js';
import { defaultSleep, type RetryOptions } from './transport.js';

/** BillingOS is self-hosted: there is no BillingOS-run server and no built-in
 * URL. A server name selects the merchant's own suite for that environment,
 * read from this environment variable. */
export const SERVER_URL_ENV = {
  production: 'BILLINGOS_PRODUCTION_URL',
  sandbox: 'BILLINGOS_SANDBOX_URL',
} as const;

export type ServerName = keyof typeof SERVER_URL_ENV;

/** The default per-attempt timeout: 30 s, as in the Python SDK. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export const SDK_VERSION = '0.1.0';

export interface BillingOSOptions extends RetryOptions {
  /** The API key (`Authorization: Bearer ...`). Default: the environment's
   * BILLINGOS_API_KEY (what `./billingos up` writes); BILLINGOS_ACCESS_TOKEN
   * is read as a fallback. */
  accessToken?: string | undefined;
  /** Which of your suites: 'sandbox' reads its URL from BILLINGOS_SANDBOX_URL,
   * 'production' from BILLINGOS_PRODUCTION_URL (an error when unset). */
  server?: ServerName | undefined;
  /** The base URL of your suite (e.g. `https://billing.example.com`, or
   * `http://127.0.0.1:8080` for `./billingos up`); wins over `server`.
   * Without either, the environment's BILLINGOS_URL. https only, except on
   * loopback (localhost, 127.0.0.0/8, ::1). */
  serverURL?: string | undefined;
  /** Per attempt, in milliseconds (default 30000). A timeout counts as a network error. */
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

/** Whether a URL's hostname (IPv6 in brackets, as `URL` gives it) is this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host === '[::1]') return true;
  const octets = host.split('.');
  return (
    octets.length === 4 &&
    octets[0] === '127' &&
    octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)
  );
}

/** `url` without trailing slashes; throws unless it is https, or http on loopback.
 * `source` says where it came from, for the message. */
function checkURL(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${source} is not a valid URL: ${JSON.stringify(url)}`);
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || !parsed.hostname) {
    throw new TypeError(`${source} must be an https:// URL, not ${JSON.stringify(url)}`);
  }
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
    throw new TypeError(
      `${source} must use https:// (http:// only on localhost, 127.0.0.0/8 or ::1, ` +
        `so the API key never crosses a network in clear text), not ${JSON.stringify(url)}`,
    );
  }
  return url.replace(/\/+$/, '');
}

/** The base URL a client with these options talks to, by precedence:
 * `serverURL`, then `server` (its environment variable), then BILLINGOS_URL;
 * otherwise an error. There is no default host. */
export function resolveServerURL(options: Pick<BillingOSOptions, 'server' | 'serverURL'> = {}): string {
  if (options.serverURL) return checkURL(options.serverURL, 'serverURL');
  if (options.server !== undefined) {
    const variable = Object.hasOwn(SERVER_URL_ENV, options.server)
      ? SERVER_URL_ENV[options.server]
      : undefined;
    if (!variable) {
      throw new TypeError(
        `server must be one of ${Object.keys(SERVER_URL_ENV).join(', ')}, got ${String(options.server)}`,
      );
    }
    const named = environment(variable);
    if (!named) {
      throw new TypeError(
        `server: '${options.server}' reads its URL from ${variable}, which is not set: ` +
          `set ${variable} to your ${options.server} suite's URL or pass serverURL`,
      );
    }
    return checkURL(named, variable);
  }
  const fromEnv = environment('BILLINGOS_URL');
  if (fromEnv) return checkURL(fromEnv, 'BILLINGOS_URL');
  throw new TypeError(
    'no BillingOS server: set BILLINGOS_URL or pass serverURL ' +
      `(or server: 'sandbox' | 'production' with ${Object.values(SERVER_URL_ENV).join(' / ')})`,
  );
}

/** The BillingOS API client. */
export class BillingOS {
  /** The base URL this client talks to. */
  readonly serverURL: string;
  /** The per-attempt timeout, in milliseconds. */
  readonly timeoutMs: number;
  readonly customers: Customers;
  readonly events: Events;
  readonly benefitGrants: BenefitGrants;
  readonly products: Products;
  readonly subscriptions: Subscriptions;
  readonly entitlements: Entitlements;
  readonly customerSessions: CustomerSessions;
  readonly webhookEndpoints: WebhookEndpoints;

  constructor(options: BillingOSOptions = {}) {
    const accessToken =
      options.accessToken ?? environment('BILLINGOS_API_KEY') ?? environment('BILLINGOS_ACCESS_TOKEN');
    if (!accessToken) {
      throw new TypeError('BillingOS needs an API key: pass { accessToken } or set BILLINGOS_API_KEY');
    }
    if (!/^[\x21-\x7e]+$/.test(accessToken)) {
      // Never quoted: the message must not carry a secret into a log.
      throw new TypeError(
        'the accessToken is not an API key: it must be printable ASCII without spaces or ' +
          'line breaks (check how it was read or pasted)',
      );
    }
    this.serverURL = resolveServerURL(options);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const core = new Core({
      baseUrl: this.serverURL,
      accessToken,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      sleep: options.sleep ?? defaultSleep,
      random: options.random ?? Math.random,
      timeoutMs: this.timeoutMs,
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
    this.webhookEndpoints = new WebhookEndpoints(core);
  }
}
