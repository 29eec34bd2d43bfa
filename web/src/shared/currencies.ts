// Digits after the decimal point of each currency BillingOS prices in: the
// catalog's amounts are integers in these minor units. A copy of
// pricing/src/billingos_pricing/currencies.py (ISO 4217), kept in step by
// tests/contract/test_web_packages.py. Intl's own digits are CLDR's display
// habits (IQD 0, IDR 2 but 0 in cash, ...), not the unit amounts count in, so
// they are never used to scale an amount.

const ZERO_DECIMAL = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF';
const THREE_DECIMAL = 'BHD IQD JOD KWD LYD OMR TND';

const EXPONENTS: ReadonlyMap<string, number> = new Map([
  ...ZERO_DECIMAL.split(' ').map((code): [string, number] => [code, 0]),
  ...THREE_DECIMAL.split(' ').map((code): [string, number] => [code, 3]),
]);

/** Digits after the decimal point: JPY 0, USD 2, KWD 3 (2 for any other code). */
export function minorUnitExponent(currency: string): number {
  return EXPONENTS.get(currency.toUpperCase()) ?? 2;
}
