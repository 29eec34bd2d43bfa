import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CheckoutTotals } from '../src/checkout/session.js';
import { summaryOf } from '../src/checkout/summary.js';

const LINE = { description: 'Pro (yearly)', amount_minor: '29000', quantity: '1' };

test('a plain order: its line, the total and what is due today', () => {
  const totals: CheckoutTotals = {
    currency: 'USD',
    lines: [LINE],
    subtotal_minor: '29000',
    discount_minor: '0',
    tax_minor: '0',
    inclusive_tax_minor: '0',
    total_minor: '29000',
    amount_due_now_minor: '29000',
    tax_rate_percent: '',
  };
  const summary = summaryOf(totals, 'en-US');
  assert.deepEqual(summary.rows, [
    { kind: 'line', label: 'Pro (yearly)', amount: '$290.00' },
    { kind: 'total', label: 'Total', amount: '$290.00' },
  ]);
  assert.equal(summary.dueNow, '$290.00');
  assert.equal(summary.trialEnd, null);
  assert.equal(summary.announcement, 'Total $290.00. Due today $290.00.');
});

test('a discount and tax with its rate, each figure as the service sent it', () => {
  const totals: CheckoutTotals = {
    currency: 'EUR',
    lines: [LINE],
    subtotal_minor: '29000',
    discount_minor: '5800',
    tax_minor: '4408',
    inclusive_tax_minor: '0',
    total_minor: '27608',
    amount_due_now_minor: '27608',
    tax_rate_percent: '19',
  };
  const summary = summaryOf(totals, 'en-US', 'launch20');
  assert.deepEqual(
    summary.rows.map((row) => [row.kind, row.label, row.amount]),
    [
      ['line', 'Pro (yearly)', '€290.00'],
      ['subtotal', 'Subtotal', '€290.00'],
      ['discount', 'Discount (LAUNCH20)', '-€58.00'],
      ['tax', 'Tax (19%)', '€44.08'],
      ['total', 'Total', '€276.08'],
    ],
  );
});

test('tax inside the prices is shown as included', () => {
  const summary = summaryOf(
    {
      currency: 'EUR',
      lines: [{ description: 'Pro', amount_minor: '2900' }],
      subtotal_minor: '2900',
      discount_minor: '0',
      tax_minor: '463',
      inclusive_tax_minor: '463',
      total_minor: '2900',
      amount_due_now_minor: '2900',
      tax_rate_percent: '19',
    },
    'en-US',
  );
  assert.deepEqual(
    summary.rows.filter((row) => row.kind === 'tax'),
    [{ kind: 'tax', label: 'Includes tax (19%)', amount: '€4.63' }],
  );
});

test('a trial: nothing due today, and when the first charge comes', () => {
  const summary = summaryOf(
    {
      currency: 'JPY',
      lines: [{ description: 'Pro', amount_minor: '5000' }],
      subtotal_minor: '5000',
      total_minor: '5000',
      amount_due_now_minor: '0',
      trial_end_time: '2027-03-03T12:00:00Z',
    },
    'en-US',
  );
  assert.equal(summary.total, '¥5,000');
  assert.equal(summary.dueNow, '¥0');
  assert.equal(summary.trialEnd, 'March 3, 2027');
  assert.equal(summary.announcement, 'Total ¥5,000, first charged on March 3, 2027. Due today ¥0.');
});
