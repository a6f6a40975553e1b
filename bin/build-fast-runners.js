#!/usr/bin/env node
// Build step (after tsc): bundles each fast runner of bin/fast-runners.js, with everything it
// imports, into one CommonJS file that bin/run.js loads (see loadFastRunner). Starting `netmend
// route explain` or `netmend doctor routes` then reads and compiles one file, without the ES
// module loader resolving dozens of modules one by one.
//
// What stays out of the bundles, loaded at run time as before:
// - packages a module imports with `await import('pkg')` (execa, ora): they are only needed by
//   some runs, and most are ES-only packages, which require() cannot load on Node 20. Their
//   import() calls go through a function the loader passes in (LAZY_IMPORT): on Node 20 a script
//   compiled from V8's code cache loses its own dynamic import() callback;
// - netlink, whose native addon is found relative to its own package.
// Packages imported statically are bundled. Node's built-in modules are loaded on first use of one
// of their exports, not when the bundle starts (lazyBuiltins): `doctor routes` need not load
// node:crypto and node:dgram for the DNS checks' sake. `import.meta.url` keeps meaning the URL of the module
// that wrote it (each occurrence is rewritten to that module's path, found relative to the bundle),
// so paths to the native TUN addon or the openwrt scripts resolve as from dist/src.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_CACHE_SUFFIX, fastRunnerBundle, fastRunnerEntry, fastRunners, LAZY_IMPORT } from './fast-runners.js';

const binDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(binDir, '..');

/** Marks packages imported with import() external, noting their names for the rewrite below. */
function lazyPackagesStayExternal(names) {
  return {
    name: 'lazy-packages-stay-external',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        names.add(args.path);
        return { path: args.path, external: true };
      });
    },
  };
}

const BUILTINS = new Set(builtinModules);

/**
 * Built-ins every Node process has loaded before any user code (fs, path, util, events, ...):
 * for those a stand-in would only add work. Asked of the Node that runs the build.
 */
function builtinsLoadedAtStart() {
  const list = execFileSync(process.execPath, ['-p', 'JSON.stringify(process.moduleLoadList)'], { encoding: 'utf8' });
  return new Set(JSON.parse(list).filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length)));
}
const LOADED_AT_START = builtinsLoadedAtStart();

/**
 * Each built-in module that a Node process has not loaded anyway at start becomes a stand-in that
 * requires the real one when one of its exports is first read: `import { createSocket } from 'node:dgram'` costs nothing until createSocket is used.
 * esbuild's interop copies a CommonJS module's exports as getters when the importing module
 * starts; the stand-in lists the names (taken from this Node at build time) without loading the
 * module, and each getter reads through to the real export. `default` is the module itself.
 */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    build.onResolve({ filter: /^[a-z]/ }, (args) => {
      // The stand-in's own require() of the real module stays a require().
      if (args.namespace === 'lazy-builtin') return undefined;
      const name = args.path.replace(/^node:/, '');
      if (!BUILTINS.has(name) || name.startsWith('_') || LOADED_AT_START.has(name)) return undefined;
      return { path: `node:${name}`, namespace: 'lazy-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = [...Object.getOwnPropertyNames(process.getBuiltinModule(args.path)), 'default'];
      return {
        loader: 'js',
        contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
const names = ${JSON.stringify(names)};
module.exports = new Proxy({}, {
  get: (_, key) => (key === '__esModule' ? true : key === 'default' ? load() : load()[key]),
  has: (_, key) => names.includes(key) || key in load(),
  ownKeys: () => names,
  // Listed without loading: the interop only asks whether the export is enumerable.
  getOwnPropertyDescriptor: (_, key) => (names.includes(key) ? { value: undefined, writable: true, enumerable: true, configurable: true } : undefined),
});
`,
      };
    });
  },
};

const MODULE_URL = '__netmendModuleUrl';

/**
 * Put at the top of each bundle, where `require` and `__dirname` are the bundle's own. The import
 * function falls back to import() when the bundle is loaded with a plain require().
 */
const bundleHead = [
  // First, so that the bundle (ES modules, strict) stays strict code.
  '"use strict";',
  `const ${MODULE_URL} = (fromBundle) => require("node:url").pathToFileURL(require("node:path").join(__dirname, fromBundle)).href;`,
  `const __netmendLazyImport = typeof ${LAZY_IMPORT} === "function" ? ${LAZY_IMPORT} : (specifier) => import(specifier);`,
].join('\n');

/** Rewrites `import.meta.url` to the module's own file URL, found relative to the bundle's directory. */
function moduleUrlPerModule(bundleDir) {
  return {
    name: 'import-meta-url-per-module',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
        const contents = await readFile(args.path, 'utf8');
        if (!contents.includes('import.meta')) return undefined;
        const rest = contents.replaceAll('import.meta.url', '');
        if (rest.includes('import.meta')) {
          return { errors: [{ text: `${relative(root, args.path)} uses import.meta beyond import.meta.url, which a CommonJS bundle cannot provide` }] };
        }
        const fromBundle = JSON.stringify(relative(bundleDir, args.path));
        return { contents: contents.replaceAll('import.meta.url', `${MODULE_URL}(${fromBundle})`), loader: 'js' };
      });
    },
  };
}

/** Bundles one fast runner module (an absolute path) into `bundle`, a CommonJS file, dropping its old code caches. */
export async function bundleFastRunner(entry, bundle) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error('esbuild is not installed (a devDependency: run `npm ci`); without the bundles bin/run.js loads the unbundled modules');
  }
  const lazyPackages = new Set();
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile: bundle,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['netlink'],
    plugins: [lazyBuiltins, lazyPackagesStayExternal(lazyPackages), moduleUrlPerModule(dirname(bundle))],
    logLevel: 'warning',
  });
  let code = result.outputFiles[0].text;
  for (const name of lazyPackages) code = code.replaceAll(`import(${JSON.stringify(name)})`, `__netmendLazyImport(${JSON.stringify(name)})`);
  // Anything else left as import() (a computed specifier) would fail once a code cache is used.
  const leftover = /\bimport\s*\(/.exec(code);
  if (leftover) {
    const line = code.slice(0, leftover.index).split('\n').length;
    throw new Error(`${relative(root, bundle)}:${line}: an import() the bundle cannot keep (only import('package') with a literal name can stay dynamic)`);
  }
  await mkdir(dirname(bundle), { recursive: true });
  await writeFile(bundle, `${bundleHead}\n${code}`);
  const dir = dirname(bundle);
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${basename(bundle)}.`) && name.endsWith(CODE_CACHE_SUFFIX)) await rm(join(dir, name), { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // One build per runner: a module's path relative to the bundle depends on where the bundle lies.
  try {
    const modules = new Set(Object.values(fastRunners).map((entry) => fastRunnerEntry(entry).modulePath));
    for (const modulePath of modules) await bundleFastRunner(resolve(binDir, modulePath), resolve(binDir, fastRunnerBundle(modulePath)));
  } catch (error) {
    console.error(`build-fast-runners: ${error.message}`);
    process.exit(1);
  }
}
