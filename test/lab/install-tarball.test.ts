/**
 * netmend installed as a user installs a CLI: `npm pack`, then `npm install -g --ignore-scripts`
 * of the tarball into an empty prefix, with a PATH that has no compiler, make or python (every
 * other tool of the machine stays). The prebuilt addon must carry the mesh node; without one,
 * only the commands that need it fail, in one line; `npm rebuild` with scripts allowed compiles
 * the addon only when no prebuild matches.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generatePrivateKey } from '../../src/mesh/keys.js';
import { Lab, labUnavailable, projectRoot, run, uniqueName } from './harness.js';
import { b64, netmendInitiatesToWireguardGo, pingUntilReply, twoHosts, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

// Compilers, linkers, make and python under any of their Debian names (gcc-12, x86_64-linux-gnu-gcc,
// python3.11, nvcc, ...): what node-gyp would need.
const buildTool = /(^|[-_])(cc|c\+\+|cpp|gcc|g\+\+|ld|as|make|gmake)([-.]\d.*)?$|gcc|g\+\+|clang|python|nvcc|tcc|node-gyp/;

let work = '';
let prefix = '';
let installed = '';
let netmendExe = '';
let env: NodeJS.ProcessEnv = {};

/** A directory of symlinks to every tool on the usual PATH except the build tools. */
function pathWithoutBuildTools(dir: string): string {
  mkdirSync(dir);
  for (const source of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin']) {
    if (!existsSync(source)) continue;
    for (const name of readdirSync(source)) {
      if (buildTool.test(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(source, name), join(dir, name));
    }
  }
  return dir;
}

function installedNetmend(args: string[], ns?: string) {
  return ns ? run('ip', ['netns', 'exec', ns, netmendExe, ...args], { env }) : run(netmendExe, args, { env });
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'netmend-install-'));
  // --ignore-scripts: the test runner built everything; prepack would rebuild dist under the other tests.
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Array<{ filename: string }>;
  const bin = pathWithoutBuildTools(join(work, 'bin'));
  env = { ...process.env, PATH: bin, NO_COLOR: '1' };
  prefix = join(work, 'prefix');
  mkdirSync(prefix);
  const install = await run(join(bin, 'npm'), ['install', '-g', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, join(work, packed.filename)], { env, timeoutMs: 300_000 });
  assert.equal(install.code, 0, install.stderr);
  installed = join(prefix, 'lib', 'node_modules', 'netmend');
  netmendExe = join(prefix, 'bin', 'netmend');
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('installed with --ignore-scripts and no compiler: --version reports this platform\'s prebuild loaded, nothing was compiled', { skip, timeout: 60_000 }, async () => {
  const found = await run('/bin/sh', ['-c', 'for tool in cc gcc c++ g++ make python3 python node-gyp; do command -v $tool; done; true'], { env });
  assert.equal(found.stdout, '', 'the PATH of this install has no build tools');
  const version = await installedNetmend(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, new RegExp(`^netmend/\\d+\\.\\d+\\.\\d+ linux-${process.arch} node-v\\d+`));
  assert.match(version.stdout, new RegExp(`\ntun addon: loaded native/prebuilds/linux-${process.arch}/netmend_tun\\.napi\\.glibc(\\.armv7)?\\.node\n`));
  assert.equal(existsSync(join(installed, 'native', 'build')), false);
  assert.equal(existsSync(join(installed, 'dist', 'test')), false);
});

test('the installed netmend brings a node up in a namespace, pings a wireguard-go peer through it, and doctor routes sees it', { skip, timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const { mine, theirs } = await netmendInitiatesToWireguardGo(lab, nsA, nsB, 51310, { netmend: netmendExe, env });
  assert.ok(await pingUntilReply(lab, nsA, theirs.address, 30_000), `no reply from wireguard-go through the installed node: ${mine.log.join('')}`);
  const doctor = await installedNetmend(['doctor', 'routes', '--json'], nsA);
  assert.ok(doctor.code === 0 || doctor.code === 1, doctor.stderr);
  const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string }> }).checks;
  assert.ok(checks.some((check) => check.status !== 'skip'), `doctor found no mesh tunnel: ${doctor.stdout}`);
  const fromCheckout = await lab.netmend(nsA, ['doctor', 'routes', '--json']);
  assert.deepEqual(JSON.parse(doctor.stdout), JSON.parse(fromCheckout.stdout), 'the installed package diagnoses as the checkout does');
});

test('with prebuilds and scripts allowed, `npm rebuild` compiles nothing', { skip, timeout: 120_000 }, async () => {
  const rebuild = await run('npm', ['rebuild', '-g', '--prefix', prefix, '--allow-scripts=netmend', 'netmend'], { timeoutMs: 120_000 });
  assert.equal(rebuild.code, 0, rebuild.stderr);
  assert.equal(existsSync(join(installed, 'native', 'build')), false);
});

test('with no prebuild for the platform: node up exits 3 in one line naming it and what to do; doctor and --version still work', { skip, timeout: 60_000 }, async (t) => {
  rmSync(join(installed, 'native', 'prebuilds', `linux-${process.arch}`), { recursive: true });
  const version = await installedNetmend(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, new RegExp(`\ntun addon: not available: the native TUN addon has no build for linux-${process.arch} \\(.*glibc [\\d.]+\\)\n`));

  const lab = Lab.forTest(t);
  const ns = await lab.netns('inst');
  const iface = uniqueName('nmi');
  const config = join(lab.tmpdir(), `${iface}.conf`);
  writeFileSync(config, `[Interface]\nPrivateKey = ${b64(generatePrivateKey())}\nAddress = 10.233.0.1/24\n`, { mode: 0o600 });
  const up = await run('ip', ['netns', 'exec', ns, netmendExe, 'node', 'up', '-c', config], { env: { ...env, NETMEND_RUN_DIR: lab.tmpdir() } });
  assert.equal(up.code, 3, up.stderr);
  assert.equal(up.stderr.trim().split('\n').length, 1, up.stderr);
  assert.match(up.stderr, new RegExp(`no build for linux-${process.arch} .*npm rebuild -g --allow-scripts=netmend netmend`));
  assert.notEqual((await lab.exec(ns, 'ip', ['link', 'show', iface])).code, 0, 'no interface was created');

  const doctor = await installedNetmend(['doctor', 'routes'], ns);
  assert.equal(doctor.code, 0, doctor.stderr);
  assert.equal(doctor.stderr, '');
});

test('with no prebuild for the platform and scripts allowed, `npm rebuild` compiles the addon from the shipped sources', { skip, timeout: 180_000 }, async () => {
  const rebuild = await run('npm', ['rebuild', '-g', '--prefix', prefix, '--allow-scripts=netmend', 'netmend'], { timeoutMs: 170_000 });
  assert.equal(rebuild.code, 0, rebuild.stderr);
  const version = await installedNetmend(['--version']);
  assert.match(version.stdout, /\ntun addon: loaded native\/build\/Release\/netmend_tun\.node\n/);
});
