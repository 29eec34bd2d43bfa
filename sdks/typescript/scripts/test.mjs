#!/usr/bin/env node
// Runs `node --test` on an explicit list of compiled test files.
//
//   node scripts/test.mjs [--test-flag ...] test/unit test/integration
//   node scripts/test.mjs --list test/unit      # print the files, run nothing
//
// Node 20 takes a directory argument to `--test` as "every test file in it",
// Node 21 and later take each argument as a glob and fail on a bare
// directory, and `**` globs do not work on Node 20: an explicit file list is
// the one form every Node from 20 to 24 runs alike. The list comes from the
// TypeScript sources (test/**/*.test.ts, each compiled by `npm run
// build-tests` to build/test/**/*.test.js), so a stale compiled file of a
// deleted test is never run, and a missing compiled one is an error.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'test');
const compiled = join(root, 'build', 'test');

function testSources(directory) {
  const found = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) found.push(...testSources(path));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found.sort();
}

/** The compiled test files of these source directories (under test/). */
function testFiles(directories) {
  const files = [];
  for (const directory of directories) {
    const absolute = resolve(root, directory);
    if (absolute !== sources && !absolute.startsWith(sources + sep)) {
      throw new Error(`${directory}: test directories are under test/`);
    }
    if (!existsSync(absolute)) throw new Error(`${directory}: no such directory`);
    for (const source of testSources(absolute)) {
      const file = join(compiled, relative(sources, source)).replace(/\.ts$/, '.js');
      if (!existsSync(file)) {
        throw new Error(`${relative(root, file)} is missing: run \`npm run build-tests\` first`);
      }
      files.push(relative(root, file));
    }
  }
  if (files.length === 0) throw new Error(`no *.test.ts under ${directories.join(', ')}`);
  return files;
}

{
  const args = process.argv.slice(2);
  const list = args.includes('--list');
  const flags = args.filter((a) => a.startsWith('--') && a !== '--list');
  const directories = args.filter((a) => !a.startsWith('--'));
  let files;
  try {
    files = testFiles(directories.length ? directories : ['test']);
  } catch (error) {
    console.error(String(error instanceof Error ? error.message : error));
    process.exit(2);
  }
  if (list) {
    console.log(files.join('\n'));
  } else {
    const ran = spawnSync(process.execPath, ['--test', ...flags, ...files], { cwd: root, stdio: 'inherit' });
    process.exit(ran.status ?? 1);
  }
}
