/**
 * Mesh node throughput and latency against the reference, in one run on this machine:
 *   A) wireguard-go <-> wireguard-go     (the reference pair)
 *   B) netmend-wg   <-> netmend-wg       (netmend's engine at both ends)
 *   C) netmend-wg   <-> wireguard-go     (interop: netmend's side is what is measured)
 * Both programs are started and configured the same way (`PROGRAM -f IFACE`, then `ip` and
 * `wg set`), so every figure covers the same steps. Each pair lives in two fresh namespaces
 * joined by veth; the three pairs are set up together and stay up for the whole run.
 *  - first ping: from `wg set A peer B ... endpoint` on a fresh pair of peers (both sides removed
 *    and B re-added first, so there is no session) to the first ping reply, handshake included.
 *    Measured in alternation: one round on each pair per turn, the order rotating from turn to
 *    turn, so a burst of load on the shared machine hits the three alike. Reported: the median
 *    per pair and the paired ratio (median over turns of netmend / wireguard-go, the two rounds
 *    of a turn being moments apart), then the same for two parts of a round: the `wg set`, and
 *    the tunnel's part (the reply's round trip as ping reports it, the handshake included),
 *    which leaves the start-up of the `ping` process out;
 *  - flood-ping round trips per second; iperf3 TCP with 1 and 4 streams in both directions,
 *    one pair after the other.
 * Prints the figures and the ratios netmend / wireguard-go. Needs root, wireguard-go, wg, iperf3.
 *   node dist/bench/mesh.js [seconds-per-run]        everything (first ping: 7 turns)
 *   node dist/bench/mesh.js --first-ping [turns]     first ping only (default 15 turns)
 */
import { median, pairedRatioOf } from './lib/measure.js';
import { Lab } from '../test/lab/harness.js';
import { b64, iperf3, newNode, pingRoundTrip, startNode, twoHosts, type Node } from '../test/lab/mesh-interop-lab.js';

const firstPingOnly = process.argv[2] === '--first-ping';
const seconds = firstPingOnly ? 0 : Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 5);
const PINGS = 2000;
const FIRST_PING_TURNS = firstPingOnly ? Number(process.argv[3] ?? 15) : 7;

interface Pair {
  label: string;
  lab: Lab;
  a: Node;
  b: Node;
  /** B's outer address and port, as A's `wg set ... endpoint` names it. */
  endpoint: string;
}

/** One first-ping round, timed three ways. */
interface FirstPing {
  /** From `wg set A peer B ... endpoint` to A's first ping reply: the figure the goal is on. */
  totalMs: number;
  /** The `wg set` alone (the node's control socket, plus starting `wg`). */
  wgSetMs: number;
  /** The reply's round trip as ping itself reports it: the tunnel's part, handshake included. */
  tunnelMs: number;
}

