import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fieldMessage, messageOf } from '../src/portal/errors.js';
import { statusOf } from '../src/shared/status.js';

function status(httpStatus: number, reason: string, message = '', violations: [string, string][] = []) {
  const details: unknown[] = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason }];
  if (violations.length > 0) {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      field_violations: violations.map(([field, description]) => ({ field, description })),
    });
  }
  return statusOf(httpStatus, { code: 9, message, details });
}

test("the page's words for the reasons it knows", () => {
  assert.equal(messageOf(status(400, 'ALREADY_CANCELED')), 'This subscription is already set to end.');
  assert.match(messageOf(status(400, 'SUBSCRIPTION_CANCELING')), /Resume it before changing its plan/);
  assert.match(messageOf(status(400, 'SUBSCRIPTION_NOT_ACTIVE')), /Pay what is due/);
  assert.match(messageOf(status(404, 'PORTAL_SIGN_IN_NOT_FOUND')), /expired or was already used/);
  assert.match(messageOf(status(503, 'STRIPE_PUBLISHABLE_KEY_UNSET')), /Cards cannot be added/);
});

test("otherwise the service's own descriptions, as sentences", () => {
  assert.equal(
    messageOf(status(400, 'SEATS_OUT_OF_RANGE', 'x', [['seats', 'the price allows at most 50 seats']])),
    'The price allows at most 50 seats.',
  );
  assert.equal(messageOf(status(400, 'SOMETHING_NEW', 'the thing is wrong')), 'The thing is wrong.');
  assert.equal(messageOf(statusOf(400, null)), 'The request failed (error 400).');
});

test('the network, limits, sessions and failures on our side', () => {
  assert.match(messageOf(statusOf(0, null)), /connection failed/);
  assert.match(messageOf(statusOf(429, null)), /Too many attempts/);
  assert.match(messageOf(status(401, 'CUSTOMER_SESSION_INVALID')), /session has ended/);
  assert.equal(messageOf(statusOf(503, null)), 'Something went wrong on our side (error 503). Please try again.');
});

test("a field's own violation", () => {
  const invalid = status(400, 'INVALID_ARGUMENT', 'email: must be a valid email address', [
    ['email', 'must be a valid email address'],
  ]);
  assert.equal(fieldMessage(invalid, 'email'), 'Must be a valid email address.');
  assert.equal(fieldMessage(invalid, 'name'), '');
});
