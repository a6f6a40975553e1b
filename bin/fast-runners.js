// Commands bin/run.js runs without loading oclif, each by a module that exports
// `runFast(argv)` and returns undefined for anything it leaves to oclif (--help, unusual flags).
// `npm run build` bundles each module with everything it imports into one CommonJS file
// (fastRunnerBundle; see bin/build-fast-runners.js): one file to read and compile instead of
// dozens of ES modules to resolve, which is most of a small command's start-up time.
export const fastRunners = {
  'route explain': '../dist/src/route/explain-fast.js',
  snapshot: '../dist/src/snapshot/snapshot-fast.js',
  'doctor routes': '../dist/src/doctor/fast.js',
  doctor: '../dist/src/doctor/fast-all.js',
};

/** Where the build puts a fast runner's bundle: dist/src/route/explain-fast.js -> dist/fast/route/explain-fast.cjs. */
export function fastRunnerBundle(modulePath) {
  return modulePath.replace('/dist/src/', '/dist/fast/').replace(/\.js$/, '.cjs');
}
