// Builds what the gateway serves from web/dist/ (cli/src/billingos_cli/web.py):
//   pricing-table.js                  the <billingos-pricing-table> element,
//                                     one classic script (an IIFE), CSS inlined
//   assets/pricing-table-<hash>.js    the same bytes under a name that changes
//                                     with them (served as immutable)
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const OUT_DIR = resolve(import.meta.dirname, 'dist');

/** Writes a content-hashed copy of the stable-named script into assets/. */
function hashedCopy(fileName: string): Plugin {
  return {
    name: 'billingos-hashed-copy',
    apply: 'build',
    writeBundle(_options, bundle) {
      const chunk = bundle[fileName];
      if (!chunk || chunk.type !== 'chunk') throw new Error(`${fileName} was not built`);
      const hash = createHash('sha256').update(chunk.code).digest('hex').slice(0, 16);
      const stem = fileName.replace(/\.js$/, '');
      mkdirSync(join(OUT_DIR, 'assets'), { recursive: true });
      writeFileSync(join(OUT_DIR, 'assets', `${stem}-${hash}.js`), chunk.code);
    },
  };
}

export default defineConfig({
  publicDir: false,
  logLevel: 'warn',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: OUT_DIR,
    emptyOutDir: true,
    // Browsers of the last few years (custom elements, shadow DOM, Intl v3).
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    lib: {
      entry: resolve(import.meta.dirname, 'src/pricing-table/index.tsx'),
      formats: ['iife'],
      name: 'BillingOSPricingTable',
      fileName: () => 'pricing-table.js',
    },
  },
  plugins: [hashedCopy('pricing-table.js')],
});
