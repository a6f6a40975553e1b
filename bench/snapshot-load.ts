/**
 * Loading a saved snapshot of 500,000 routes (spread over three tables, as on a multi-WAN router):
 * what validation adds to reading the JSON. Reference, in the same run: the same file read and
 * parsed by `node -e` with nothing else. In process: median JSON.parse time against the median
 * time of the validator alone. No root needed: node dist/bench/snapshot-load.js [routes]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route, Snapshot } from '../src/snapshot/types.js';
import { validateSnapshot } from '../src/snapshot/validate.js';
import { formatMeasurement, formatRatio, measureCommand } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const count = Number(process.argv[2] ?? 500_000);
const runs = Number(process.env.BENCH_RUNS ?? 5);

function route(i: number): Route {
  const table = 100 + (i % 3);
  return { family: 4, table, type: 'unicast', dst: `${10 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`, gateway: `192.168.${table - 99}.1`, dev: 'eth0', metric: 0, protocol: 'bird', scope: 'global', flags: [] };
}

const snapshot: Snapshot = {
  version: 1, host: 'bench', takenAt: new Date().toISOString(), source: 'file',
  links: [
    { index: 1, name: 'lo', kind: 'loopback', flags: ['UP'], mtu: 65536, operstate: 'UNKNOWN', address: '00:00:00:00:00:00' },
    { index: 2, name: 'eth0', kind: 'ether', flags: ['UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01' },
  ],
  addresses: [{ ifindex: 2, dev: 'eth0', family: 4, local: '192.168.1.10', prefixlen: 16, scope: 'global', flags: [] }],
  routes: Array.from({ length: count }, (_, i) => route(i)),
  rules: [100, 101, 102].map((table, i) => ({ family: 4 as const, priority: 1000 + i, not: false, action: 'lookup' as const, table })),
  sysctls: { interfaces: {} },
};

const dir = mkdtempSync(join(tmpdir(), 'netmend-bench-'));
try {
  const file = join(dir, 'snapshot.json');
  writeFileSync(file, JSON.stringify(snapshot));
  const text = readFileSync(file, 'utf8');
  const parseMs: number[] = [];
  const validateMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    let started = performance.now();
    const data = JSON.parse(text);
    parseMs.push(performance.now() - started);
    started = performance.now();
    validateSnapshot(data, file);
    validateMs.push(performance.now() - started);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`${count} routes in 3 tables, ${(text.length / 1e6).toFixed(0)} MB of JSON`);
  console.log(`in process: JSON.parse ${median(parseMs).toFixed(0)} ms, validation ${median(validateMs).toFixed(0)} ms (${((median(validateMs) / median(parseMs)) * 100).toFixed(0)}% of the parse)`);
  const reference = await measureCommand('node: read + JSON.parse only', process.execPath, ['-e', `JSON.parse(require('fs').readFileSync(${JSON.stringify(file)}, 'utf8'))`], { runs });
  const explain = await measureCommand('netmend route explain --snapshot', process.execPath, [bin, 'route', 'explain', '10.1.2.3', '--snapshot', file], { runs });
  console.log(formatMeasurement(reference));
  console.log(formatMeasurement(explain));
  console.log(formatRatio(explain, reference));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
