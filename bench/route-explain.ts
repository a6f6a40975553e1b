/**
 * `netmend route explain` on a namespace holding 500,000 routes, against
 * `ip -json route show table all` alone in the same run: median wall time and peak RSS.
 * Target: no slower than ip, at most 200 MB. Run as root: node dist/bench/route-explain.js [routes]
 */
import { fileURLToPath } from 'node:url';
import { createBigTable } from './lib/big-table.js';
import { formatMeasurement, formatRatio, measureCommand } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const routes = Number(process.argv[2] ?? 500_000);
const runs = Number(process.env.BENCH_RUNS ?? 5);

console.log(`loading ${routes} routes into a namespace...`);
const started = Date.now();
const table = createBigTable(routes);
try {
  console.log(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s; probe ${table.probe}`);
  const inNs = (file: string, ...args: string[]) => ['netns', 'exec', table.ns, file, ...args];
  const reference = await measureCommand('ip -json route show table all', 'ip', inNs('ip', '-json', 'route', 'show', 'table', 'all'), { runs });
  const explain = await measureCommand('netmend route explain', 'ip', inNs(process.execPath, bin, 'route', 'explain', table.probe), { runs });
  const explainJson = await measureCommand('netmend route explain --json', 'ip', inNs(process.execPath, bin, 'route', 'explain', table.probe, '--json'), { runs });
  console.log(formatMeasurement(reference));
  console.log(formatMeasurement(explain));
  console.log(formatMeasurement(explainJson));
  console.log(formatRatio(explain, reference));
  console.log(formatRatio(explainJson, reference));
  const ok = explain.medianWallMs <= reference.medianWallMs && explain.peakRssMb <= 200;
  console.log(ok ? 'target met: no slower than ip, peak RSS <= 200 MB' : 'target NOT met (no slower than ip, peak RSS <= 200 MB)');
} finally {
  table.destroy();
}
