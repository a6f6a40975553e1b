#!/usr/bin/env node
// npm's install hook for the published package: nothing to do when a prebuilt addon
// (native/prebuilds/) loads on this machine; otherwise compile one from the shipped sources with
// node-gyp into native/build/, which the loader prefers. A failed compile never fails the
// install: everything but `netmend node up` works without the addon, and node up says what to do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const nativeDir = fileURLToPath(new URL('.', import.meta.url));
// In a checkout, `prepare` builds the prebuilds (native/prebuild.js is not in the package).
if (existsSync(new URL('prebuild.js', import.meta.url))) process.exit(0);

try {
  createRequire(import.meta.url)('node-gyp-build')(nativeDir);
  process.exit(0);
} catch {
  // no prebuild for this platform, or it does not load here (e.g. an older glibc): compile
}
const nodeGyp = process.env.npm_config_node_gyp ? [process.execPath, process.env.npm_config_node_gyp] : ['node-gyp'];
const result = spawnSync(nodeGyp[0], [...nodeGyp.slice(1), 'rebuild'], { cwd: nativeDir, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`netmend: could not compile the native TUN addon for ${process.platform}-${process.arch}; \`netmend node up\` needs it (gcc, make and python3), everything else works`);
}
