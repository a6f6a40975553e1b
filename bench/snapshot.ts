/**
 * `netmend snapshot` on a namespace holding half a million routes, against
 * `ip -json route show table all` measured in the same namespace and run, in alternation (median
 * wall time, peak RSS), for each table layout of bench/lib/big-table.ts (main, one non-main table, three
 * mwan3-style tables of 200,000). Targets: netmend no slower than the ip command, peak RSS at
 * most 200 MB.
 *
 *   node dist/bench/snapshot.js                       # 500,000 routes, every layout, 5 timed runs each (needs root)
 *   NETMEND_BENCH_ROUTES=100000 NETMEND_BENCH_RUNS=3 node dist/bench/snapshot.js one-table
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBigTable, parseLayouts } from './lib/big-table.js';
import { formatMeasurement, formatRatio, measureInterleaved, pairedRatio, type Measurement } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const routeCount = Number(process.env.NETMEND_BENCH_ROUTES ?? 500_000);
const runs = Number(process.env.NETMEND_BENCH_RUNS ?? 5);
const layouts = parseLayouts(process.argv[2]);

if (process.getuid?.() !== 0) throw new Error('the snapshot bench needs root (it builds a network namespace)');
const dir = mkdtempSync(join(tmpdir(), 'netmend-bench-'));
const summary: string[] = [];
let allMet = true;
try {
  for (const layout of layouts) {
    console.log(`\n== layout ${layout}: loading ${routeCount} routes into a namespace...`);
    const started = Date.now();
    const table = createBigTable(routeCount, layout);
    try {
      console.log(`namespace ${table.ns}: ${table.routes} routes in the big table(s), loaded with ip -batch in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const inNs = (file: string, ...args: string[]) => ['netns', 'exec', table.ns, file, ...args];
      const referenceFile = join(dir, 'ip-routes.json');
      const snapshotFile = join(dir, 'snapshot.json');
      const ipJson = inNs('ip', '-json', 'route', 'show', 'table', 'all');
      const [reference, referenceNull, auto, netlink] = await measureInterleaved([
        { label: 'ip -json route show table all > FILE', file: 'ip', args: ipJson, options: { stdoutFile: referenceFile } },
        { label: 'ip -json route show table all > /dev/null', file: 'ip', args: ipJson },
        { label: 'netmend snapshot --out FILE', file: 'ip', args: inNs(process.execPath, bin, 'snapshot', '--out', snapshotFile) },
        { label: 'netmend snapshot --source netlink --out FILE', file: 'ip', args: inNs(process.execPath, bin, 'snapshot', '--source', 'netlink', '--out', snapshotFile) },
      ], { runs, warmup: 1 });

      console.log('');
      for (const m of [reference, referenceNull, auto, netlink]) console.log(formatMeasurement(m));
      console.log(`output: ip -json ${(statSync(referenceFile).size / 1e6).toFixed(1)} MB, netmend snapshot ${(statSync(snapshotFile).size / 1e6).toFixed(1)} MB`);
      // Judged on the paired ratio (see pairedRatio): the machines are shared and their load drifts.
      const met = (m: Measurement) => pairedRatio(m, reference) <= 1 && m.peakRssMb <= 200;
      for (const ours of [auto, netlink]) {
        console.log(formatRatio(ours, reference, true));
        console.log(formatRatio(ours, referenceNull, true));
        const fastEnough = pairedRatio(ours, reference) <= 1;
        const smallEnough = ours.peakRssMb <= 200;
        allMet &&= met(ours);
        console.log(`  target (no slower than ip -json to a file, peak RSS <= 200 MB): ${fastEnough && smallEnough ? 'met' : 'NOT met'}${fastEnough ? '' : ' (slower)'}${smallEnough ? '' : ' (memory)'}`);
        summary.push(`${layout.padEnd(12)} ${String(table.routes).padStart(7)} routes  ${ours.label.padEnd(44)} ${ours.medianWallMs.toFixed(0).padStart(5)} ms ${ours.peakRssMb.toFixed(0).padStart(4)} MB  ip > FILE ${reference.medianWallMs.toFixed(0).padStart(5)} ms  ${(ours.medianWallMs / reference.medianWallMs).toFixed(2)}x, paired ${pairedRatio(ours, reference).toFixed(2)}x${met(ours) ? '' : '  NOT met'}`);
      }
    } finally {
      table.destroy();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('\nsummary (median wall time, peak RSS; ip -json route show table all > FILE in the same namespace and run; ratio of medians, median of paired ratios):');
for (const line of summary) console.log(line);
console.log(allMet ? 'target met in every layout' : 'target NOT met in every layout');
