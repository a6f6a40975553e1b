/**
 * Startup: median wall time of `netmend --version`, `route explain` and `doctor routes` on this
 * (small) host, next to bare `node -e 0`, all run in alternation in the same run so load on a
 * shared machine hits them alike. Target (issue 10): route explain and doctor routes within 25 ms
 * of bare node. Reads the live state only. Run: node dist/bench/startup.js [runs]
 */
import { fileURLToPath } from 'node:url';
import { formatMeasurement, measureInterleaved, pairedDifferenceMs } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const runs = Number(process.argv[2] ?? 21);
const TARGET_MS = 25;

// The doctor exits 1 when a check fails here; its start-up is what counts.
const doctor = { requireSuccess: false };
const measured = await measureInterleaved([
  { label: 'node -e 0', file: process.execPath, args: ['-e', '0'] },
  { label: 'netmend --version', file: process.execPath, args: [bin, '--version'] },
  { label: 'netmend route explain 127.0.0.1', file: process.execPath, args: [bin, 'route', 'explain', '127.0.0.1'] },
  { label: 'netmend route explain 1.1.1.1 --json', file: process.execPath, args: [bin, 'route', 'explain', '1.1.1.1', '--json'] },
  { label: 'netmend doctor routes', file: process.execPath, args: [bin, 'doctor', 'routes'], options: doctor },
], { runs, warmup: 2 });
const [node, ...ours] = measured;
for (const m of measured) console.log(formatMeasurement(m));
let met = true;
for (const m of ours) {
  // Judged on the paired difference: the median over rounds of (this run - the node run next to it).
  const over = pairedDifferenceMs(m, node);
  const targeted = m.label.includes('route explain 127') || m.label.includes('doctor routes');
  if (targeted && over > TARGET_MS) met = false;
  const verdict = targeted ? (over <= TARGET_MS ? ` (within ${TARGET_MS} ms)` : ` (over the ${TARGET_MS} ms target)`) : '';
  console.log(`${m.label}: +${(m.medianWallMs - node.medianWallMs).toFixed(0)} ms over node -e 0 (medians), paired +${over.toFixed(0)} ms${verdict}`);
}
console.log(met ? `target met: route explain and doctor routes within ${TARGET_MS} ms of bare node` : `target NOT met (route explain and doctor routes within ${TARGET_MS} ms of bare node)`);
