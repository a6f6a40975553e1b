#!/usr/bin/env node
// `npm test`: installs the Debian packages the lab needs (as root, when missing), builds, and
// runs every compiled test file under node's test runner. Arguments filter test files by
// substring: `npm test -- route` runs only files whose path contains "route".
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

// binary -> Debian package. Kept here (not in .ci/run) so a developer's `npm test` gets them too.
const needed = {
  ip: 'iproute2',
  'wireguard-go': 'wireguard-go',
  wg: 'wireguard-tools',
  iperf3: 'iperf3',
  dnsmasq: 'dnsmasq-base',
  unbound: 'unbound',
  busybox: 'busybox',
  dig: 'dnsutils',
  ping: 'iputils-ping',
  dash: 'dash',
  shellcheck: 'shellcheck',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  cc: 'gcc',
  make: 'make',
  'g++': 'g++',
  python3: 'python3',
  nft: 'nftables',
  turnserver: 'coturn',
  // the prebuilt addons for arm64 and armv7 (native/prebuild.js) and running them (test/lab/prebuild-qemu)
  'aarch64-linux-gnu-gcc': 'gcc-aarch64-linux-gnu',
  '/usr/aarch64-linux-gnu/include/stdio.h': 'libc6-dev-arm64-cross',
  'arm-linux-gnueabihf-gcc': 'gcc-arm-linux-gnueabihf',
  '/usr/arm-linux-gnueabihf/include/stdio.h': 'libc6-dev-armhf-cross',
  'qemu-aarch64-static': 'qemu-user-static',
  'qemu-arm-static': 'qemu-user-static',
};

// Debian architectures whose packages test/lab/prebuild-qemu downloads (Node and its libraries
// for a qemu-user sysroot); dpkg must know them before apt can fetch their package lists.
const foreignArchitectures = ['arm64', 'armhf'];

function have(binary) {
  if (binary.startsWith('/')) return existsSync(binary);
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (existsSync(join(dir, binary))) return true;
  }
  return false;
}

function addForeignArchitectures(env) {
  const known = spawnSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' });
  if (known.status !== 0) return;
  const missing = foreignArchitectures.filter((arch) => !known.stdout.split('\n').includes(arch));
  if (missing.length === 0) return;
  console.error(`test: adding Debian architectures ${missing.join(' ')}`);
  for (const arch of missing) spawnSync('dpkg', ['--add-architecture', arch], { stdio: 'inherit' });
  spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
}

function installMissing() {
  const missing = [...new Set(Object.entries(needed).filter(([bin]) => !have(bin)).map(([, pkg]) => pkg))];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (process.getuid?.() === 0) addForeignArchitectures(env);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`test: missing Debian packages (${missing.join(' ')}); lab tests need root and will be skipped`);
    return;
  }
  console.error(`test: installing ${missing.join(' ')}`);
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    result = install();
  }
  if (result.status !== 0) {
    console.error('test: apt-get install failed');
    process.exit(1);
  }
}

function findTests(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (entry.endsWith('.test.js')) out.push(path);
  }
  return out;
}

// The prebuilt addons, rebuilt when native/'s sources changed (native/prebuild.js keeps a hash).
function buildNativeAddons() {
  const build = spawnSync(process.execPath, [join(root, 'native', 'prebuild.js')], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('test: building the native TUN addon failed');
    process.exit(1);
  }
}

installMissing();
buildNativeAddons();
// NETMEND_ALLOW_TYPE_ERRORS=1 keeps going when tsc reports errors (it still emits JS): for
// work in progress while others' files are mid-change. CI never sets it.
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0 && process.env.NETMEND_ALLOW_TYPE_ERRORS !== '1') {
  console.error('test: tsc reported errors');
  process.exit(1);
}
// The fast runners' bundles (bin/build-fast-runners.js): bin/run.js prefers them, so they must
// be rebuilt from what tsc just emitted, or the lab tests would run yesterday's code.
const bundled = spawnSync(process.execPath, [join(root, 'bin', 'build-fast-runners.js')], { cwd: root, stdio: 'inherit' });
if (bundled.status !== 0) {
  console.error('test: bundling the fast runners failed');
  process.exit(1);
}
execFileSync(join(root, 'node_modules', '.bin', 'oclif'), ['manifest'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

const filters = process.argv.slice(2);
const files = findTests(join(root, 'dist', 'test')).filter((file) => {
  const rel = relative(root, file);
  return filters.length === 0 || filters.some((filter) => rel.includes(filter));
});
if (files.length === 0) {
  console.error(`test: no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.NETMEND_TEST_CONCURRENCY ?? '2';
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
