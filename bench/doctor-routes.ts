/**
 * `netmend doctor routes` on a namespace holding 500,000 routes (plus tailscaled-style rules and
 * table 52), against `ip -json route show table all` alone in the same run: median wall time and
 * peak RSS. Target: no slower than ip, at most 200 MB.
 * Run as root: node dist/bench/doctor-routes.js [routes]   (BENCH_RUNS=5 by default)
 */
import { execFileSync } from 'node:child_process';
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
  console.log(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // A tailscale0 with a peer and a route shadowing the LAN, so every check has work to do (and
  // one finding to prove with the simulator), instead of skipping on a host without a tunnel.
  const ip = (...args: string[]) => execFileSync('ip', ['-n', table.ns, ...args]);
  ip('tuntap', 'add', 'dev', 'tailscale0', 'mode', 'tun');
  ip('link', 'set', 'tailscale0', 'up');
  ip('addr', 'add', '100.100.1.2/32', 'dev', 'tailscale0');
  ip('route', 'add', '100.64.0.5', 'dev', 'tailscale0', 'table', '52');
  ip('route', 'add', '10.200.0.0/24', 'dev', 'tailscale0', 'table', '52');
  const inNs = (file: string, ...args: string[]) => ['netns', 'exec', table.ns, file, ...args];
  // The doctor exits 1 when a check fails; only its time and memory matter here.
  const options = { runs, requireSuccess: false };
  const reference = await measureCommand('ip -json route show table all', 'ip', inNs('ip', '-json', 'route', 'show', 'table', 'all'), { runs });
  const human = await measureCommand('netmend doctor routes', 'ip', inNs(process.execPath, bin, 'doctor', 'routes'), options);
  const json = await measureCommand('netmend doctor routes --json', 'ip', inNs(process.execPath, bin, 'doctor', 'routes', '--json'), options);
  for (const measurement of [human, json]) {
    const broken = measurement.runs.filter((run) => run.exitCode > 1);
    if (broken.length) console.log(`WARNING: ${broken.length} run(s) of ${measurement.label} exited ${broken.map((run) => run.exitCode).join(', ')}: their figures are not a doctor run`);
  }
  console.log(formatMeasurement(reference));
  console.log(formatMeasurement(human));
  console.log(formatMeasurement(json));
  console.log(formatRatio(human, reference));
  console.log(formatRatio(json, reference));
  const ok = human.medianWallMs <= reference.medianWallMs && Math.max(human.peakRssMb, json.peakRssMb) <= 200;
  console.log(ok ? 'target met: no slower than ip, peak RSS <= 200 MB' : 'target NOT met (no slower than ip, peak RSS <= 200 MB)');
} finally {
  table.destroy();
}
