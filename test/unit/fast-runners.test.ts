/**
 * The fast runners' bundles (bin/build-fast-runners.js, loaded by bin/run.js): bin/run.js starts
 * each fast command from its bundle (with a V8 code cache after the first run), a bundle answers
 * exactly like the modules it was built from,
 * and a bundled module's import.meta.url still names the module itself (paths to the native addon
 * and the openwrt scripts are computed from it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { netmend, projectRoot } from '../lab/harness.js';

interface FastRunnerTable {
  fastRunners: Record<string, string>;
  fastRunnerBundle(modulePath: string): string;
  CODE_CACHE_SUFFIX: string;
}

const binUrl = pathToFileURL(join(projectRoot, 'bin', 'x')).href;
const { fastRunners, fastRunnerBundle, CODE_CACHE_SUFFIX } = (await import(new URL('fast-runners.js', binUrl).href)) as FastRunnerTable;

/** A fast runner's module run directly (ES modules, no bundle), as bin/run.js did before the bundles. */
function runUnbundled(entry: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [modulePath, exportName = 'runFast'] = entry.split('#');
  const moduleUrl = new URL(modulePath, binUrl).href;
  const script = `const runner = await import(${JSON.stringify(moduleUrl)}); process.exitCode = (await runner[${JSON.stringify(exportName)}](process.argv.slice(1))) ?? 99;`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += String(chunk); });
    child.stderr.on('data', (chunk) => { stderr += String(chunk); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

test('bin/run.js starts every fast runner from its bundle, and keeps a V8 code cache beside it', async () => {
  for (const [command, modulePath] of Object.entries(fastRunners)) {
    const bundle = new URL(fastRunnerBundle(modulePath), binUrl).pathname;
    const caches = () => readdirSync(dirname(bundle)).filter((name) => name.startsWith(`${basename(bundle)}.`) && name.endsWith(CODE_CACHE_SUFFIX));
    for (const name of caches()) rmSync(join(dirname(bundle), name), { force: true });
    // --list-checks and an address keep each command quick and independent of the host.
    const args = command.startsWith('doctor') ? ['--list-checks'] : command === 'route explain' ? ['127.0.0.1'] : ['--snapshot', '/nonexistent/x.json'];
    const first = await netmend([...command.split(' '), ...args]);
    // Only a run from the bundle writes its code cache.
    assert.equal(caches().length, 1, `${command}: no code cache for ${bundle} after a run (exit ${first.code}: ${first.stderr})`);
    const second = await netmend([...command.split(' '), ...args]);
    assert.deepEqual([second.code, second.stdout, second.stderr], [first.code, first.stdout, first.stderr], `${command}: a run with the code cache differs`);
  }
});

test('a bundle older than its module (tsc ran, the bundler did not) is passed over for the module', async (t) => {
  const modulePath = fastRunners['route explain'];
  const module = new URL(modulePath, binUrl).pathname;
  const bundle = new URL(fastRunnerBundle(modulePath), binUrl).pathname;
  const caches = () => readdirSync(dirname(bundle)).filter((name) => name.startsWith(`${basename(bundle)}.`) && name.endsWith(CODE_CACHE_SUFFIX));
  const { atime, mtime } = statSync(module);
  t.after(() => utimesSync(module, atime, mtime));
  const later = new Date(statSync(bundle).mtimeMs + 60_000);
  utimesSync(module, later, later);
  for (const name of caches()) rmSync(join(dirname(bundle), name), { force: true });
  const stale = await netmend(['route', 'explain', '127.0.0.1']);
  assert.equal(stale.code, 0, stale.stderr);
  assert.deepEqual(caches(), [], 'the stale bundle ran (it wrote its code cache)');
  utimesSync(module, atime, mtime);
  const fresh = await netmend(['route', 'explain', '127.0.0.1']);
  assert.equal(fresh.stdout, stale.stdout);
  assert.equal(caches().length, 1, 'the bundle did not run once it was newer than its module');
});

test('a bundled fast runner answers exactly as the modules it was built from', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-fast-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const saved = join(dir, 'host.json');
  const taken = await netmend(['snapshot', '--out', saved]);
  assert.equal(taken.code, 0, taken.stderr);
  const cases: Array<[string, string[]]> = [
    ['route explain', ['127.0.0.1', '--snapshot', saved, '--json']],
    // Through `ip -json`: execa, imported with import() from inside the bundle.
    ['route explain', ['127.0.0.1', '--source', 'ip-json', '--json']],
    ['route explain', ['10.254.254.254', '--snapshot', saved]],
    ['route explain', ['not-an-address', '--snapshot', saved]],
    ['doctor routes', ['--snapshot', saved, '--json']],
    ['doctor routes', ['--snapshot', saved]],
    ['doctor', ['--snapshot', saved, '--json']],
    ['snapshot', ['--snapshot', saved]],
    ['snapshot', ['--snapshot', join(dir, 'missing.json')]],
  ];
  for (const [command, args] of cases) {
    const bundled = await netmend([...command.split(' '), ...args]);
    const unbundled = await runUnbundled(fastRunners[command], args);
    const label = `${command} ${args.join(' ')}`;
    assert.equal(bundled.code, unbundled.code, `${label}: exit codes differ: ${bundled.stderr} / ${unbundled.stderr}`);
    assert.equal(bundled.stdout, unbundled.stdout, label);
    assert.equal(bundled.stderr, unbundled.stderr, label);
    assert.ok(bundled.stdout.length > 0 || bundled.stderr.length > 0, label);
  }
});

test('a bundle keeps strict mode, import.meta.url and import(\'package\'), with and without its code cache', async (t) => {
  const { bundleFastRunner } = (await import(new URL('build-fast-runners.js', binUrl).href)) as { bundleFastRunner(entry: string, bundle: string): Promise<void> };
  const { loadBundle } = (await import(new URL('fast-runners.js', binUrl).href)) as { loadBundle(bundle: string): { runFast(): Promise<Record<string, unknown>> } };
  const dir = mkdtempSync(join(tmpdir(), 'netmend-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'src', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'src', 'deep', 'paths.js'), 'export const here = import.meta.url;\nexport const sibling = new URL("./data.txt", import.meta.url).href;\n');
  writeFileSync(join(dir, 'src', 'entry.js'), [
    'import { here, sibling } from "./deep/paths.js";',
    'export async function runFast() {',
    '  let strict = false;',
    '  try { undeclaredByTheFixture = 1; } catch { strict = true; }',
    '  const { parse } = await import("ini");',
    '  return { here, sibling, entry: import.meta.url, strict, parsed: parse("a = 1\\n").a };',
    '}',
  ].join('\n'));
  const bundle = join(dir, 'out', 'a', 'b', 'entry.cjs');
  await bundleFastRunner(join(dir, 'src', 'entry.js'), bundle);
  const expected = {
    here: pathToFileURL(join(dir, 'src', 'deep', 'paths.js')).href,
    sibling: pathToFileURL(join(dir, 'src', 'deep', 'data.txt')).href,
    entry: pathToFileURL(join(dir, 'src', 'entry.js')).href,
    strict: true,
    parsed: '1',
  };
  // Without a code cache (the run writes one), then with it.
  assert.deepEqual({ ...(await loadBundle(bundle).runFast()) }, expected);
  assert.equal(readdirSync(dirname(bundle)).filter((name) => name.endsWith(CODE_CACHE_SUFFIX)).length, 1);
  assert.deepEqual({ ...(await loadBundle(bundle).runFast()) }, expected);
});

test('a bundle loads a built-in module when one of its exports is first used, and reads it as the module would', async (t) => {
  const { bundleFastRunner } = (await import(new URL('build-fast-runners.js', binUrl).href)) as { bundleFastRunner(entry: string, bundle: string): Promise<void> };
  const dir = mkdtempSync(join(tmpdir(), 'netmend-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'entry.js'), [
    'import { createSocket } from "node:dgram";',
    'import * as fs from "node:fs";',
    'import os from "os";',
    'import { EventEmitter } from "node:events";',
    'class Emitter extends EventEmitter {}',
    'export async function runFast() {',
    '  const socket = createSocket("udp4");',
    '  socket.close();',
    '  return { emitter: new Emitter() instanceof EventEmitter, keys: Object.keys(fs).includes("readFileSync"), has: "statSync" in fs, read: typeof fs.readFileSync, os: os.EOL };',
    '}',
  ].join('\n'));
  const bundle = join(dir, 'out', 'entry.cjs');
  await bundleFastRunner(join(dir, 'entry.js'), bundle);
  const script = [
    `const { loadBundle } = await import(${JSON.stringify(new URL('fast-runners.js', binUrl).href)});`,
    'const loaded = () => process.moduleLoadList.includes("NativeModule dgram");',
    'const before = loaded();',
    `const runner = loadBundle(${JSON.stringify(bundle)});`,
    'const afterLoad = loaded();',
    'const result = await runner.runFast();',
    'console.log(JSON.stringify({ before, afterLoad, afterRun: loaded(), result }));',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
  let stdout = '';
  child.stdout.on('data', (chunk) => { stdout += String(chunk); });
  const code = await new Promise((resolve) => child.once('close', resolve));
  assert.equal(code, 0, stdout);
  assert.deepEqual(JSON.parse(stdout), {
    before: false,
    afterLoad: false,
    afterRun: true,
    result: { emitter: true, keys: true, has: true, read: 'function', os: '\n' },
  });
});

test('the bundler refuses what a CommonJS bundle with a code cache cannot keep', async (t) => {
  const { bundleFastRunner } = (await import(new URL('build-fast-runners.js', binUrl).href)) as { bundleFastRunner(entry: string, bundle: string): Promise<void> };
  const dir = mkdtempSync(join(tmpdir(), 'netmend-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'dirname.js'), 'export const where = import.meta.dirname;\nexport async function runFast() { return where; }\n');
  await assert.rejects(bundleFastRunner(join(dir, 'dirname.js'), join(dir, 'out', 'dirname.cjs')), /import\.meta beyond import\.meta\.url/);
  writeFileSync(join(dir, 'computed.js'), 'export async function runFast(name) { return import(name); }\n');
  await assert.rejects(bundleFastRunner(join(dir, 'computed.js'), join(dir, 'out', 'computed.cjs')), /an import\(\) the bundle cannot keep/);
});
