// camelCase in TypeScript, snake_case on the wire. Keys are converted
// recursively, except the keys inside free-form objects (`metadata`,
// `public_metadata`, `properties`, ...: see generated/free-form.ts), which are
// the merchant's own and pass through exactly as given.
import { FREE_FORM_KEYS, type FreeFormKey } from './generated/free-form.js';

/** `snake_case` -> `snakeCase`, at the type level. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** A wire (snake_case) type as the SDK shows it: camelCase keys, recursively,
 * free-form objects untouched. */
export type Camelize<T> = T extends readonly (infer Item)[]
  ? Camelize<Item>[]
  : T extends object
    ? {
        [K in keyof T as K extends string ? CamelCase<K> : K]: K extends FreeFormKey
          ? T[K]
          : Camelize<T[K]>;
      }
    : T;

const FREE_FORM: ReadonlySet<string> = new Set(FREE_FORM_KEYS);

export const camelCase = (key: string): string =>
  key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export const snakeCase = (key: string): string =>
  key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
};

function convert(value: unknown, rename: (key: string) => string, wireName: (key: string, renamed: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => convert(item, rename, wireName));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    const renamed = rename(key);
    out[renamed] = FREE_FORM.has(wireName(key, renamed)) ? item : convert(item, rename, wireName);
  }
  return out;
}

/** A camelCase request object as the wire's snake_case JSON. */
export function toWire<Wire>(value: Camelize<Wire>): Wire;
export function toWire(value: unknown): unknown;
export function toWire(value: unknown): unknown {
  return convert(value, snakeCase, (_key, renamed) => renamed);
}

/** A snake_case wire object as the SDK's camelCase. */
export function fromWire<Wire>(value: Wire): Camelize<Wire> {
  return convert(value, camelCase, (key) => key) as Camelize<Wire>;
}
