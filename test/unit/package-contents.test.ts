/**
 * What `npm pack` puts in the published package: only what a user runs (the compiled commands and
 * core, a prebuilt addon per shipped platform, the addon's sources for the others, the router
 * scripts), within a size budget. Tests, benchmarks and build intermediates stay out.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../lab/harness.js';

interface PackedFile { path: string; size: number }
interface Pack { size: number; unpackedSize: number; entryCount: number; files: PackedFile[] }

// --ignore-scripts: the test runner has built everything; prepack would rebuild it under the other tests.
const pack = (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Pack[])[0];
const paths = pack.files.map((file) => file.path);

const shipped = [
  /^package\.json$/,
  /^README\.md$/,
  /^oclif\.manifest\.json$/,
  /^bin\/(run|netmend-wg|fast-runners)\.js$/,
  /^dist\/fast\/[\w/.-]+\.cjs$/,
  /^dist\/(src|commands)\/[\w/.-]+\.js$/,
  /^native\/binding\.gyp$/,
  /^native\/install\.js$/,
  /^native\/[\w/.-]+\.[ch]$/,
  /^native\/prebuilds\/linux-(x64|arm64|arm)\/netmend_tun\.[\w.]+\.node$/,
  /^openwrt\/[\w.-]+$/,
];

// Measured at 234 files, 697 kB packed, 2569 kB unpacked: the compiled modules, the four bundles of
// the oclif-free fast paths (dist/fast, about half the bytes) and three prebuilt addons. The budget
// leaves room to grow, not to bloat.
const budget = { files: 280, packedBytes: 820_000, unpackedBytes: 3_000_000 };

test('the package holds only what a user runs: no tests, benchmarks, maps or build intermediates', () => {
  const unexpected = paths.filter((path) => !shipped.some((pattern) => pattern.test(path)));
  assert.deepEqual(unexpected, [], `files that should not ship: ${unexpected.join(', ')}`);
  assert.deepEqual(paths.filter((path) => /(^|\/)(test|bench|build)\/|\.map$|\.o$|\.tsbuildinfo$/.test(path)), []);
});

test('the package carries one prebuilt addon each for linux x64, arm64 and armv7', () => {
  for (const dir of ['linux-x64', 'linux-arm64', 'linux-arm']) {
    const prebuilds = paths.filter((path) => path.startsWith(`native/prebuilds/${dir}/`));
    assert.equal(prebuilds.length, 1, `${dir}: ${prebuilds.join(', ') || 'none'}`);
  }
  assert.ok(paths.includes('native/prebuilds/linux-arm/netmend_tun.napi.glibc.armv7.node'), 'the arm build is tagged armv7 so an armv6 Node refuses it');
  assert.ok(paths.includes('native/binding.gyp') && paths.some((path) => /^native\/.+\.c$/.test(path)), 'sources for platforms without a prebuild');
});

test('every compiled module in the package comes from a current source (no leftovers of deleted files)', () => {
  const stale = paths.filter((path) => /^dist\/(src|commands)\//.test(path) && !existsSync(join(projectRoot, path.slice('dist/'.length).replace(/\.js$/, '.ts'))));
  assert.deepEqual(stale, []);
});

test(`the package stays within its budget (${budget.files} files, ${budget.packedBytes} bytes packed, ${budget.unpackedBytes} unpacked)`, () => {
  assert.equal(pack.entryCount, paths.length);
  assert.ok(pack.entryCount <= budget.files, `${pack.entryCount} files`);
  assert.ok(pack.size <= budget.packedBytes, `${pack.size} bytes packed`);
  assert.ok(pack.unpackedSize <= budget.unpackedBytes, `${pack.unpackedSize} bytes unpacked`);
});
