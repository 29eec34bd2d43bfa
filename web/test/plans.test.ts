import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PublicProduct } from '../src/shared/catalog.js';
import { availableCycles, plansFor } from '../src/shared/plans.js';

const MONTH = { interval: 'INTERVAL_MONTH', count: 1 } as const;
const YEAR = { interval: 'INTERVAL_YEAR', count: 1 } as const;

// The catalog lists newest first.
const CATALOG: PublicProduct[] = [
  {
    id: 'team',
    name: 'Team',
    description: 'Per seat',
    recurring: MONTH,
    prices: [
      {
        id: 'team-monthly',
        currency: 'USD',
        recurring: MONTH,
        seat_based: {
          tiers: [
            { from_seats: 1, to_seats: 10, amount_per_seat_minor: '1200' },
            { from_seats: 11, amount_per_seat_minor: '1000' },
          ],
        },
      },
    ],
  },
  {
    id: 'pro',
    name: 'Pro',
    description: 'For growing teams',
    recurring: MONTH,
    trial: { interval: 'INTERVAL_DAY', count: 14 },
    public_metadata: { features: 'Unlimited projects\n  Priority support\n\n' },
    prices: [
      { id: 'pro-monthly', currency: 'USD', recurring: MONTH, fixed: { amount_minor: '2900' } },
      { id: 'pro-yearly', currency: 'USD', recurring: YEAR, fixed: { amount_minor: '29000' } },
      { id: 'pro-tokens', currency: 'USD', recurring: MONTH, metered_unit: { unit_amount: '0.5' } },
    ],
  },
  {
    id: 'lifetime',
    name: 'Lifetime',
    prices: [{ id: 'lifetime-once', currency: 'JPY', fixed: { amount_minor: '50000' } }],
  },
  {
    id: 'hobby',
    name: 'Hobby',
    recurring: MONTH,
    prices: [{ id: 'hobby-free', currency: 'USD', recurring: MONTH, free: {} }],
  },
];

test('the toggle offers the periods some price is billed in', () => {
  assert.deepEqual(availableCycles(CATALOG), ['month', 'year']);
  assert.deepEqual(availableCycles(CATALOG.slice(0, 1)), ['month']);
  assert.deepEqual(availableCycles(CATALOG.slice(2, 3)), []);
});

test('monthly: cheapest first, metered prices listed with the static one', () => {
  const plans = plansFor(CATALOG, 'month', 'en-US');
  assert.deepEqual(
    plans.map((plan) => plan.name),
    ['Hobby', 'Pro', 'Lifetime', 'Team'], // free, $29, ¥50,000 once (counted as one month), seats last
  );
  const pro = plans[1]!;
  assert.equal(pro.trial, '14-day free trial');
  assert.deepEqual(pro.features, ['Unlimited projects', 'Priority support']);
  assert.equal(pro.options.length, 1);
  const [option] = pro.options;
  assert.equal(option!.priceId, 'pro-monthly');
  assert.equal(option!.amount, '$29');
  assert.equal(option!.cadence, '/ month');
  assert.deepEqual(option!.usage, ['+ $0.005 per unit']);
  assert.equal(option!.action, 'Start free trial');
  const team = plans[3]!.options[0]!;
  assert.equal(team.amount, 'From $12');
  assert.equal(team.cadence, 'per seat / month');
  assert.equal(plans[0]!.options[0]!.amount, 'Free');
  assert.equal(plans[0]!.options[0]!.action, 'Get started');
});

test('yearly: yearly prices; a product without one keeps its own period', () => {
  const plans = plansFor(CATALOG, 'year', 'en-US');
  const byName = new Map(plans.map((plan) => [plan.name, plan]));
  assert.equal(plans.length, 4);
  const pro = byName.get('Pro')!.options;
  assert.deepEqual(pro.map((o) => [o.priceId, o.amount, o.cadence]), [['pro-yearly', '$290', '/ year']]);
  assert.deepEqual(pro[0]!.usage, []);
  const team = byName.get('Team')!.options[0]!;
  assert.equal(team.cadence, 'per seat / month');
  const lifetime = byName.get('Lifetime')!.options[0]!;
  assert.deepEqual([lifetime.amount, lifetime.cadence, lifetime.action], ['¥50,000', 'one-time', 'Buy now']);
});

test('a description is shown when there is no feature list', () => {
  const [team] = plansFor(CATALOG.slice(0, 1), 'month', 'en-US');
  assert.equal(team!.description, 'Per seat');
  assert.deepEqual(team!.features, []);
});

test('benefits win over public_metadata once the catalog carries them', () => {
  const [plan] = plansFor(
    [{ ...CATALOG[1]!, benefits: [{ description: 'Seats for 5' }, 'API access', { name: '' }] }],
    'month',
    'en-US',
  );
  assert.deepEqual(plan!.features, ['Seats for 5', 'API access']);
});

test('a usage-only product has one button naming its first price', () => {
  const [plan] = plansFor(
    [
      {
        id: 'api',
        name: 'API',
        recurring: MONTH,
        prices: [
          { id: 'calls', currency: 'USD', recurring: MONTH, metered_package: { package_size: '1000', amount_per_package: '100' } },
          { id: 'storage', currency: 'USD', recurring: MONTH, metered_percentage: { rate: '2.9', fixed_fee_per_event: '30' } },
        ],
      },
    ],
    'month',
    'en-US',
  );
  const [option] = plan!.options;
  assert.equal(option!.priceId, 'calls');
  assert.deepEqual([option!.amount, option!.cadence], ['Usage-based', 'billed monthly']);
  assert.deepEqual(option!.usage, ['$1 per 1000 units', '+ 2.9% of volume + $0.30 per event']);
});
