import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PublicProduct } from '../src/shared/catalog.js';
import { changeOptions, changeRequestOf, previewView } from '../src/portal/changes.js';
import type { PortalSubscription } from '../src/portal/types.js';

const YEAR = { interval: 'INTERVAL_YEAR', count: 1 } as const;
const MONTH = { interval: 'INTERVAL_MONTH', count: 1 } as const;

const PRODUCTS: PublicProduct[] = [
  {
    id: 'pro',
    name: 'Pro',
    recurring: MONTH,
    prices: [
      { id: 'pro-m', currency: 'USD', fixed: { amount_minor: '2900' } },
      { id: 'pro-y', currency: 'USD', recurring: YEAR, fixed: { amount_minor: '29000' } },
      { id: 'pro-y-eur', currency: 'EUR', recurring: YEAR, fixed: { amount_minor: '27000' } },
      { id: 'pro-usage', currency: 'USD', recurring: YEAR, metered_unit: { unit_amount: '1' } },
    ],
  },
  {
    id: 'team',
    name: 'Team',
    recurring: YEAR,
    prices: [
      {
        id: 'team-y',
        currency: 'usd',
        seat_based: { tiers: [{ from_seats: 1, amount_per_seat_minor: '8000' }], minimum_seats: 2, maximum_seats: 50 },
      },
    ],
  },
];

const SUBSCRIPTION: PortalSubscription = {
  id: 's',
  product_name: 'Pro',
  price_id: 'pro-y',
  currency: 'USD',
  recurring: YEAR,
  status: 'SUBSCRIPTION_STATUS_ACTIVE',
};

test('offered: static prices of the same currency and period, the current one first', () => {
  const options = changeOptions(SUBSCRIPTION, PRODUCTS, 'en-US');
  assert.deepEqual(
    options.map((option) => [option.priceId, option.productName, option.label, option.current, option.seats]),
    [
      ['pro-y', 'Pro', '$290 / year', true, null],
      ['team-y', 'Team', '$80 per seat / year', false, { min: 2, max: 50 }],
    ],
  );
  assert.deepEqual(changeOptions({ ...SUBSCRIPTION, recurring: MONTH, price_id: 'pro-m' }, PRODUCTS, 'en-US').map((o) => o.priceId), [
    'pro-m',
  ]);
  assert.deepEqual(changeOptions({ ...SUBSCRIPTION, currency: 'GBP' }, PRODUCTS), []);
});

test('what a change asks for', () => {
  const [current, team] = changeOptions(SUBSCRIPTION, PRODUCTS, 'en-US');
  assert.ok(current && team);
  assert.deepEqual(changeRequestOf(SUBSCRIPTION, team, '5'), { request: { price_id: 'team-y', seats: 5 } });
  assert.deepEqual(changeRequestOf(SUBSCRIPTION, team, '1'), { error: 'At least 2 seats.' });
  assert.deepEqual(changeRequestOf(SUBSCRIPTION, team, 'x'), { error: 'Enter a whole number of seats.' });
  assert.deepEqual(changeRequestOf(SUBSCRIPTION, current, ''), { error: 'Choose another plan or number of seats.' });
  // Seats alone, on a seat-based price the customer has.
  const seated: PortalSubscription = { ...SUBSCRIPTION, price_id: 'team-y', seats: 3 };
  const [same] = changeOptions(seated, PRODUCTS, 'en-US');
  assert.ok(same?.current);
  assert.deepEqual(changeRequestOf(seated, same, '4'), { request: { price_id: '', seats: 4 } });
  assert.deepEqual(changeRequestOf(seated, same, '3'), { error: 'Choose another plan or number of seats.' });
});

test("the preview: its proration lines, tax, credit and what is due now", () => {
  const view = previewView(
    SUBSCRIPTION,
    {
      product_name: 'Team',
      seats: 5,
      proration_behavior: 'PRORATION_BEHAVIOR_INVOICE_NOW',
      effective_time: '2026-12-01T10:00:00Z',
      proration_lines: [
        { description: 'Unused time on Pro', amount_minor: '-14500' },
        { description: 'Remaining time on Team × 5', amount_minor: '20000' },
      ],
      invoice_now: {
        currency: 'USD',
        subtotal_minor: '5500',
        tax_minor: '1045',
        inclusive_tax_minor: '0',
        tax_rate_percent: '19',
        credit_applied_minor: '500',
        amount_due_minor: '6045',
      },
      amount_due_now_minor: '6045',
      next_renewal: { currency: 'USD', total_minor: '47600', period_start: '2027-03-03T12:00:00Z' },
    },
    'en-US',
  );
  assert.deepEqual(
    view.rows.map((row) => [row.kind, row.label, row.amount]),
    [
      ['line', 'Unused time on Pro', '-$145.00'],
      ['line', 'Remaining time on Team × 5', '$200.00'],
      ['tax', 'Tax (19%)', '$10.45'],
      ['credit', 'Credit applied', '-$5.00'],
      ['due', 'Due now', '$60.45'],
    ],
  );
  assert.equal(view.headline, 'Team, 5 seats');
  assert.equal(view.effective, 'The change takes effect now.');
  assert.equal(view.nextRenewal, 'Then $476.00 at the next renewal, on March 3, 2027.');
  assert.equal(view.announcement, 'Team, 5 seats: $60.45 due now. The change takes effect now.');
});

test('the difference billed later, or not at all', () => {
  const later = previewView(
    SUBSCRIPTION,
    { product_name: 'Team', proration_behavior: 'PRORATION_BEHAVIOR_NEXT_INVOICE', amount_due_now_minor: '0' },
    'en-US',
  );
  assert.equal(later.effective, 'The change takes effect now; the difference is billed with your next renewal.');
  const none = previewView(SUBSCRIPTION, { proration_behavior: 'PRORATION_BEHAVIOR_NONE' }, 'en-US');
  assert.match(none.effective, /neither charged nor credited/);
  assert.equal(none.headline, 'Pro');
});

test('a change at the period end bills nothing now', () => {
  const view = previewView(
    SUBSCRIPTION,
    {
      product_name: 'Team',
      proration_behavior: 'PRORATION_BEHAVIOR_AT_PERIOD_END',
      effective_time: '2027-03-03T12:00:00Z',
      amount_due_now_minor: '0',
    },
    'en-US',
  );
  assert.deepEqual(view.rows, [{ kind: 'due', label: 'Due now', amount: '$0.00' }]);
  assert.equal(view.effective, 'The change takes effect on March 3, 2027.');
  assert.equal(view.nextRenewal, '');
});
