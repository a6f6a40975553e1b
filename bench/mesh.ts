/**
 * Mesh node throughput and latency against the reference, in one run on this machine:
 *   A) wireguard-go <-> wireguard-go     (the reference pair)
 *   B) netmend-wg   <-> netmend-wg       (netmend's engine at both ends)
 *   C) netmend-wg   <-> wireguard-go     (interop: netmend's side is what is measured)
 * Both programs are started and configured the same way (`PROGRAM -f IFACE`, then `ip` and
 * `wg set`), so every figure covers the same steps. Each pair lives in two fresh namespaces
 * joined by veth. Per pair:
 *  - first ping: from `wg set A peer B ... endpoint` on a fresh pair of peers (both sides removed
 *    and B re-added first, so there is no session) to the first ping reply, handshake included;
 *    the median of several rounds;
 *  - flood-ping round trips per second; iperf3 TCP with 1 and 4 streams in both directions.
 * Prints the figures and the ratios netmend / wireguard-go. Needs root, wireguard-go, wg, iperf3.
 *   node dist/bench/mesh.js [seconds-per-run]
 */
import { median } from './lib/measure.js';
import { Lab } from '../test/lab/harness.js';
import { b64, iperf3, newNode, pingUntilReply, startNode, twoHosts, type Node } from '../test/lab/mesh-interop-lab.js';

const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 5);
const PINGS = 2000;
const FIRST_PING_ROUNDS = 7;

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

async function wg(lab: Lab, node: Node, args: string[]): Promise<void> {
  const result = await lab.exec(node.ns, 'wg', ['set', node.iface, ...args]);
  if (result.code !== 0) throw new Error(`wg set ${node.iface} ${args.join(' ')}: ${result.stderr}`);
}

/** Median time from adding B as A's peer (no session on either side) to A's first ping reply. */
async function firstPing(lab: Lab, a: Node, b: Node, endpoint: string): Promise<number> {
  const times: number[] = [];
  for (let round = 0; round < FIRST_PING_ROUNDS; round++) {
    await wg(lab, a, ['peer', b64(b.publicKey), 'remove']);
    await wg(lab, b, ['peer', b64(a.publicKey), 'remove']);
    await wg(lab, b, ['peer', b64(a.publicKey), 'allowed-ips', `${a.address}/32`]);
    const start = performance.now();
    await wg(lab, a, ['peer', b64(b.publicKey), 'allowed-ips', `${b.address}/32`, 'endpoint', endpoint]);
    if (!(await pingUntilReply(lab, a.ns, b.address, 30_000))) throw new Error(`no ping reply from ${b.address} (${a.kind} -> ${b.kind})`);
    times.push(performance.now() - start);
  }
  return median(times);
}

async function pingRate(lab: Lab, ns: string, address: string): Promise<number> {
  const start = performance.now();
  const result = await lab.exec(ns, 'ping', ['-f', '-q', '-c', String(PINGS), '-W', '1', address], { timeoutMs: 120_000 });
  const elapsed = (performance.now() - start) / 1000;
  const received = Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 0);
  return received / elapsed;
}

async function measurePair(label: string, kindA: Node['kind'], kindB: Node['kind'], port: number): Promise<PairFigures> {
  const lab = new Lab();
  try {
    const { nsA, nsB } = await twoHosts(lab);
    const a = newNode(kindA, nsA, '10.232.0.1', port);
    const b = newNode(kindB, nsB, '10.232.0.2', port + 1);
    await startNode(lab, b, []);
    await startNode(lab, a, []);
    const firstPingMs = await firstPing(lab, a, b, `10.231.0.2:${port + 1}`);
    const pingsPerSecond = await pingRate(lab, nsA, '10.232.0.2');
    const mbps: Record<string, number> = {};
    for (const run of RUNS) {
      const report = await iperf3(lab, nsB, nsA, '10.232.0.2', seconds, { streams: run.streams, reverse: run.reverse });
      mbps[run.key] = report.sum_received.bits_per_second / 1e6;
    }
    return { label, firstPingMs, pingsPerSecond, mbps };
  } finally {
    await lab.destroy();
  }
}

function row(f: PairFigures): string {
  const cells = RUNS.map((run) => `${f.mbps[run.key].toFixed(0).padStart(6)}`).join(' ');
  return `${f.label.padEnd(30)} ${cells}   ${f.pingsPerSecond.toFixed(0).padStart(7)}   ${f.firstPingMs.toFixed(1).padStart(6)}`;
}

function ratios(label: string, ours: PairFigures, reference: PairFigures): string {
  const cells = RUNS.map((run) => `${(ours.mbps[run.key] / reference.mbps[run.key]).toFixed(2).padStart(5)}x`).join(' ');
  return `${label.padEnd(30)} ${cells}   ${(ours.pingsPerSecond / reference.pingsPerSecond).toFixed(2).padStart(6)}x   ${(ours.firstPingMs / reference.firstPingMs).toFixed(2).padStart(5)}x`;
}

async function main(): Promise<void> {
  console.log(`mesh bench: iperf3 TCP ${seconds} s per run, ${PINGS} flood pings, first ping median of ${FIRST_PING_ROUNDS}, two namespaces over veth, same machine, one run`);
  const reference = await measurePair('wireguard-go <-> wireguard-go', 'wireguard-go', 'wireguard-go', 51301);
  const pair = await measurePair('netmend-wg   <-> netmend-wg', 'netmend-wg', 'netmend-wg', 51311);
  const interop = await measurePair('netmend-wg   <-> wireguard-go', 'netmend-wg', 'wireguard-go', 51321);
  console.log(`${'Mbit/s (send = A->B)'.padEnd(30)}  send1   recv1  send4  recv4   pings/s   1st ms`);
  for (const figures of [reference, pair, interop]) console.log(row(figures));
  console.log(`${'ratio vs wireguard-go pair'.padEnd(30)}  (throughput and pings: higher is better; first ping: lower is better)`);
  console.log(ratios('netmend pair', pair, reference));
  console.log(ratios('netmend <-> wireguard-go', interop, reference));
  console.log('goal: >= 1.00x throughput both directions, first ping <= 1.00x');
}

await main();
