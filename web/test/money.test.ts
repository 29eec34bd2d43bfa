import assert from 'node:assert/strict';
import { test } from 'node:test';
import { minorUnitExponent } from '../src/shared/currencies.js';
import { formatMinor, minorToMajor } from '../src/shared/money.js';

test('minor units scale by the currency exponent, as text', () => {
  assert.equal(minorToMajor('2900', 2), '29.00');
  assert.equal(minorToMajor('5', 2), '0.05');
  assert.equal(minorToMajor('0', 2), '0.00');
  assert.equal(minorToMajor('5000', 0), '5000');
  assert.equal(minorToMajor('1250', 3), '1.250');
  assert.equal(minorToMajor('-150', 2), '-1.50');
  // Usage prices: decimal minor units (0.0125 cents).
  assert.equal(minorToMajor('0.0125', 2), '0.000125');
  assert.equal(minorToMajor('12.5', 2), '0.125');
  // Past a float's precision: still exact.
  assert.equal(minorToMajor('9007199254740993', 2), '90071992547409.93');
  assert.equal(minorToMajor('12e3', 2), null);
  assert.equal(minorToMajor('', 2), null);
});

test('exponents follow ISO 4217 as the catalog does, not Intl', () => {
  assert.equal(minorUnitExponent('JPY'), 0);
  assert.equal(minorUnitExponent('usd'), 2);
  assert.equal(minorUnitExponent('KWD'), 3);
  assert.equal(minorUnitExponent('IQD'), 3); // Intl shows 0 digits
});

test('amounts are formatted with their currency, whole ones without cents', () => {
  assert.equal(formatMinor('2900', 'USD', 'en-US'), '$29');
  assert.equal(formatMinor('2950', 'USD', 'en-US'), '$29.50');
  assert.equal(formatMinor('29000', 'USD', 'en-US'), '$290');
  assert.equal(formatMinor('5000', 'JPY', 'en-US'), '¥5,000');
  // Intl puts a no-break space between a code and the number.
  assert.equal(formatMinor('1250', 'KWD', 'en-US'), 'KWD\u00a01.250');
  assert.equal(formatMinor('1500', 'IQD', 'en-US'), 'IQD\u00a01.500');
  assert.equal(formatMinor('2900', 'EUR', 'de-DE'), '29\u00a0€');
  assert.equal(formatMinor('0.0125', 'USD', 'en-US'), '$0.000125');
  assert.equal(formatMinor('9007199254740993', 'USD', 'en-US'), '$90,071,992,547,409.93');
});
