/**
 * `netmend snapshot` on a namespace holding half a million routes, against
 * `ip -json route show table all` measured in the same run (median wall time, peak RSS).
 * Targets (issue 2): netmend no slower than the ip command, peak RSS at most 200 MB.
 *
 *   node dist/bench/snapshot.js            # 500,000 routes, 5 timed runs each (needs root)
 *   NETMEND_BENCH_ROUTES=100000 NETMEND_BENCH_RUNS=3 node dist/bench/snapshot.js
 */
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, netmendBin, uniqueName } from '../test/lab/harness.js';
import { formatMeasurement, formatRatio, measureCommand, type Measurement } from './lib/measure.js';

const routeCount = Number(process.env.NETMEND_BENCH_ROUTES ?? 500_000);
const runs = Number(process.env.NETMEND_BENCH_RUNS ?? 5);

/** Distinct /24s from 32.0.0.0 up, all through one gateway on a veth (lab.md "Big routing tables"). */
function routeLines(count: number): string[] {
  const lines = new Array<string>(count);
  for (let i = 0; i < count; i++) lines[i] = `route add ${32 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24 via 10.255.0.2`;
  return lines;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the snapshot bench needs root (it builds a network namespace)');
  const lab = new Lab();
  const cleanup = () => lab.destroy();
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const ns = await lab.netns('bench');
    const peer = await lab.netns('benchp');
    const dev = uniqueName('bv');
    await lab.veth(ns, dev, peer, uniqueName('bp'));
    await lab.ip(ns, 'addr', 'add', '10.255.0.1/16', 'dev', dev);
    const started = Date.now();
    // Not lab.batch: loading half a million routes takes longer than the harness's 60 s command timeout.
    const batchFile = join(lab.tmpdir(), 'routes.batch');
    writeFileSync(batchFile, `${routeLines(routeCount).join('\n')}\n`);
    const loaded = spawnSync('ip', ['-n', ns, '-batch', batchFile], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (loaded.status !== 0) throw new Error(`ip -batch failed (${loaded.status ?? loaded.signal}): ${loaded.stderr.trim()}`);
    const total = (await lab.ip(ns, '-4', 'route', 'show', 'table', 'all')).split('\n').filter(Boolean).length;
    console.log(`namespace ${ns}: ${total} IPv4 routes (loaded ${routeCount} with ip -batch in ${((Date.now() - started) / 1000).toFixed(1)} s)`);

    const dir = lab.tmpdir();
    const inNs = (file: string, ...args: string[]) => ['netns', 'exec', ns, file, ...args];
    const options = { runs, warmup: 1 };
    const results: Measurement[] = [];
    const referenceFile = join(dir, 'ip-routes.json');
    const reference = await measureCommand('ip -json route show table all > FILE', 'ip', inNs('ip', '-json', 'route', 'show', 'table', 'all'), { ...options, stdoutFile: referenceFile });
    results.push(reference);
    const referenceNull = await measureCommand('ip -json route show table all > /dev/null', 'ip', inNs('ip', '-json', 'route', 'show', 'table', 'all'), options);
    results.push(referenceNull);
    const snapshotFile = join(dir, 'snapshot.json');
    const auto = await measureCommand('netmend snapshot --out FILE', 'ip', inNs(process.execPath, netmendBin, 'snapshot', '--out', snapshotFile), options);
    results.push(auto);
    const netlink = await measureCommand('netmend snapshot --source netlink --out FILE', 'ip', inNs(process.execPath, netmendBin, 'snapshot', '--source', 'netlink', '--out', snapshotFile), options);
    results.push(netlink);

    console.log('');
    for (const m of results) console.log(formatMeasurement(m));
    console.log('');
    console.log(`output: ip -json ${(statSync(referenceFile).size / 1e6).toFixed(1)} MB, netmend snapshot ${(statSync(snapshotFile).size / 1e6).toFixed(1)} MB`);
    for (const ours of [auto, netlink]) {
      console.log(formatRatio(ours, reference));
      console.log(formatRatio(ours, referenceNull));
      const fastEnough = ours.medianWallMs <= reference.medianWallMs;
      const smallEnough = ours.peakRssMb <= 200;
      console.log(`  target (no slower than ip -json to a file, peak RSS <= 200 MB): ${fastEnough && smallEnough ? 'met' : 'NOT met'}${fastEnough ? '' : ' (slower)'}${smallEnough ? '' : ' (memory)'}`);
    }
  } finally {
    await cleanup();
  }
}

await main();
