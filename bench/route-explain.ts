/**
 * `netmend route explain` on a namespace holding 500,000 routes, against
 * `ip -json route show table all` alone in the same run, in alternation: median wall time and peak RSS.
 * Target: no slower than ip, at most 200 MB. Run as root: node dist/bench/route-explain.js [routes]
 */
import { fileURLToPath } from 'node:url';
import { createBigTable } from './lib/big-table.js';
import { formatMeasurement, formatRatio, measureInterleaved, pairedRatio } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const routes = Number(process.argv[2] ?? 500_000);
const runs = Number(process.env.BENCH_RUNS ?? 5);

console.log(`loading ${routes} routes into a namespace...`);
const started = Date.now();
const table = createBigTable(routes);
try {
  console.log(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s; probe ${table.probe}`);
  const inNs = (file: string, ...args: string[]) => ['netns', 'exec', table.ns, file, ...args];
  const [reference, explain, explainJson] = await measureInterleaved([
    { label: 'ip -json route show table all', file: 'ip', args: inNs('ip', '-json', 'route', 'show', 'table', 'all') },
    { label: 'netmend route explain', file: 'ip', args: inNs(process.execPath, bin, 'route', 'explain', table.probe) },
    { label: 'netmend route explain --json', file: 'ip', args: inNs(process.execPath, bin, 'route', 'explain', table.probe, '--json') },
  ], { runs });
  console.log(formatMeasurement(reference));
  console.log(formatMeasurement(explain));
  console.log(formatMeasurement(explainJson));
  console.log(formatRatio(explain, reference, true));
  console.log(formatRatio(explainJson, reference, true));
  const ok = pairedRatio(explain, reference) <= 1 && explain.peakRssMb <= 200;
  console.log(ok ? 'target met: no slower than ip, peak RSS <= 200 MB' : 'target NOT met (no slower than ip, peak RSS <= 200 MB)');
} finally {
  table.destroy();
}
