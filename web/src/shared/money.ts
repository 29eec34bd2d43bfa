// Amounts from the catalog, shown as money. The API sends integers in the
// currency's minor unit as strings ("2900": $29.00), and usage prices decimal
// strings of minor units ("0.0125": an eightieth of a cent). Both are scaled
// as text, never through a float, and handed to Intl.NumberFormat as decimal
// strings, which it formats exactly.

import { minorUnitExponent } from './currencies.js';

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;
// Intl.NumberFormat takes at most this many fraction digits everywhere.
const MAX_FRACTION_DIGITS = 20;

/** "2900" with exponent 2 is "29.00"; "0.0125" is "0.000125"; "-5" is "-0.05".
 * Returns null for text that is not a plain decimal. */
export function minorToMajor(minor: string, exponent: number): string | null {
  const match = DECIMAL.exec(minor.trim());
  if (match === null) return null;
  const [, sign = '', whole = '', fraction = ''] = match;
  const digits = (whole + fraction).replace(/^0+(?=\d)/, '');
  const point = digits.length - fraction.length - exponent; // digits before the point
  const padded = point > 0 ? digits : '0'.repeat(1 - point) + digits;
  const at = Math.max(point, 1);
  const integer = padded.slice(0, at).replace(/^0+(?=\d)/, '');
  const decimals = padded.slice(at);
  return sign + integer + (decimals ? `.${decimals}` : '');
}

/** Fraction digits a major-unit decimal needs, trailing zeros past the
 * currency's own digits not counted ("0.000125" needs 6; "29.00" 2). */
function fractionDigitsNeeded(major: string, exponent: number): number {
  const fraction = major.split('.')[1] ?? '';
  const significant = fraction.replace(/0+$/, '').length;
  return Math.min(Math.max(significant, exponent), MAX_FRACTION_DIGITS);
}

/** An amount in minor units, formatted in the locale with its currency
 * ("$29", "$29.50", "¥5,000", "KWD 1.250"). Whole amounts drop their zero
 * cents, as pricing pages do, unless `allDigits` (an order's figures:
 * "$290.00" beside "$27.55"). */
export function formatMinor(minor: string, currency: string, locale?: string, allDigits = false): string {
  const exponent = minorUnitExponent(currency);
  const major = minorToMajor(minor, exponent);
  if (major === null) return `${minor} ${currency}`;
  const digits = fractionDigitsNeeded(major, exponent);
  try {
    const format = new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      minimumFractionDigits: Math.min(exponent, digits),
      maximumFractionDigits: digits,
      trailingZeroDisplay: allDigits ? 'auto' : 'stripIfInteger',
    });
    return format.format(major as `${number}`);
  } catch {
    // A code Intl does not know: the number and the code, still exact.
    return `${major} ${currency.toUpperCase()}`;
  }
}
