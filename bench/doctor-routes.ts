/**
 * `netmend doctor routes` on a namespace holding 500,000 routes (plus tailscaled-style rules and
 * table 52), against `ip -json route show table all` alone in the same namespace and run: median
 * wall time and peak RSS (the three commands run in alternation), for each table layout of bench/lib/big-table.ts (main, one non-main
 * table, three mwan3-style tables of 200,000). Target: no slower than ip, at most 200 MB.
 * Run as root: node dist/bench/doctor-routes.js [routes] [layouts]   (BENCH_RUNS=5 by default)
 *   node dist/bench/doctor-routes.js 500000 one-table,three-tables
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBigTable, parseLayouts } from './lib/big-table.js';
import { formatMeasurement, formatRatio, measureInterleaved, pairedRatio, type Measurement } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const routes = Number(process.argv[2] ?? 500_000);
const layouts = parseLayouts(process.argv[3]);
const runs = Number(process.env.BENCH_RUNS ?? 5);

const summary: string[] = [];
let allMet = true;
for (const layout of layouts) {
  console.log(`\n== layout ${layout}: loading ${routes} routes into a namespace...`);
  const started = Date.now();
  const table = createBigTable(routes, layout);
  try {
    console.log(`loaded ${table.routes} routes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
    const doctor = { requireSuccess: false };
    const [reference, human, json] = await measureInterleaved([
      { label: 'ip -json route show table all', file: 'ip', args: inNs('ip', '-json', 'route', 'show', 'table', 'all') },
      { label: 'netmend doctor routes', file: 'ip', args: inNs(process.execPath, bin, 'doctor', 'routes'), options: doctor },
      { label: 'netmend doctor routes --json', file: 'ip', args: inNs(process.execPath, bin, 'doctor', 'routes', '--json'), options: doctor },
    ], { runs });
    for (const measurement of [human, json]) {
      const broken = measurement.runs.filter((run) => run.exitCode > 1);
      if (broken.length) console.log(`WARNING: ${broken.length} run(s) of ${measurement.label} exited ${broken.map((run) => run.exitCode).join(', ')}: their figures are not a doctor run`);
    }
    for (const m of [reference, human, json]) console.log(formatMeasurement(m));
    console.log(formatRatio(human, reference, true));
    console.log(formatRatio(json, reference, true));
    // Judged on the paired ratio (see pairedRatio): the machines are shared and their load drifts.
    const met = (m: Measurement) => pairedRatio(m, reference) <= 1 && m.peakRssMb <= 200;
    const ok = met(human) && met(json);
    allMet &&= ok;
    console.log(ok ? 'target met: no slower than ip, peak RSS <= 200 MB' : 'target NOT met (no slower than ip, peak RSS <= 200 MB)');
    for (const m of [human, json]) {
      summary.push(`${layout.padEnd(12)} ${String(table.routes).padStart(7)} routes  ${m.label.padEnd(28)} ${m.medianWallMs.toFixed(0).padStart(5)} ms ${m.peakRssMb.toFixed(0).padStart(4)} MB  ip ${reference.medianWallMs.toFixed(0).padStart(5)} ms  ${(m.medianWallMs / reference.medianWallMs).toFixed(2)}x, paired ${pairedRatio(m, reference).toFixed(2)}x${met(m) ? '' : '  NOT met'}`);
    }
  } finally {
    table.destroy();
  }
}
console.log('\nsummary (median wall time, peak RSS; ip -json route show table all in the same namespace and run; ratio of medians, median of paired ratios):');
for (const line of summary) console.log(line);
console.log(allMet ? 'target met in every layout' : 'target NOT met in every layout');
