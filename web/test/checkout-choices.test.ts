import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cycleOfPrice, offerFor, parseSeats, priceForCycle, seatRange } from '../src/checkout/choices.js';
import type { PublicProduct } from '../src/shared/catalog.js';

const MONTH = { interval: 'INTERVAL_MONTH', count: 1 } as const;
const YEAR = { interval: 'INTERVAL_YEAR', count: 1 } as const;

// In the link's order (not cheapest first, as the pricing table sorts them).
const OFFER: PublicProduct[] = [
  {
    id: 'pro',
    name: 'Pro',
    recurring: MONTH,
    prices: [
      { id: 'pro-m', currency: 'USD', recurring: MONTH, fixed: { amount_minor: '2900' } },
      { id: 'pro-y', currency: 'USD', recurring: YEAR, fixed: { amount_minor: '29000' } },
      { id: 'pro-m-eur', currency: 'EUR', recurring: MONTH, fixed: { amount_minor: '2700' } },
    ],
  },
  {
    id: 'team',
    name: 'Team',
    recurring: MONTH,
    prices: [
      {
        id: 'team-m',
        currency: 'USD',
        recurring: MONTH,
        seat_based: { tiers: [{ from_seats: 1, amount_per_seat_minor: '1200' }], minimum_seats: 3, maximum_seats: 50 },
      },
    ],
  },
];

test('the offer keeps the link order and shows the chosen period', () => {
  const monthly = offerFor(OFFER, 'month', 'en-US');
  assert.deepEqual(monthly.cycles, ['month', 'year']);
  assert.deepEqual(monthly.plans.map((plan) => plan.name), ['Pro', 'Team']);
  assert.deepEqual(monthly.plans[0]!.options.map((o) => o.priceId), ['pro-m', 'pro-m-eur']);
  const yearly = offerFor(OFFER, 'year', 'en-US');
  assert.deepEqual(yearly.plans[0]!.options.map((o) => [o.priceId, o.amount, o.cadence]), [['pro-y', '$290', '/ year']]);
  // Team has no yearly price: it keeps its own, labelled so.
  assert.equal(yearly.plans[1]!.options[0]!.cadence, 'per seat / month');
});

test('moving the toggle picks the same product in the other period', () => {
  assert.equal(cycleOfPrice(OFFER, 'pro-y'), 'year');
  assert.equal(cycleOfPrice(OFFER, 'nope'), null);
  assert.equal(priceForCycle(OFFER, 'pro-m', 'year'), 'pro-y');
  assert.equal(priceForCycle(OFFER, 'pro-y', 'month'), 'pro-m'); // USD first, as chosen
  assert.equal(priceForCycle(OFFER, 'pro-m', 'month'), null); // nothing to change
  assert.equal(priceForCycle(OFFER, 'team-m', 'year'), null); // Team has only monthly
});

test('seats stay within the price bounds', () => {
  const range = seatRange(OFFER[1]!.prices![0]);
  assert.deepEqual(range, { min: 3, max: 50 });
  assert.equal(seatRange(OFFER[0]!.prices![0]), null);
  assert.deepEqual(seatRange({ id: 's', currency: 'USD', seat_based: {} }), { min: 1, max: null });
  assert.deepEqual(parseSeats(' 7 ', range!), { seats: 7 });
  assert.deepEqual(parseSeats('2', range!), { error: 'At least 3 seats.' });
  assert.deepEqual(parseSeats('51', range!), { error: 'At most 50 seats.' });
  assert.deepEqual(parseSeats('3.5', range!), { error: 'Enter a whole number of seats.' });
});
