// Commands bin/run.js runs without loading oclif, each by a module that exports
// `runFast(argv)` and returns undefined for anything it leaves to oclif (--help, unusual flags).
// `npm run build` bundles each module with everything it imports into one CommonJS file
// (fastRunnerBundle; see bin/build-fast-runners.js): one file to read and compile instead of
// dozens of ES modules to resolve, which is most of a small command's start-up time.
export const fastRunners = {
  'route explain': '../dist/src/route/explain-fast.js',
  'path explain': '../dist/src/path/explain-fast.js',
  snapshot: '../dist/src/snapshot/snapshot-fast.js',
  'doctor routes': '../dist/src/doctor/fast.js',
  // One module (and so one bundle) serves both doctor commands: `#name` picks the export to run.
  doctor: '../dist/src/doctor/fast.js#runFastAll',
};

/** A table entry as its module path and the name of the function to run (default `runFast`). */
export function fastRunnerEntry(entry) {
  const [modulePath, exportName = 'runFast'] = entry.split('#');
  return { modulePath, exportName };
}

// Built-ins through getBuiltinModule, not `import`: the ES module facade of node:fs reads every
// export, lazy ones included, which loads fs streams for nothing (a few ms of every start).
const { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { createRequire } = process.getBuiltinModule('node:module');
const { dirname } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');
const { Script } = process.getBuiltinModule('node:vm');

/** Where the build puts a fast runner's bundle: dist/src/route/explain-fast.js -> dist/fast/route/explain-fast.cjs. */
export function fastRunnerBundle(entry) {
  return fastRunnerEntry(entry).modulePath.replace('/dist/src/', '/dist/fast/').replace(/\.js$/, '.cjs');
}

/** Suffix of the V8 code caches kept beside the bundles; the build deletes them with the old bundles. */
export const CODE_CACHE_SUFFIX = '.v8cache';

/**
 * The function a bundle's `import('package')` calls become (see bin/build-fast-runners.js): a
 * script compiled from a code cache has no dynamic import() of its own on Node 20, so the
 * package is imported from here, which finds the same node_modules.
 */
export const LAZY_IMPORT = '__netmendImport';
const lazyImport = (specifier) => import(specifier);

/**
 * A fast runner's module: from its bundle when the build made one, else from dist/src.
 *
 * The bundle is compiled with V8's code cache, as Python keeps .pyc files beside its sources:
 * compiling a bundle of a few hundred kB is a good part of a command's start, and the cache
 * (written after the first run that lacked a usable one, when the directory is writable) skips
 * it, along with compiling the functions that run used. The cache's name carries the bundle's
 * size and mtime, so a rebuilt bundle never meets the cache of an older one; V8 itself rejects a
 * cache from another Node version or other flags, and the bundle then compiles as usual.
 */
export async function loadFastRunner(entry) {
  const { modulePath } = fastRunnerEntry(entry);
  const bundle = fileURLToPath(new URL(fastRunnerBundle(modulePath), import.meta.url));
  const module = new URL(modulePath, import.meta.url);
  let bundleStat;
  try {
    bundleStat = statSync(bundle);
  } catch {
    return import(module.href);
  }
  // A module newer than its bundle (tsc ran, the bundler did not): the bundle is stale.
  if (statSync(module).mtimeMs > bundleStat.mtimeMs) return import(module.href);
  return loadBundle(bundle, bundleStat);
}

/** A bundle's exports, compiled with its code cache (see loadFastRunner). */
export function loadBundle(bundle, stat = statSync(bundle)) {
  const source = readFileSync(bundle, 'utf8');
  const cacheFile = `${bundle}.${stat.size}-${Math.trunc(stat.mtimeMs)}${CODE_CACHE_SUFFIX}`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname, ${LAZY_IMPORT}) {${source}\n})`, { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle), lazyImport);
  if (cachedData && !script.cachedDataRejected) return module.exports;
  // Every runner the module exports saves the cache once it has run (and so compiled what it used).
  const runners = { ...module.exports };
  for (const [name, exported] of Object.entries(module.exports)) {
    if (typeof exported !== 'function') continue;
    runners[name] = async (argv) => {
      const code = await exported(argv);
      saveCodeCache(script, cacheFile);
      return code;
    };
  }
  return runners;
}

function saveCodeCache(script, cacheFile) {
  const temp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, script.createCachedData());
    renameSync(temp, cacheFile);
  } catch {
    // A read-only installation runs without the cache.
    try { unlinkSync(temp); } catch { /* never written */ }
  }
}
