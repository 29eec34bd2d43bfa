// The wrapper's markup, rendered on the server (no browser needed): the
// element's tag and attributes, nothing a browser would not read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { PricingTable, loadPricingTable, type PricingTableProps } from '@billingos/pricing-table';

function markup(props: PricingTableProps): string {
  return renderToStaticMarkup(createElement(PricingTable, props));
}

test('renders the element with the attributes it reads', () => {
  assert.equal(
    markup({
      organizationId: 'acme',
      theme: 'dark',
      checkoutUrl: 'https://shop.example/checkout?price={price_id}',
      baseUrl: 'https://billing.example',
      locale: 'de-DE',
      onCheckout: () => undefined,
    }),
    '<billingos-pricing-table organization-id="acme" theme="dark"' +
      ' checkout-url="https://shop.example/checkout?price={price_id}"' +
      ' api-url="https://billing.example" locale="de-DE"></billingos-pricing-table>',
  );
});

test('leaves out what is not given, and never renders the handler', () => {
  assert.equal(
    markup({ organizationId: '019b0000-0000-7000-8000-000000000000' }),
    '<billingos-pricing-table organization-id="019b0000-0000-7000-8000-000000000000"></billingos-pricing-table>',
  );
  const html = markup({ organizationId: 'acme', onCheckout: () => undefined });
  assert.doesNotMatch(html, /checkout(?!-url)/i);
});

test('passes class, id and style on to the element', () => {
  assert.equal(
    markup({ organizationId: 'acme', id: 'plans', className: 'wide', style: { maxWidth: '60rem' } }),
    '<billingos-pricing-table id="plans" class="wide" style="max-width:60rem" organization-id="acme"></billingos-pricing-table>',
  );
});

test('escapes attribute values', () => {
  assert.match(markup({ organizationId: '"><script>' }), /organization-id="&quot;&gt;&lt;script&gt;"/);
});

test('loading the script outside a browser does nothing', async () => {
  await loadPricingTable('https://billing.example');
});

test('in a page, the script is added once, from the gateway', async () => {
  const added: { src: string; async: boolean }[] = [];
  let define: () => void = () => undefined;
  const defined = new Promise<void>((resolve) => (define = resolve));
  const fake = {
    document: {
      querySelectorAll: () => added,
      createElement: () => ({ src: '', async: false, addEventListener: () => undefined }),
      head: { append: (script: { src: string; async: boolean }) => added.push(script) },
    },
    customElements: {
      get: () => undefined,
      whenDefined: () => defined,
    },
  };
  Object.assign(globalThis, fake);
  try {
    const first = loadPricingTable('https://billing.example/root');
    const second = loadPricingTable('https://billing.example/root/');
    assert.deepEqual(
      added.map((script) => [script.src, script.async]),
      [['https://billing.example/root/pricing-table.js', true]],
    );
    define(); // the script ran
    await Promise.all([first, second]);
  } finally {
    for (const name of Object.keys(fake)) Reflect.deleteProperty(globalThis, name);
  }
});