interface PairFigures {
  label: string;
  /** Every first-ping round, in turn order. */
  firstPings: FirstPing[];
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

async function startPair(label: string, kindA: Node['kind'], kindB: Node['kind'], port: number): Promise<Pair> {
  const lab = new Lab();
  try {
    const { nsA, nsB } = await twoHosts(lab);
    const a = newNode(kindA, nsA, '10.232.0.1', port);
    const b = newNode(kindB, nsB, '10.232.0.2', port + 1);
    await startNode(lab, b, []);
    await startNode(lab, a, []);
    return { label, lab, a, b, endpoint: `10.231.0.2:${port + 1}` };
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}

/** One round: time from adding B as A's peer (no session on either side) to A's first ping reply. */
async function firstPingRound({ lab, a, b, endpoint }: Pair): Promise<FirstPing> {
  await wg(lab, a, ['peer', b64(b.publicKey), 'remove']);
  await wg(lab, b, ['peer', b64(a.publicKey), 'remove']);
  await wg(lab, b, ['peer', b64(a.publicKey), 'allowed-ips', `${a.address}/32`]);
  const start = performance.now();
  await wg(lab, a, ['peer', b64(b.publicKey), 'allowed-ips', `${b.address}/32`, 'endpoint', endpoint]);
  const wgSetMs = performance.now() - start;
  const tunnelMs = await pingRoundTrip(lab, a.ns, b.address, 30_000);
  if (tunnelMs === undefined) throw new Error(`no ping reply from ${b.address} (${a.kind} -> ${b.kind})`);
  return { totalMs: performance.now() - start, wgSetMs, tunnelMs };
}

/** First-ping rounds on every pair, one per pair per turn, the order rotating from turn to turn. */
async function firstPings(pairs: Pair[], turns: number): Promise<FirstPing[][]> {
  const times: FirstPing[][] = pairs.map(() => []);
  for (let turn = 0; turn < turns; turn++) {
    for (let k = 0; k < pairs.length; k++) {
      const which = (k + turn) % pairs.length;
      times[which].push(await firstPingRound(pairs[which]));
    }
  }
  return times;
}

async function pingRate(lab: Lab, ns: string, address: string): Promise<number> {
  const start = performance.now();
  const result = await lab.exec(ns, 'ping', ['-f', '-q', '-c', String(PINGS), '-W', '1', address], { timeoutMs: 120_000 });
  const elapsed = (performance.now() - start) / 1000;
  const received = Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 0);
  return received / elapsed;
}

async function throughput({ lab, a, b }: Pair): Promise<{ pingsPerSecond: number; mbps: Record<string, number> }> {
  const pingsPerSecond = await pingRate(lab, a.ns, b.address);
  const mbps: Record<string, number> = {};
  for (const run of RUNS) {
    const report = await iperf3(lab, b.ns, a.ns, b.address, seconds, { streams: run.streams, reverse: run.reverse });
    mbps[run.key] = report.sum_received.bits_per_second / 1e6;
  }
  return { pingsPerSecond, mbps };
}

function row(f: PairFigures): string {
  const cells = RUNS.map((run) => `${f.mbps[run.key].toFixed(0).padStart(6)}`).join(' ');
  return `${f.label.padEnd(30)} ${cells}   ${f.pingsPerSecond.toFixed(0).padStart(7)}   ${median(totals(f)).toFixed(1).padStart(6)}`;
}

function ratios(label: string, ours: PairFigures, reference: PairFigures): string {
  const cells = RUNS.map((run) => `${(ours.mbps[run.key] / reference.mbps[run.key]).toFixed(2).padStart(5)}x`).join(' ');
  return `${label.padEnd(30)} ${cells}   ${(ours.pingsPerSecond / reference.pingsPerSecond).toFixed(2).padStart(6)}x   ${pairedRatioOf(totals(ours), totals(reference)).toFixed(2).padStart(5)}x`;
}

const totals = (f: PairFigures) => f.firstPings.map((round) => round.totalMs);

function firstPingReport(figures: PairFigures[]): void {
  const [reference, ...others] = figures;
  console.log(`first ping, ms (${FIRST_PING_TURNS} turns in alternation): median [min - max]`);
  for (const f of figures) {
    const all = totals(f);
    console.log(`  ${f.label.padEnd(30)} ${median(all).toFixed(1).padStart(6)}  [${Math.min(...all).toFixed(1)} - ${Math.max(...all).toFixed(1)}]   ${all.map((t) => t.toFixed(1)).join(' ')}`);
  }
  for (const f of others) {
    console.log(`  ${f.label.trim().replace(/\s+/g, ' ')} / wireguard-go pair: ${(median(totals(f)) / median(totals(reference))).toFixed(2)}x of the medians, paired ${pairedRatioOf(totals(f), totals(reference)).toFixed(2)}x`);
  }
  console.log('  its parts, median ms (paired ratio): the `wg set` | the tunnel (ping\'s own round-trip time, handshake included)');
  for (const f of figures) {
    const part = (key: 'wgSetMs' | 'tunnelMs') => {
      const ours = f.firstPings.map((round) => round[key]);
      const ratio = f === reference ? '' : ` (${pairedRatioOf(ours, reference.firstPings.map((round) => round[key])).toFixed(2)}x)`;
      return `${median(ours).toFixed(2)}${ratio}`.padEnd(14);
    };
    console.log(`  ${f.label.padEnd(30)} ${part('wgSetMs')} | ${part('tunnelMs')}`);
  }
}

async function main(): Promise<void> {
  const what = firstPingOnly ? 'first ping only' : `iperf3 TCP ${seconds} s per run, ${PINGS} flood pings`;
  console.log(`mesh bench: ${what}, first ping ${FIRST_PING_TURNS} turns in alternation, two namespaces per pair over veth, same machine, one run`);
  const pairs: Pair[] = [];
  try {
    pairs.push(await startPair('wireguard-go <-> wireguard-go', 'wireguard-go', 'wireguard-go', 51301));
    pairs.push(await startPair('netmend-wg   <-> netmend-wg', 'netmend-wg', 'netmend-wg', 51311));
    pairs.push(await startPair('netmend-wg   <-> wireguard-go', 'netmend-wg', 'wireguard-go', 51321));
    const times = await firstPings(pairs, FIRST_PING_TURNS);
    const figures: PairFigures[] = pairs.map((pair, i) => ({ label: pair.label, firstPings: times[i], pingsPerSecond: NaN, mbps: {} }));
    firstPingReport(figures);
    if (firstPingOnly) return;
    for (const [i, pair] of pairs.entries()) Object.assign(figures[i], await throughput(pair));
    const [reference, pair, interop] = figures;
    console.log(`${'Mbit/s (send = A->B)'.padEnd(30)}  send1   recv1  send4  recv4   pings/s   1st ms`);
    for (const f of figures) console.log(row(f));
    console.log(`${'ratio vs wireguard-go pair'.padEnd(30)}  (throughput and pings: higher is better; first ping, paired: lower is better)`);
    console.log(ratios('netmend pair', pair, reference));
    console.log(ratios('netmend <-> wireguard-go', interop, reference));
    console.log('goal: >= 1.00x throughput both directions, first ping <= 1.00x');
  } finally {
    for (const pair of pairs) await pair.lab.destroy();
  }
}

await main();
