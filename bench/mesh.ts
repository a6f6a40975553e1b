/**
 * Mesh node throughput and first-ping latency against the reference, in one run on this machine:
 *   A) wireguard-go <-> wireguard-go   B) netmend <-> wireguard-go
 * Each pair lives in two fresh namespaces joined by veth. Prints iperf3 TCP throughput (netmend
 * sending, and with -R netmend receiving), time from a fresh tunnel to the first ping reply, and
 * the ratios. Needs root, wireguard-go, wg, iperf3.  Run: node dist/bench/mesh.js [seconds]
 */
import { readFileSync } from 'node:fs';
import { Lab } from '../test/lab/harness.js';
import { newNode, startNode, twoHosts, type Node } from '../test/lab/mesh-interop-lab.js';

const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 10);

interface PairFigures {
  label: string;
  firstPingMs: number;
  forwardMbps: number;
  reverseMbps: number;
  forwardRetransmits: number;
  cpuPercent?: number;
}

async function firstPing(lab: Lab, ns: string, address: string): Promise<number> {
  const start = performance.now();
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await lab.exec(ns, 'ping', ['-c', '1', '-W', '5', address], { timeoutMs: 10_000 });
    if (result.code === 0) return performance.now() - start;
  }
  throw new Error(`no ping reply from ${address}`);
}

async function iperf(lab: Lab, clientNs: string, serverNs: string, address: string, reverse: boolean): Promise<{ mbps: number; retransmits: number }> {
  const server = lab.spawn(serverNs, 'iperf3', ['-s', '-1', '-B', address]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const args = ['-c', address, '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])];
  const result = await lab.exec(clientNs, 'iperf3', args, { timeoutMs: (seconds + 30) * 1000 });
  server.kill('SIGTERM');
  if (result.code !== 0) throw new Error(`iperf3 failed: ${result.stderr || result.stdout.slice(0, 300)}`);
  const report = JSON.parse(result.stdout);
  return { mbps: report.end.sum_received.bits_per_second / 1e6, retransmits: report.end.sum_sent.retransmits ?? 0 };
}

/** CPU seconds a process used, from /proc/PID/stat (utime + stime). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function measurePair(label: string, kind: Node['kind'], port: number): Promise<PairFigures> {
  const lab = new Lab();
  try {
    const { nsA, nsB } = await twoHosts(lab);
    const a = newNode(kind, nsA, '10.232.0.1', port);
    const b = newNode('wireguard-go', nsB, '10.232.0.2', port + 1);
    await startNode(lab, b, [{ node: a }]);
    await startNode(lab, a, [{ node: b, endpoint: `10.231.0.2:${port + 1}` }]);
    const firstPingMs = await firstPing(lab, nsA, '10.232.0.2');
    const cpuBefore = cpuSeconds(a.process?.pid);
    const wallBefore = performance.now();
    const forward = await iperf(lab, nsA, nsB, '10.232.0.2', false);
    const cpuPercent = kind === 'netmend' ? ((cpuSeconds(a.process?.pid) - cpuBefore) / ((performance.now() - wallBefore) / 1000)) * 100 : undefined;
    const reverse = await iperf(lab, nsA, nsB, '10.232.0.2', true);
    return { label, firstPingMs, forwardMbps: forward.mbps, reverseMbps: reverse.mbps, forwardRetransmits: forward.retransmits, cpuPercent };
  } finally {
    await lab.destroy();
  }
}

async function main(): Promise<void> {
  console.log(`mesh bench: iperf3 TCP ${seconds} s per direction, two namespaces over veth, same machine, one run`);
  const reference = await measurePair('wireguard-go <-> wireguard-go', 'wireguard-go', 51301);
  const ours = await measurePair('netmend      <-> wireguard-go', 'netmend', 51311);
  const row = (f: PairFigures) => `${f.label}  send ${f.forwardMbps.toFixed(1).padStart(7)} Mbit/s (${f.forwardRetransmits} retr)  receive ${f.reverseMbps.toFixed(1).padStart(7)} Mbit/s  first ping ${f.firstPingMs.toFixed(0).padStart(5)} ms${f.cpuPercent !== undefined ? `  node CPU ${f.cpuPercent.toFixed(0)}%` : ''}`;
  console.log(row(reference));
  console.log(row(ours));
  console.log(`ratio netmend/wireguard-go: send ${(ours.forwardMbps / reference.forwardMbps).toFixed(2)}x  receive ${(ours.reverseMbps / reference.reverseMbps).toFixed(2)}x  first ping ${(ours.firstPingMs / reference.firstPingMs).toFixed(2)}x (time; lower is better)`);
  console.log('target: >= 0.50x throughput (issue 6)');
}

await main();
