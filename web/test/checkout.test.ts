import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkoutUrl, linkCheckoutUrl, parseCheckoutLink, type CheckoutDetail } from '../src/pricing-table/checkout.js';

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

const ORG_ID = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6d';
const LINK_ID = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6e';

test('checkout-link: a link id, on the table’s gateway, under the organization id', () => {
  const link = parseCheckoutLink(` ${LINK_ID} `);
  assert.deepEqual(link, { kind: 'id', id: LINK_ID });
  assert.equal(
    linkCheckoutUrl(link!, 'price 1', 'https://billing.example/gw/', ORG_ID),
    `https://billing.example/gw/checkout/${ORG_ID}/${LINK_ID}?price_id=price+1`,
  );
  // A slug not resolved (yet): no URL to go to.
  assert.equal(linkCheckoutUrl(link!, 'p', 'https://billing.example/', null), null);
  assert.equal(linkCheckoutUrl(link!, 'p', 'https://billing.example/', 'acme'), null);
});

test('checkout-link: the link’s url as the API gave it', () => {
  const given = `https://billing.example/checkout/${ORG_ID}/${LINK_ID}?utm=x#top`;
  const link = parseCheckoutLink(given);
  assert.equal(link?.kind, 'url');
  assert.equal(
    linkCheckoutUrl(link!, 'p1', 'https://elsewhere.example/', null),
    `https://billing.example/checkout/${ORG_ID}/${LINK_ID}?price_id=p1`,
  );
  for (const bad of [
    'javascript:alert(1)',
    `ftp://billing.example/checkout/${ORG_ID}/${LINK_ID}`,
    'https://billing.example/checkout/acme/link',
    `https://billing.example/checkout/${ORG_ID}/${LINK_ID}/x`,
    'acme',
    '',
  ]) {
    assert.equal(parseCheckoutLink(bad), null, bad);
  }
});
