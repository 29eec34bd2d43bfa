import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  activationsText,
  cardExpired,
  cardExpiry,
  cardName,
  discountText,
  grantView,
  licenseKeyStatus,
  orderDescription,
  orderStatus,
  quantityText,
  subscriptionActions,
  subscriptionPrice,
  subscriptionStanding,
  subscriptionStatus,
} from '../src/portal/describe.js';
import type { PortalSubscription } from '../src/portal/types.js';

const YEARLY: PortalSubscription = {
  id: 's',
  product_name: 'Pro',
  currency: 'USD',
  status: 'SUBSCRIPTION_STATUS_ACTIVE',
  recurring: { interval: 'INTERVAL_YEAR', count: 1 },
  seats: 0,
  period_amount_minor: '29000',
  current_period_end: '2027-03-03T12:00:00Z',
  cancel_at_period_end: false,
};

test('price: the period amount with every digit, its period and seats', () => {
  assert.equal(subscriptionPrice(YEARLY, 'en-US'), '$290.00 / year');
  assert.equal(
    subscriptionPrice(
      { ...YEARLY, recurring: { interval: 'INTERVAL_MONTH', count: 3 }, seats: 3, period_amount_minor: '8700' },
      'en-US',
    ),
    '$87.00 / 3 months for 3 seats',
  );
  assert.equal(subscriptionPrice({ ...YEARLY, currency: 'JPY', period_amount_minor: '50000' }, 'en-US'), '¥50,000 / year');
  const metered = { ...YEARLY, period_amount_minor: '0', items: [{ price: { id: 'p', currency: 'USD', metered_unit: {} } }] };
  assert.equal(subscriptionPrice(metered, 'en-US'), 'Billed by usage every year');
  assert.equal(subscriptionPrice({ ...YEARLY, period_amount_minor: '0', items: [] }, 'en-US'), 'Free');
});

test('standing: renews, cancels, ended, trial, past due', () => {
  assert.equal(subscriptionStanding(YEARLY, 'en-US'), 'Renews on March 3, 2027');
  assert.equal(subscriptionStanding({ ...YEARLY, cancel_at_period_end: true }, 'en-US'), 'Cancels on March 3, 2027');
  assert.equal(
    subscriptionStanding({ ...YEARLY, status: 'SUBSCRIPTION_STATUS_CANCELED', end_time: '2026-01-02T00:00:00Z' }, 'en-US'),
    'Ended on January 2, 2026',
  );
  assert.equal(
    subscriptionStanding({ ...YEARLY, status: 'SUBSCRIPTION_STATUS_TRIALING', trial_end: '2026-12-15T00:00:00Z' }, 'en-US'),
    'Free trial until December 15, 2026; first payment then',
  );
  assert.match(
    subscriptionStanding({ ...YEARLY, status: 'SUBSCRIPTION_STATUS_PAST_DUE', next_retry_time: '2026-12-03T00:00:00Z' }, 'en-US'),
    /tried again on December 3, 2026/,
  );
});

test('status badges: canceling is said whatever the status', () => {
  assert.deepEqual(subscriptionStatus(YEARLY), { label: 'Active', tone: 'good' });
  assert.deepEqual(subscriptionStatus({ ...YEARLY, cancel_at_period_end: true }), { label: 'Canceling', tone: 'warning' });
  assert.deepEqual(subscriptionStatus({ ...YEARLY, status: 'SUBSCRIPTION_STATUS_PAST_DUE' }), { label: 'Past due', tone: 'warning' });
  assert.deepEqual(subscriptionStatus({ ...YEARLY, status: 'SUBSCRIPTION_STATUS_CANCELED' }), { label: 'Ended', tone: 'neutral' });
});

test('actions: cancel a live one, uncancel a canceling one, change a live one', () => {
  assert.deepEqual(subscriptionActions(YEARLY), { cancel: true, uncancel: false, change: true });
  assert.deepEqual(subscriptionActions({ ...YEARLY, cancel_at_period_end: true }), {
    cancel: false,
    uncancel: true,
    change: false,
  });
  assert.deepEqual(subscriptionActions({ ...YEARLY, status: 'SUBSCRIPTION_STATUS_PAST_DUE' }), {
    cancel: true,
    uncancel: false,
    change: false,
  });
  for (const status of ['SUBSCRIPTION_STATUS_CANCELED', 'SUBSCRIPTION_STATUS_INCOMPLETE', 'SUBSCRIPTION_STATUS_UNPAID'] as const) {
    assert.deepEqual(subscriptionActions({ ...YEARLY, status }), { cancel: false, uncancel: false, change: false }, status);
  }
});

