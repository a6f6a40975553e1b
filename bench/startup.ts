/**
 * Startup: median wall time of `netmend route explain` and `netmend --version` on this (small)
 * host, next to bare `node -e 0` measured in the same run. Target: route explain under 150 ms.
 * Reads the live state only. Run: node dist/bench/startup.js [runs]
 */
import { fileURLToPath } from 'node:url';
import { formatMeasurement, measureCommand } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const runs = Number(process.argv[2] ?? 21);
const options = { runs, warmup: 2 };

const node = await measureCommand('node -e 0', process.execPath, ['-e', '0'], options);
const version = await measureCommand('netmend --version', process.execPath, [bin, '--version'], options);
const explain = await measureCommand('netmend route explain 127.0.0.1', process.execPath, [bin, 'route', 'explain', '127.0.0.1'], options);
const explainJson = await measureCommand('netmend route explain 1.1.1.1 --json', process.execPath, [bin, 'route', 'explain', '1.1.1.1', '--json'], options);
for (const m of [node, version, explain, explainJson]) console.log(formatMeasurement(m));
for (const m of [version, explain, explainJson]) {
  console.log(`${m.label}: ${(m.medianWallMs - node.medianWallMs).toFixed(0)} ms over node -e 0${m.medianWallMs < 150 ? '' : ' (over the 150 ms target)'}`);
}
