// Builds what the gateway serves from web/dist/ (cli/src/billingos_cli/web.py),
// in two passes (`npm run build`; a pass per mode, as one IIFE per build is
// all Vite's library mode makes):
//
// `vite build` (the pricing table):
//   pricing-table.js                  the <billingos-pricing-table> element,
//                                     one classic script (an IIFE), CSS inlined
//   assets/pricing-table-<hash>.js    the same bytes under a name that changes
//                                     with them (served as immutable)
// `vite build --mode checkout` (the hosted checkout page, added to dist/):
//   assets/checkout-<hash>.js         its script (a classic script, deferred)
//   assets/checkout-<hash>.css        its stylesheet
//   pages/checkout.html               the HTML shell that loads both, which
//                                     the gateway serves at the page's paths
//
// <hash> is the first 16 hex digits of the file's SHA-256. The shell names
// the assets relatively (../../assets/: both of the page's paths are three
// segments deep), so a gateway under a path prefix serves it as well.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin, type UserConfig } from 'vite';

const OUT_DIR = resolve(import.meta.dirname, 'dist');
const CHECKOUT_MODE = 'checkout';

function hashOf(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 16);
}

/** Writes a content-hashed copy of the stable-named script into assets/. */
function hashedCopy(fileName: string): Plugin {
  return {
    name: 'billingos-hashed-copy',
    apply: 'build',
    writeBundle(_options, bundle) {
      const chunk = bundle[fileName];
      if (!chunk || chunk.type !== 'chunk') throw new Error(`${fileName} was not built`);
      const stem = fileName.replace(/\.js$/, '');
      mkdirSync(join(OUT_DIR, 'assets'), { recursive: true });
      writeFileSync(join(OUT_DIR, 'assets', `${stem}-${hashOf(chunk.code)}.js`), chunk.code);
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page's shell: nothing inline (the gateway's CSP allows no inline
 * script or style), no referrer (the URL holds the session's secret). */
function shell(script: string, stylesheet: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>Checkout</title>
<link rel="stylesheet" href="../../assets/${escapeHtml(stylesheet)}">
<script defer src="../../assets/${escapeHtml(script)}"></script>
</head>
<body>
<div id="checkout"><noscript><p>This checkout needs JavaScript to take a card payment.</p></noscript></div>
</body>
</html>
`;
}

/** Renames the checkout build's script and stylesheet to content-hashed
 * names in assets/ and writes the shell that loads them. */
function checkoutPage(): Plugin {
  return {
    name: 'billingos-checkout-page',
    apply: 'build',
    enforce: 'post',
    generateBundle: {
      order: 'post', // after Vite's CSS plugin has emitted the stylesheet
      handler(_options, bundle) {
        const items = Object.values(bundle);
        const script = items.find((item) => item.type === 'chunk' && item.isEntry);
        const styles = items.filter((item) => item.type === 'asset' && item.fileName.endsWith('.css'));
        if (script?.type !== 'chunk') throw new Error('the checkout page has no script');
        const stylesheet = styles[0];
        if (styles.length !== 1 || stylesheet?.type !== 'asset') throw new Error('the checkout page has no stylesheet');
        const scriptName = `checkout-${hashOf(script.code)}.js`;
        const styleName = `checkout-${hashOf(stylesheet.source)}.css`;
        for (const name of Object.keys(bundle)) delete bundle[name];
        this.emitFile({ type: 'asset', fileName: `assets/${scriptName}`, source: script.code });
        this.emitFile({ type: 'asset', fileName: `assets/${styleName}`, source: stylesheet.source });
        this.emitFile({ type: 'asset', fileName: 'pages/checkout.html', source: shell(scriptName, styleName) });
      },
    },
  };
}

const shared: UserConfig = {
  publicDir: false,
  logLevel: 'warn',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
};

const build = {
  outDir: OUT_DIR,
  // Browsers of the last few years (custom elements, shadow DOM, Intl v3).
  target: 'es2022',
  sourcemap: false,
  reportCompressedSize: false,
} as const;

export default defineConfig(({ mode }) =>
  mode === CHECKOUT_MODE
    ? {
        ...shared,
        build: {
          ...build,
          emptyOutDir: false, // the pricing table's pass ran first
          cssCodeSplit: false,
          lib: {
            entry: resolve(import.meta.dirname, 'src/checkout/index.tsx'),
            formats: ['iife'],
            name: 'BillingOSCheckout',
            fileName: () => 'checkout.js',
            cssFileName: 'checkout',
          },
        },
        plugins: [checkoutPage()],
      }
    : {
        ...shared,
        build: {
          ...build,
          emptyOutDir: true,
          lib: {
            entry: resolve(import.meta.dirname, 'src/pricing-table/index.tsx'),
            formats: ['iife'],
            name: 'BillingOSPricingTable',
            fileName: () => 'pricing-table.js',
          },
        },
        plugins: [hashedCopy('pricing-table.js')],
      },
);
