/**
 * Mesh node throughput and latency against the reference, in one run on this machine:
 *   A) wireguard-go <-> wireguard-go     (the reference pair)
 *   B) netmend      <-> netmend          (the same engine at both ends, `node up -c`)
 *   C) netmend      <-> wireguard-go     (interop: netmend's side is what is measured)
 * Each pair lives in two fresh namespaces joined by veth. Per pair: iperf3 TCP with 1 and 4
 * parallel streams in both directions, flood-ping round trips per second, and the time from a
 * fresh tunnel to the first ping reply (handshake included). Prints the figures and the ratios
 * netmend / wireguard-go. Needs root, wireguard-go, wg, iperf3.
 *   node dist/bench/mesh.js [seconds-per-run]
 */
import { Lab } from '../test/lab/harness.js';
import { newNode, startNode, twoHosts, type Node } from '../test/lab/mesh-interop-lab.js';

const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 5);
const PINGS = 2000;

interface PairFigures {
  label: string;
  firstPingMs: number;
  pingsPerSecond: number;
  /** Mbit/s keyed by `${direction}-${streams}`: send = A -> B, receive = B -> A. */
  mbps: Record<string, number>;
}

const RUNS: Array<{ key: string; reverse: boolean; streams: number }> = [
  { key: 'send-1', reverse: false, streams: 1 },
  { key: 'receive-1', reverse: true, streams: 1 },
  { key: 'send-4', reverse: false, streams: 4 },
  { key: 'receive-4', reverse: true, streams: 4 },
];

async function firstPing(lab: Lab, ns: string, address: string): Promise<number> {
  const start = performance.now();
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await lab.exec(ns, 'ping', ['-c', '1', '-W', '5', address], { timeoutMs: 10_000 });
    if (result.code === 0) return performance.now() - start;
  }
  throw new Error(`no ping reply from ${address}`);
}

async function pingRate(lab: Lab, ns: string, address: string): Promise<number> {
  const start = performance.now();
  const result = await lab.exec(ns, 'ping', ['-f', '-q', '-c', String(PINGS), '-W', '1', address], { timeoutMs: 120_000 });
  const elapsed = (performance.now() - start) / 1000;
  const received = Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 0);
  return received / elapsed;
}

async function iperf(lab: Lab, clientNs: string, serverNs: string, address: string, reverse: boolean, streams: number): Promise<number> {
  const server = lab.spawn(serverNs, 'iperf3', ['-s', '-1', '-B', address]);
  try {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(await lab.exec(serverNs, 'ss', ['-H', '-tln', 'sport = :5201'])).stdout.includes('5201')) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const args = ['-c', address, '-t', String(seconds), '-P', String(streams), '-J', ...(reverse ? ['-R'] : [])];
    const result = await lab.exec(clientNs, 'iperf3', args, { timeoutMs: (seconds + 30) * 1000 });
    if (result.code !== 0) throw new Error(`iperf3 failed: ${result.stderr || result.stdout.slice(0, 300)}`);
    return JSON.parse(result.stdout).end.sum_received.bits_per_second / 1e6;
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM');
  }
}

async function measurePair(label: string, kindA: Node['kind'], kindB: Node['kind'], port: number): Promise<PairFigures> {
  const lab = new Lab();
  try {
    const { nsA, nsB } = await twoHosts(lab);
    const a = newNode(kindA, nsA, '10.232.0.1', port);
    const b = newNode(kindB, nsB, '10.232.0.2', port + 1);
    await startNode(lab, b, [{ node: a }]);
    await startNode(lab, a, [{ node: b, endpoint: `10.231.0.2:${port + 1}` }]);
    const firstPingMs = await firstPing(lab, nsA, '10.232.0.2');
    const pingsPerSecond = await pingRate(lab, nsA, '10.232.0.2');
    const mbps: Record<string, number> = {};
    for (const run of RUNS) mbps[run.key] = await iperf(lab, nsA, nsB, '10.232.0.2', run.reverse, run.streams);
    return { label, firstPingMs, pingsPerSecond, mbps };
  } finally {
    await lab.destroy();
  }
}

function row(f: PairFigures): string {
  const cells = RUNS.map((run) => `${f.mbps[run.key].toFixed(0).padStart(6)}`).join(' ');
  return `${f.label.padEnd(30)} ${cells}   ${f.pingsPerSecond.toFixed(0).padStart(7)}   ${f.firstPingMs.toFixed(0).padStart(6)}`;
}

function ratios(label: string, ours: PairFigures, reference: PairFigures): string {
  const cells = RUNS.map((run) => `${(ours.mbps[run.key] / reference.mbps[run.key]).toFixed(2).padStart(5)}x`).join(' ');
  return `${label.padEnd(30)} ${cells}   ${(ours.pingsPerSecond / reference.pingsPerSecond).toFixed(2).padStart(6)}x   ${(ours.firstPingMs / reference.firstPingMs).toFixed(2).padStart(5)}x`;
}

async function main(): Promise<void> {
  console.log(`mesh bench: iperf3 TCP ${seconds} s per run, ${PINGS} flood pings, two namespaces over veth, same machine, one run`);
  const reference = await measurePair('wireguard-go <-> wireguard-go', 'wireguard-go', 'wireguard-go', 51301);
  const pair = await measurePair('netmend      <-> netmend', 'netmend', 'netmend', 51311);
  const interop = await measurePair('netmend      <-> wireguard-go', 'netmend', 'wireguard-go', 51321);
  console.log(`${'Mbit/s (send = A->B)'.padEnd(30)}  send1   recv1  send4  recv4   pings/s   1st ms`);
  for (const figures of [reference, pair, interop]) console.log(row(figures));
  console.log(`${'ratio vs wireguard-go pair'.padEnd(30)}  (throughput and pings: higher is better; first ping: lower is better)`);
  console.log(ratios('netmend pair', pair, reference));
  console.log(ratios('netmend <-> wireguard-go', interop, reference));
  console.log('goal: >= 1.00x throughput both directions, first ping <= 1.00x');
}

await main();
