/**
 * The one place that loads the project's native addon (native/). node-gyp-build picks the file:
 * a build compiled on this machine (native/build/Release, from `npm install` with scripts on a
 * platform without a prebuild, or a developer's node-gyp run) wins, else the prebuilt binary in
 * native/prebuilds/PLATFORM-ARCH whose tags (napi, glibc, armv7) match this Node.
 * Everything but the mesh node works without it, so a failure is reported only to those who
 * need the addon, as one line naming the platform and what to do.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckCouldNotRunError } from '../errors.js';

// dist/src/native/addon.js -> <package>/native/
export const nativeDir = fileURLToPath(new URL('../../../native/', import.meta.url));
const packageDir = fileURLToPath(new URL('../../../', import.meta.url));

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };

type Attempt = { addon: unknown; file: string } | { error: CheckCouldNotRunError };
let attempt: Attempt | undefined;

/** This machine as a prebuild would have to match it: e.g. `linux-arm (armv6, glibc 2.31)`. */
export function platformDescription(): string {
  const details: string[] = [];
  if (process.arch === 'arm') details.push(`armv${(process.config.variables as { arm_version?: string }).arm_version ?? '?'}`);
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  details.push(header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'not glibc');
  return `${process.platform}-${process.arch} (${details.join(', ')})`;
}

function howToBuild(): string {
  // In a checkout the prebuilds come from the project's build; in an installed package, from source.
  if (existsSync(`${nativeDir}prebuild.js`)) return 'build it with `npm run build:native`, which needs gcc, make and python3';
  return 'netmend ships prebuilt addons for linux x64, arm64 and armv7 with glibc 2.34+; compile one here with `npm rebuild -g --allow-scripts=netmend netmend`, which needs gcc, make and python3';
}

function load(): Attempt {
  let file: string;
  try {
    file = nodeGypBuild.resolve(nativeDir);
  } catch {
    return { error: new CheckCouldNotRunError(`the native TUN addon has no build for ${platformDescription()}`, howToBuild()) };
  }
  try {
    return { addon: require(file), file };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    return { error: new CheckCouldNotRunError(`the native TUN addon ${relative(packageDir, file)} does not load on ${platformDescription()}: ${reason}`, howToBuild(), error) };
  }
}

/** The addon's exports; throws CheckCouldNotRunError (exit 3) when there is no working build. */
export function loadNativeAddon<T>(): T {
  attempt ??= load();
  if ('error' in attempt) throw attempt.error;
  return attempt.addon as T;
}

/** For `netmend --version`: which addon file loaded, or why none did. */
export function nativeAddonStatus(): string {
  attempt ??= load();
  if ('error' in attempt) return `not available: ${attempt.error.message}`;
  return `loaded ${relative(packageDir, attempt.file)}`;
}
