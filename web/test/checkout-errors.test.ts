import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fieldOf, problemsOf, sentence } from '../src/checkout/errors.js';
import { statusOf } from '../src/shared/status.js';

// Bodies as the gateway answered them (tests/e2e/test_checkout_rest.py's calls).
const NOT_ALLOWED = {
  code: 9,
  message: 'checkout_session.discount_code: this code is not accepted here',
  details: [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'DISCOUNT_NOT_ALLOWED', domain: 'billingos.dev', metadata: {} },
    {
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      field_violations: [{ field: 'checkout_session.discount_code', description: 'this code is not accepted here', reason: '' }],
    },
  ],
};
const BAD_FIELDS = {
  code: 3,
  message: 'checkout_session.customer_email: must be a valid email address; …',
  details: [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'INVALID_ARGUMENT', domain: 'billingos.dev' },
    {
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      field_violations: [
        { field: 'checkout_session.customer_email', description: 'must be a valid email address' },
        { field: 'checkout_session.billing_address.country', description: 'must be an ISO 3166-1 alpha-2 code, e.g. US or FR' },
        { field: 'organization', description: 'give the organization’s id' },
      ],
    },
  ],
};

function precondition(reason: string, httpStatus = 400) {
  return statusOf(httpStatus, {
    code: 9,
    message: 'x',
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'billingos.dev' }],
  });
}

test('the status of an error body: code, reason, field violations', () => {
  const status = statusOf(400, NOT_ALLOWED);
  assert.equal(status.code, 9);
  assert.equal(status.reason, 'DISCOUNT_NOT_ALLOWED');
  assert.deepEqual(status.violations, [
    { field: 'checkout_session.discount_code', description: 'this code is not accepted here' },
  ]);
  assert.deepEqual(statusOf(502, '<html>'), { httpStatus: 502, code: 0, message: '', reason: '', violations: [] });
  assert.equal(statusOf(400, { details: [null, 3, { '@type': 5 }] }).reason, '');
});

test('a code refused is shown next to the code field, in our words', () => {
  assert.deepEqual(problemsOf(statusOf(400, NOT_ALLOWED)), {
    fields: { discount_code: 'This code is not accepted for this purchase.' },
    form: null,
    page: null,
  });
  assert.match(problemsOf(precondition('DISCOUNT_NOT_APPLICABLE')).fields.discount_code ?? '', /does not apply/);
});

test('field violations go next to their fields; the others to the form', () => {
  const problems = problemsOf(statusOf(400, BAD_FIELDS));
  assert.deepEqual(problems.fields, {
    customer_email: 'Must be a valid email address.',
    'billing_address.country': 'Must be an ISO 3166-1 alpha-2 code, e.g. US or FR.',
  });
  assert.equal(problems.form, 'Give the organization’s id.');
  assert.equal(problems.page, null);
  assert.equal(fieldOf('checkout_session.billing_address.line1'), 'billing_address.line1');
  assert.equal(fieldOf('checkout_session.metadata'), null);
  assert.equal(sentence('is required to pay'), 'Is required to pay.');
});

test('a session that is over, or unknown, is a state of the page', () => {
  assert.equal(problemsOf(precondition('CHECKOUT_SESSION_EXPIRED')).page, 'expired');
  assert.equal(problemsOf(precondition('CHECKOUT_SESSION_COMPLETED')).page, 'completed');
  assert.equal(problemsOf(precondition('CHECKOUT_SESSION_PROCESSING')).page, 'processing');
  assert.equal(problemsOf(precondition('CHECKOUT_SESSION_CONFIRMED')).page, 'processing');
  assert.equal(problemsOf(precondition('CHECKOUT_LINK_ARCHIVED')).page, 'archived');
  assert.equal(problemsOf(precondition('CHECKOUT_SESSION_NOT_FOUND', 404)).page, 'not-found');
  assert.equal(problemsOf(precondition('CHECKOUT_LINK_NOT_FOUND', 404)).page, 'not-found');
  // A price that is gone is the price field's problem, not the page's.
  assert.equal(problemsOf(precondition('PRICE_NOT_FOUND', 404)).fields.price_id, 'This price is no longer offered. Choose another.');
});

test('the network, a rate limit and a server error are said plainly', () => {
  assert.match(problemsOf(statusOf(0, null)).form ?? '', /connection failed/);
  assert.match(problemsOf(statusOf(429, null)).form ?? '', /Too many attempts/);
  assert.match(problemsOf(statusOf(503, null)).form ?? '', /error 503/);
});
