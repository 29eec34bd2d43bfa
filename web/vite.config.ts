// Builds what the gateway serves from web/dist/ (cli/src/billingos_cli/web.py),
// in three passes (`npm run build`; a pass per mode, as one IIFE per build is
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
// `vite build --mode portal` (the customer portal, added to dist/):
//   assets/portal-<hash>.js, assets/portal-<hash>.css
//   pages/portal.html                 its shell at /portal/{organization id}
//   pages/portal-sign-in.html         the same at /portal/{organization id}/sign-in
//
// <hash> is the first 16 hex digits of the file's SHA-256. A shell names the
// assets relatively, so a gateway under a path prefix serves it as well:
// ../../assets/ from the checkout page's paths (three segments deep) and the
// sign-in landing, ../assets/ from the portal's (two); hence the portal's two
// shells, identical but for that.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin, type UserConfig } from 'vite';

const OUT_DIR = resolve(import.meta.dirname, 'dist');

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

interface Shell {
  /** Its name in pages/ (the gateway's route for it: billingos_cli.pages). */
  fileName: string;
  /** Where assets/ is from the page's paths: "../../" or "../". */
  up: string;
}

interface PageSpec {
  /** The assets' stem ("checkout": assets/checkout-<hash>.js). */
  stem: string;
  title: string;
  /** The element the script renders into. */
  mountId: string;
  noscript: string;
  shells: Shell[];
}

/** A page's shell: nothing inline (the gateway's CSP allows no inline
 * script or style), no referrer (the URL may hold a secret). */
function shell(page: PageSpec, up: string, script: string, stylesheet: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(page.title)}</title>
<link rel="stylesheet" href="${up}assets/${escapeHtml(stylesheet)}">
<script defer src="${up}assets/${escapeHtml(script)}"></script>
</head>
<body>
<div id="${escapeHtml(page.mountId)}"><noscript><p>${escapeHtml(page.noscript)}</p></noscript></div>
</body>
</html>
`;
}

/** Renames a page build's script and stylesheet to content-hashed names in
 * assets/ and writes the shells that load them. */
function pageAssets(page: PageSpec): Plugin {
  return {
    name: `billingos-${page.stem}-page`,
    apply: 'build',
    enforce: 'post',
    generateBundle: {
      order: 'post', // after Vite's CSS plugin has emitted the stylesheet
      handler(_options, bundle) {
        const items = Object.values(bundle);
        const script = items.find((item) => item.type === 'chunk' && item.isEntry);
        const styles = items.filter((item) => item.type === 'asset' && item.fileName.endsWith('.css'));
        if (script?.type !== 'chunk') throw new Error(`the ${page.stem} page has no script`);
        const stylesheet = styles[0];
        if (styles.length !== 1 || stylesheet?.type !== 'asset') throw new Error(`the ${page.stem} page has no stylesheet`);
        const scriptName = `${page.stem}-${hashOf(script.code)}.js`;
        const styleName = `${page.stem}-${hashOf(stylesheet.source)}.css`;
        for (const name of Object.keys(bundle)) delete bundle[name];
        this.emitFile({ type: 'asset', fileName: `assets/${scriptName}`, source: script.code });
        this.emitFile({ type: 'asset', fileName: `assets/${styleName}`, source: stylesheet.source });
        for (const { fileName, up } of page.shells) {
          this.emitFile({ type: 'asset', fileName: `pages/${fileName}`, source: shell(page, up, scriptName, styleName) });
        }
      },
    },
  };
}

const PAGES: Record<string, PageSpec & { entry: string; name: string }> = {
  checkout: {
    stem: 'checkout',
    entry: 'src/checkout/index.tsx',
    name: 'BillingOSCheckout',
    title: 'Checkout',
    mountId: 'checkout',
    noscript: 'This checkout needs JavaScript to take a card payment.',
    shells: [{ fileName: 'checkout.html', up: '../../' }],
  },
  portal: {
    stem: 'portal',
    entry: 'src/portal/index.tsx',
    name: 'BillingOSPortal',
    title: 'Your account',
    mountId: 'portal',
    noscript: 'Your account page needs JavaScript.',
    shells: [
      { fileName: 'portal.html', up: '../' },
      { fileName: 'portal-sign-in.html', up: '../../' },
    ],
  },
};

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

export default defineConfig(({ mode }) => {
  const page = PAGES[mode];
  if (page !== undefined) {
    return {
      ...shared,
      build: {
        ...build,
        emptyOutDir: false, // the pricing table's pass ran first
        cssCodeSplit: false,
        lib: {
          entry: resolve(import.meta.dirname, page.entry),
          formats: ['iife'],
          name: page.name,
          fileName: () => `${page.stem}.js`,
          cssFileName: page.stem,
        },
      },
      plugins: [pageAssets(page)],
    };
  }
  return {
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
  };
});
