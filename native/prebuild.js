#!/usr/bin/env node
// Builds the native addon for every platform netmend ships a prebuilt binary for, into
// native/prebuilds/<platform>-<arch>/ (the prebuildify layout node-gyp-build loads from), by
// driving node-gyp with Debian's cross toolchains. It compiles whatever native/binding.gyp lists;
// N-API keeps each binary valid across Node versions, so one per platform is enough.
//
//   node native/prebuild.js          the targets whose toolchain is installed (warns about others)
//   node native/prebuild.js --all    every target, or fail (prepack: a tarball never lacks one)
//
// Nothing is rebuilt while the hash of native/'s sources matches the one recorded by the last
// build. native/build/ is removed afterwards so that, in a checkout too, the addon is loaded
// from the prebuilds a user gets (node-gyp-build prefers native/build/Release when it exists).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch as hostArch } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = fileURLToPath(new URL('.', import.meta.url));
const prebuildsDir = join(nativeDir, 'prebuilds');
const stampFile = join(prebuildsDir, 'inputs.json');

// The newest glibc symbol version a prebuild may need (glibc 2.34 moved pthread_* into libc.so.6
// with new versions). The README promises it; a source change needing newer fails the build here.
const GLIBC_FLOOR = [2, 34];

// Tags after the addon's name are node-gyp-build's: napi (any Node version), glibc (not musl),
// armv7 (refused by an armv6 Node, where this binary would die of SIGILL, rather than loaded).
const targets = [
  { arch: 'x64', triple: 'x86_64-linux-gnu', debian: 'gcc-x86-64-linux-gnu', machine: 62, tags: ['napi', 'glibc'] },
  { arch: 'arm64', triple: 'aarch64-linux-gnu', debian: 'gcc-aarch64-linux-gnu libc6-dev-arm64-cross', machine: 183, tags: ['napi', 'glibc'] },
  { arch: 'arm', triple: 'arm-linux-gnueabihf', debian: 'gcc-arm-linux-gnueabihf libc6-dev-armhf-cross', machine: 40, hardFloat: true, tags: ['napi', 'glibc', 'armv7'] },
];

function onPath(binary) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, binary)));
}

/** The compiler for a target: the host's own `cc` for its own arch, else the cross gcc with its
 *  libc headers (Debian installs gcc-*-linux-gnu without them under --no-install-recommends). */
function toolchainOf(target) {
  if (target.arch === hostArch()) return onPath('cc') ? { native: true, strip: 'strip' } : undefined;
  const gcc = `${target.triple}-gcc`;
  if (!onPath(gcc) || !existsSync(`/usr/${target.triple}/include/stdio.h`)) return undefined;
  return { native: false, gcc, strip: `${target.triple}-strip` };
}

/** npm's bundled node-gyp: npm names it for scripts it runs; otherwise found beside npm itself. */
function nodeGypCommand() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const npm = join(dir, 'npm');
    if (!dir || !existsSync(npm)) continue;
    const bundled = join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(bundled)) return [process.execPath, bundled];
  }
  return ['node-gyp'];
}

/** The installed Node headers when there are some (no download), as npm's `nodedir` does. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function sourceFiles(dir = nativeDir, out = []) {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (dir === nativeDir && (entry === 'build' || entry === 'prebuilds' || entry === 'install.js')) continue;
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else out.push(path);
  }
  return out;
}

function inputsHash() {
  const hash = createHash('sha256');
  for (const file of sourceFiles()) hash.update(relative(nativeDir, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return { hash: '', built: [] };
  }
}

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

/** The ELF header must say the architecture (and for arm, the hard-float ABI) the target names. */
function checkBinary(file, target) {
  const elf = readFileSync(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46) fail(`${file} is not an ELF file`);
  const machine = elf.readUInt16LE(18);
  if (machine !== target.machine) fail(`${file} is for ELF machine ${machine}, not ${target.arch} (${target.machine}): node-gyp ignored the cross compiler`);
  if (target.hardFloat && (elf.readUInt32LE(36) & 0x400) === 0) fail(`${file} is not hard-float (EF_ARM_ABI_FLOAT_HARD)`);
  const versions = (elf.toString('latin1').match(/GLIBC_2\.\d+(\.\d+)?/g) ?? []).map((v) => v.slice(6).split('.').map(Number));
  const newest = versions.sort((a, b) => b[0] - a[0] || b[1] - a[1])[0];
  if (newest && (newest[0] > GLIBC_FLOOR[0] || (newest[0] === GLIBC_FLOOR[0] && newest[1] > GLIBC_FLOOR[1]))) {
    fail(`${file} needs GLIBC_${newest.join('.')}, newer than the ${GLIBC_FLOOR.join('.')} the prebuilds promise`);
  }
}

function build(target, toolchain) {
  const env = { ...process.env };
  if (!toolchain.native) Object.assign(env, { CC: toolchain.gcc, CXX: toolchain.gcc, LINK: toolchain.gcc, AR: `${target.triple}-ar` });
  const [command, ...args] = nodeGypCommand();
  const result = spawnSync(command, [...args, 'rebuild', `--arch=${target.arch}`, ...nodedirArgs()], { cwd: nativeDir, env, encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    fail(`node-gyp failed for linux-${target.arch}${result.error ? `: ${result.error.message}` : ''}`);
  }
  const release = join(nativeDir, 'build', 'Release');
  const addons = readdirSync(release).filter((file) => file.endsWith('.node'));
  // node-gyp-build loads the one addon of a prebuilds directory; a second would be ambiguous.
  if (addons.length !== 1) fail(`native/binding.gyp built ${addons.length} addons (${addons.join(', ')}); the loader expects exactly one`);
  const built = join(release, addons[0]);
  if (spawnSync(toolchain.strip, ['--strip-unneeded', built], { stdio: 'inherit' }).status !== 0) fail(`${toolchain.strip} failed on ${built}`);
  checkBinary(built, target);
  const dir = join(prebuildsDir, `linux-${target.arch}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = [addons[0].replace(/\.node$/, ''), ...target.tags, 'node'].join('.');
  const partial = join(dir, `.${file}.partial`);
  copyFileSync(built, partial);
  renameSync(partial, join(dir, file));
  console.error(`prebuild: native/prebuilds/linux-${target.arch}/${file} (${statSync(join(dir, file)).size} bytes)`);
}

const requireAll = process.argv.includes('--all');
const hash = inputsHash();
const stamp = readStamp();
const fresh = stamp.hash === hash;
const missing = [];
const built = fresh ? stamp.built.filter((arch) => existsSync(join(prebuildsDir, `linux-${arch}`))) : [];
for (const target of targets) {
  if (built.includes(target.arch)) continue;
  const toolchain = toolchainOf(target);
  if (!toolchain) {
    // A prebuild from older sources must never ship or load.
    rmSync(join(prebuildsDir, `linux-${target.arch}`), { recursive: true, force: true });
    missing.push(target);
    continue;
  }
  build(target, toolchain);
  built.push(target.arch);
  mkdirSync(prebuildsDir, { recursive: true });
  writeFileSync(stampFile, `${JSON.stringify({ hash, built }, null, 2)}\n`);
}
rmSync(join(nativeDir, 'build'), { recursive: true, force: true });
if (missing.length > 0) {
  const message = `no toolchain for ${missing.map((t) => `linux-${t.arch}`).join(', ')} (Debian: apt-get install ${missing.map((t) => t.debian).join(' ')})`;
  if (requireAll) fail(message);
  console.error(`prebuild: warning: ${message}; those prebuilds are not built`);
}
