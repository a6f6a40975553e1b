#!/usr/bin/env node
// Entry point. Two fast paths skip loading oclif (about 150 ms on these machines) where startup
// time matters most: `--version`, and the commands with a fast runner (bin/fast-runners.js). A
// fast runner returns undefined for anything it does not handle itself (--help, unusual flags),
// and oclif then runs the command as usual.
import { exitOnSignals } from '../dist/src/cli/signals.js';
import { fastRunnerEntry, fastRunners, loadFastRunner } from './fast-runners.js';

// Through getBuiltinModule, not `import`: the ES module facade of node:fs reads every export,
// lazy ones included, which loads fs streams for nothing (a few ms of every start).
const { readFileSync } = process.getBuiltinModule('node:fs');

const argv = process.argv.slice(2);

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const { nativeAddonStatus } = await import('../dist/src/native/addon.js');
  process.stdout.write(`netmend/${version} ${process.platform}-${process.arch} node-${process.version}\ntun addon: ${nativeAddonStatus()}\n`);
  process.exit(0);
}

// SIGINT, SIGTERM and SIGHUP end every command promptly (130, 143, 129) after its cleanups.
exitOnSignals();

async function main() {
  // Two-word commands ("route explain") first, then one-word ones ("snapshot").
  const key = argv.slice(0, 2).join(' ');
  const words = fastRunners[key] ? 2 : 1;
  const entry = words === 2 ? fastRunners[key] : fastRunners[argv[0]];
  if (entry && !argv.includes('--help') && !argv.includes('-h')) {
    const runner = await loadFastRunner(entry);
    const code = await runner[fastRunnerEntry(entry).exportName](argv.slice(words));
    if (code !== undefined) {
      process.exitCode = code;
      return;
    }
  }
  const { runOclif } = await import('../dist/src/cli/oclif-main.js');
  const code = await runOclif(argv, import.meta.url);
  if (code !== undefined) process.exitCode = code;
}

await main();