test('discounts', () => {
  assert.equal(discountText(YEARLY), '');
  assert.equal(
    discountText({ ...YEARLY, discount: { name: 'Launch', percent_off_basis_points: 2000, remaining_orders: 1 } }, 'en-US'),
    'Launch: 20% off on the next order',
  );
  assert.equal(
    discountText({ ...YEARLY, discount: { name: '', amount_off_minor: '500', end_time: '2027-01-01T00:00:00Z' } }, 'en-US'),
    '$5.00 off until January 1, 2027',
  );
});

test('orders: status and what they were for', () => {
  assert.deepEqual(orderStatus({ id: 'o', status: 'ORDER_STATUS_PAID' }), { label: 'Paid', tone: 'good' });
  assert.deepEqual(orderStatus({ id: 'o', status: 'ORDER_STATUS_PENDING' }), { label: 'Payment due', tone: 'warning' });
  assert.equal(
    orderDescription({
      id: 'o',
      billing_reason: 'BILLING_REASON_SUBSCRIPTION_CREATE',
      lines: [{ description: ' ' }, { description: 'Pro (yearly)' }],
    }),
    'New subscription: Pro (yearly)',
  );
  assert.equal(orderDescription({ id: 'o', billing_reason: 'BILLING_REASON_SUBSCRIPTION_CYCLE' }), 'Renewal');
});

test('cards: brand and last four, expiry at the end of its month', () => {
  const card = { id: 'pm', brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034 };
  assert.equal(cardName(card), 'Visa ending in 4242');
  assert.equal(cardName({ id: 'pm', brand: 'amex', last4: '0005' }), 'American Express ending in 0005');
  assert.equal(cardName({ id: 'pm', brand: 'newnet' }), 'Newnet');
  const december = new Date('2034-12-31T23:00:00Z');
  assert.equal(cardExpired(card, december), false);
  assert.equal(cardExpiry(card, december), 'Expires 12/2034');
  assert.equal(cardExpiry({ ...card, exp_month: 1 }, december), 'Expired 01/2034');
  assert.equal(cardExpiry({ id: 'pm' }, december), '');
});

test('license keys and grants', () => {
  assert.equal(activationsText({ id: 'k', activations: 1, activation_limit: 2 }), '1 of 2 activations used');
  assert.equal(activationsText({ id: 'k', activations: 1, activation_limit: 1 }), '1 of 1 activation used');
  assert.equal(activationsText({ id: 'k', activation_limit: 0 }), '0 activations (no limit)');
  assert.deepEqual(licenseKeyStatus({ id: 'k', status: 'PORTAL_LICENSE_KEY_STATUS_REVOKED' }), {
    label: 'Revoked',
    tone: 'warning',
  });
  const credits = grantView(
    {
      id: 'g',
      benefit_type: 'BENEFIT_TYPE_METER_CREDITS',
      benefit_key: 'api-calls',
      is_granted: true,
      grant_time: '2026-11-01T00:00:00Z',
      meter_credits: { meter_id: 'm', units: '10000' },
    },
    'en-US',
    new Map([['m', 'API calls']]),
  );
  assert.deepEqual(credits, {
    kind: 'Usage credits',
    name: 'api-calls',
    standing: 'Granted since November 1, 2026',
    detail: '10,000 units of API calls each billing period',
    granted: true,
  });
  const revoked = grantView(
    {
      id: 'g',
      benefit_type: 'BENEFIT_TYPE_LICENSE_KEYS',
      benefit_key: 'desktop',
      is_granted: false,
      revoke_time: '2026-11-05T00:00:00Z',
      license_key: { display_key: 'ACME-1' },
    },
    'en-US',
  );
  assert.equal(revoked.kind, 'License key');
  assert.equal(revoked.name, 'desktop');
  const described = grantView(
    { id: 'g', benefit_id: 'b', benefit_key: 'desktop', benefit_type: 'BENEFIT_TYPE_LICENSE_KEYS' },
    'en-US',
    new Map(),
    new Map([['b', 'Acme Desktop on two machines']]),
  );
  assert.equal(described.name, 'Acme Desktop on two machines');
  assert.equal(revoked.detail, 'ACME-1');
  assert.equal(revoked.standing, 'Revoked on November 5, 2026');
});

test('quantities: decimal strings exactly', () => {
  assert.equal(quantityText('1500', 'en-US'), '1,500');
  assert.equal(quantityText('-12.125', 'en-US'), '-12.125');
  assert.equal(quantityText('123456789012345678901', 'en-US'), '123,456,789,012,345,678,901');
  assert.equal(quantityText('', 'en-US'), '0');
});
