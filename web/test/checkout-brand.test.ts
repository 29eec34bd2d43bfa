import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brandColors, contrast, parseHex } from '../src/checkout/brand.js';

test('colours are #RRGGBB only', () => {
  assert.deepEqual(parseHex('#1D4ED8'), { r: 29, g: 78, b: 216 });
  for (const bad of ['', '1d4ed8', '#fff', '#1d4ed8ff', 'red', 'url(x)', undefined]) {
    assert.equal(parseHex(bad), null, String(bad));
    assert.equal(brandColors(bad), null, String(bad));
  }
});

test('text on the brand colour keeps 4.5:1 whatever the colour', () => {
  const WHITE = { r: 255, g: 255, b: 255 };
  const BLACK = { r: 0, g: 0, b: 0 };
  let checked = 0;
  for (let r = 0; r <= 255; r += 15) {
    for (let g = 0; g <= 255; g += 15) {
      for (let b = 0; b <= 255; b += 15) {
        const hex = `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
        const colors = brandColors(hex);
        assert.ok(colors !== null);
        const text = colors.onBrand === '#ffffff' ? WHITE : BLACK;
        assert.ok(contrast({ r, g, b }, text) >= 4.5, `${hex} with ${colors.onBrand}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 4000);
});

test('a colour too light for a focus ring on white is not used for one', () => {
  assert.equal(brandColors('#ffeb3b')?.ring, null);
  assert.equal(brandColors('#ffeb3b')?.onBrand, '#000000');
  assert.equal(brandColors('#1d4ed8')?.ring, '#1d4ed8');
  assert.equal(brandColors('#1D4ED8')?.brand, '#1d4ed8');
  assert.equal(brandColors('#1d4ed8')?.onBrand, '#ffffff');
});
