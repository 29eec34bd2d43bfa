#!/usr/bin/env node
// Runs `node --test` on the compiled unit tests (test/*.test.ts, compiled by
// `npm run build-tests` to build/test/*.test.js). An explicit file list: Node
// 20 reads a directory argument to --test as "every test in it", Node 21 and
// later as a glob (see sdks/typescript/scripts/test.mjs); and a compiled file
// whose source is gone is never run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sources = readdirSync(join(root, 'test')).filter((name) => name.endsWith('.test.ts')).sort();
if (sources.length === 0) {
  console.error('no test/*.test.ts');
  process.exit(2);
}
const files = sources.map((name) => join('build', 'test', name.replace(/\.ts$/, '.js')));
const missing = files.filter((file) => !existsSync(join(root, file)));
if (missing.length > 0) {
  console.error(`${missing.join(', ')} missing: run \`npm run build-tests\` first`);
  process.exit(2);
}
const ran = spawnSync(process.execPath, ['--test', ...files], { cwd: root, stdio: 'inherit' });
process.exit(ran.status ?? 1);
