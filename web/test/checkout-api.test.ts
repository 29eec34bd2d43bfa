import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, checkoutApi, updateRequest } from '../src/checkout/api.js';

test('a PATCH names the changed fields in its mask, and carries only them', () => {
  assert.deepEqual(updateRequest({ discount_code: 'X', customer_email: 'a@b.co' }), {
    mask: 'customer_email,discount_code',
    body: { customer_email: 'a@b.co', discount_code: 'X' },
  });
  assert.deepEqual(updateRequest({ billing_address: { country: 'DE', line1: '' } }), {
    mask: 'billing_address',
    body: { billing_address: { country: 'DE', line1: '' } },
  });
});

interface Call {
  url: string;
  method: string;
  body: unknown;
  contentType: string | null;
}

function recording(answer: () => Response) {
  const calls: Call[] = [];
  const fetcher = async (url: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    calls.push({
      url,
      method: init.method ?? 'GET',
      body: typeof init.body === 'string' ? JSON.parse(init.body) : null,
      contentType: headers.get('content-type'),
    });
    assert.equal(init.credentials, 'omit');
    return answer();
  };
  return { calls, fetcher };
}

const OK = () => new Response(JSON.stringify({ id: 's', organization_id: 'o', status: 'CHECKOUT_SESSION_STATUS_OPEN' }));

test('the calls, under the gateway root', async () => {
  const { calls, fetcher } = recording(OK);
  const api = checkoutApi('https://billing.example/prefix/', fetcher);
  await api.openFromLink('org', 'link', 'price');
  await api.openFromLink('org', 'link', null);
  await api.get('bcx_s');
  await api.update('bcx_s', { price_id: 'p', seats: 3 });
  await api.startPayment('bcx_s');
  await api.confirm('bcx_s');
  assert.deepEqual(
    calls.map((call) => [call.method, call.url, call.body]),
    [
      ['POST', 'https://billing.example/prefix/v1/public/organizations/org/checkout-links/link/sessions', { price_id: 'price' }],
      ['POST', 'https://billing.example/prefix/v1/public/organizations/org/checkout-links/link/sessions', {}],
      ['GET', 'https://billing.example/prefix/v1/public/checkout-sessions/bcx_s', null],
      ['PATCH', 'https://billing.example/prefix/v1/public/checkout-sessions/bcx_s?update_mask=price_id%2Cseats', { price_id: 'p', seats: 3 }],
      ['POST', 'https://billing.example/prefix/v1/public/checkout-sessions/bcx_s:start-payment', {}],
      ['POST', 'https://billing.example/prefix/v1/public/checkout-sessions/bcx_s:confirm', {}],
    ],
  );
  assert.equal(calls[0]!.contentType, 'application/json');
  assert.equal(calls[2]!.contentType, null); // a GET sends no body, so no type
});

test('a failure is an ApiError with the status the gateway sent', async () => {
  const body = { code: 5, message: 'not found', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CHECKOUT_SESSION_NOT_FOUND' }] };
  const { fetcher } = recording(() => new Response(JSON.stringify(body), { status: 404 }));
  await assert.rejects(checkoutApi('https://billing.example/', fetcher).get('bcx_s'), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status.httpStatus, 404);
    assert.equal(error.status.reason, 'CHECKOUT_SESSION_NOT_FOUND');
    return true;
  });
  const offline = checkoutApi('https://billing.example/', () => Promise.reject(new TypeError('offline')));
  await assert.rejects(offline.get('bcx_s'), (error) => error instanceof ApiError && error.status.httpStatus === 0);
});
