import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COUNTRY_CODES, countries } from '../src/checkout/countries.js';

test('every assigned code, named by the browser and sorted by name', () => {
  assert.equal(COUNTRY_CODES.length, 249);
  const listed = countries('en-US');
  assert.equal(listed.length, 249);
  assert.deepEqual(listed.find((country) => country.code === 'DE'), { code: 'DE', name: 'Germany' });
  const names = listed.map((country) => country.name);
  assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b, 'en-US')));
  assert.equal(countries('de-DE').find((country) => country.code === 'DE')?.name, 'Deutschland');
});
