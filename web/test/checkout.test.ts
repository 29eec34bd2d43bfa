import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkoutUrl, type CheckoutDetail } from '../src/pricing-table/checkout.js';

const DETAIL: CheckoutDetail = {
  organization: 'acme',
  productId: 'prod 1',
  priceId: '019b-price',
  currency: 'USD',
  interval: 'INTERVAL_YEAR',
  intervalCount: 1,
};
const PAGE = 'https://shop.example/pricing';

test('the template gets the ids, URL-encoded', () => {
  assert.equal(
    checkoutUrl('https://shop.example/checkout?price={price_id}&product={product_id}', DETAIL, PAGE),
    'https://shop.example/checkout?price=019b-price&product=prod%201',
  );
  assert.equal(checkoutUrl('/buy/{organization}/{currency}', DETAIL, PAGE), 'https://shop.example/buy/acme/USD');
  assert.equal(checkoutUrl('/buy?x={unknown}', DETAIL, PAGE), 'https://shop.example/buy?x={unknown}');
});

test('only http(s) URLs are followed', () => {
  assert.equal(checkoutUrl('javascript:alert({price_id})', DETAIL, PAGE), null);
  assert.equal(checkoutUrl('data:text/html,hi', DETAIL, PAGE), null);
  assert.equal(checkoutUrl('http://[', DETAIL, PAGE), null);
});
