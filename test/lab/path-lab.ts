/**
 * The kernel as oracle for `path explain`: a router namespace whose ruleset includes TRACE_TABLE,
 * `nft -a monitor trace` running in it, and raw-sender.py processes (raw sockets in client
 * namespaces or on the router, or writing into a TUN device on the router) sending one packet at
 * a time. After each packet a sentinel (dscp cs2, dropped by the trace chain) is sent and awaited,
 * so the packet's trace is complete before it is compared with netmend's answer over the snapshot
 * `netmend snapshot` took inside the router. Shared by the differential and router-ruleset tests.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { rulesetOf } from '../../src/netfilter/ruleset.js';
import type { Hook } from '../../src/netfilter/types.js';
import { chainHooks, compareOutcomes, explanationOutcome, groupTrace, kernelOutcome, type Outcome } from '../../src/path/kernel-trace.js';
import { explainPath, type PathExplanation, type PathQuery } from '../../src/path/simulate.js';
import { validateSnapshot } from '../../src/snapshot/validate.js';
import type { Snapshot } from '../../src/snapshot/types.js';
import { Lab, projectRoot } from './harness.js';

/**
 * Traces every packet from the first rule on, except the IPv6 neighbour discovery and MLD packets
 * the namespaces send on their own (they are accepted untraced); dscp cs2 marks the sentinels,
 * dropped at once.
 */
const ND_TYPES = 'nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report';
export const TRACE_TABLE = `table inet trace {
  chain pre {
    type filter hook prerouting priority -450; policy accept;
    icmpv6 type { ${ND_TYPES} } accept
    meta nftrace set 1
    ip dscp cs2 drop
    ip6 dscp cs2 drop
  }
  chain out {
    type filter hook output priority -450; policy accept;
    icmpv6 type { ${ND_TYPES} } accept
    meta nftrace set 1
    ip dscp cs2 drop
    ip6 dscp cs2 drop
  }
  chain obs_in {
    type filter hook input priority 1000; policy accept;
  }
  chain obs_fwd {
    type filter hook forward priority 1000; policy accept;
  }
  chain obs_post {
    type filter hook postrouting priority 1000; policy accept;
  }
}
`;

/**
 * The path lab's dual-WAN router: client c0 10.1.0.2 ↔ lan0 10.1.0.1, wan0 10.2.0.1 ↔ w0 10.2.0.2,
 * wan1 10.3.0.1 ↔ w1 10.3.0.2 (both world ends in one namespace). The main table's default leaves
 * through wan0, table 100's through wan1; the caller adds the rules that pick table 100.
 */
export async function dualWanRouter(lab: Lab, label: string): Promise<{ client: string; router: string; world: string }> {
  const client = await lab.netns(`${label}c`);
  const router = await lab.netns(`${label}r`);
  const world = await lab.netns(`${label}w`);
  await lab.veth(client, 'c0', router, 'lan0');
  await lab.veth(router, 'wan0', world, 'w0');
  await lab.veth(router, 'wan1', world, 'w1');
  await lab.batch(client, ['addr add 10.1.0.2/24 dev c0', 'route add default via 10.1.0.1']);
  await lab.batch(router, [
    'addr add 10.1.0.1/24 dev lan0', 'addr add 10.2.0.1/24 dev wan0', 'addr add 10.3.0.1/24 dev wan1',
    'route add default via 10.2.0.2 dev wan0', 'route add default via 10.3.0.2 dev wan1 table 100',
  ]);
  await lab.batch(world, ['addr add 10.2.0.2/24 dev w0', 'addr add 10.3.0.2/24 dev w1']);
  return { client, router, world };
}

/** A permanent neighbour entry for address on dev (the MAC of peerDev in peerNs): no neighbour discovery needed. */
async function staticNeighbour(lab: Lab, ns: string, dev: string, address: string, peerNs: string, peerDev: string): Promise<void> {
  const [link] = JSON.parse((await lab.ip(peerNs, '-j', 'link', 'show', 'dev', peerDev))) as Array<{ address: string }>;
  await lab.ip(ns, '-6', 'neigh', 'replace', address, 'lladdr', link.address, 'dev', dev, 'nud', 'permanent');
}

/**
 * dualWanRouter with IPv6 beside IPv4: c0 fd01::2 ↔ lan0 fd01::1, wan0 fd02::1 ↔ w0 fd02::2,
 * wan1 fd03::1 ↔ w1 fd03::2, defaults through wan0 (main) and wan1 (table 100), and permanent
 * neighbour entries, since a ruleset may drop neighbour discovery (an input policy drop).
 */
export async function dualStackRouter(lab: Lab, label: string): Promise<{ client: string; router: string; world: string }> {
  const { client, router, world } = await dualWanRouter(lab, label);
  await lab.batch(client, ['addr add fd01::2/64 dev c0 nodad', 'route add default via fd01::1']);
  // ip -batch takes no -6: the addresses say the family.
  await lab.batch(router, [
    'addr add fd01::1/64 dev lan0 nodad', 'addr add fd02::1/64 dev wan0 nodad', 'addr add fd03::1/64 dev wan1 nodad',
    'route add default via fd02::2 dev wan0', 'route add default via fd03::2 dev wan1 table 100',
  ]);
  await lab.batch(world, ['addr add fd02::2/64 dev w0 nodad', 'addr add fd03::2/64 dev w1 nodad']);
  await staticNeighbour(lab, client, 'c0', 'fd01::1', router, 'lan0');
  for (const [address, dev, peerDev] of [['fd02::2', 'wan0', 'w0'], ['fd03::2', 'wan1', 'w1']] as const) await staticNeighbour(lab, router, dev, address, world, peerDev);
  await staticNeighbour(lab, router, 'lan0', 'fd01::2', client, 'c0');
  return { client, router, world };
}

class Sender {
  private buffer = '';
  private waiters: Array<(line: string) => void> = [];
  readonly ready: Promise<void>;
  constructor(readonly child: ChildProcess, tun: boolean) {
    let markReady: () => void = () => {};
    this.ready = tun ? new Promise((resolve) => { markReady = resolve; }) : Promise.resolve();
    child.stdout!.on('data', (chunk) => {
      this.buffer += String(chunk);
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        if (line === 'ready') markReady();
        else this.waiters.shift()?.(line);
      }
    });
  }

  send(fields: Array<string | number>): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('raw sender did not answer within 10 s')), 10_000);
      this.waiters.push((line) => { clearTimeout(timer); resolve(line); });
      this.child.stdin!.write(`${fields.join(' ')}\n`);
    });
  }
}

export interface Origin {
  /** Namespace the sender runs in. */
  ns: string;
  /** Write into this TUN device (created by the sender) instead of a raw socket. */
  tun?: string;
  /** Addresses of the sentinel packet: it must reach the router's prerouting (or output). */
  sentinel: [from: string, to: string];
  /** The router's trace chain that drops the sentinel: 'pre' or 'out'. */
  chain: 'pre' | 'out';
}

export interface Probe {
  origin: string;
  query: PathQuery;
  ipId: number;
}

export interface ProbeResult {
  kernel: Outcome;
  explanation: PathExplanation;
  problems: string[];
  /** The trace lines of this packet, for failure messages. */
  trace: string;
}

export class TraceBench {
  private trace = '';
  private senders = new Map<string, { sender: Sender; origin: Origin }>();
  snapshot!: Snapshot;
  private hooks!: Map<string, Hook>;
  private ruleText = new Map<string, string>();
  private sentinelRule = new Map<string, string>();

  constructor(readonly lab: Lab, readonly router: string) {}

  /** Starts the senders (TUN senders first: their device must exist before it is configured). */
  async startSenders(origins: Record<string, Origin>): Promise<void> {
    for (const [name, origin] of Object.entries(origins)) {
      const args = ['-c', '0', 'python3', join(projectRoot, 'test', 'lab', 'raw-sender.py'), ...(origin.tun ? ['tun', origin.tun] : [])];
      const sender = new Sender(this.lab.spawn(origin.ns, 'taskset', args), !!origin.tun);
      await Promise.race([sender.ready, new Promise((_, reject) => setTimeout(() => reject(new Error(`TUN sender ${origin.tun} not ready`)), 10_000))]);
      this.senders.set(name, { sender, origin });
    }
  }

  /** (Re)takes the router's snapshot netmend answers from: after a sysctl or route changed. */
  async takeSnapshot(): Promise<void> {
    const run = await this.lab.netmend(this.router, ['snapshot']);
    if (run.code !== 0) throw new Error(`netmend snapshot failed: ${run.stderr}`);
    this.snapshot = validateSnapshot(JSON.parse(run.stdout), 'router snapshot');
  }

  /** Takes the snapshot and starts the monitor; call once the ruleset and routes are in place. */
  async start(): Promise<void> {
    await this.takeSnapshot();
    const ruleset = rulesetOf(this.snapshot.firewall!);
    this.hooks = chainHooks(ruleset);
    for (const table of ruleset.tables) for (const chain of table.chains.values()) for (const rule of chain.rules) this.ruleText.set(`${rule.family} ${rule.table} ${rule.chain} ${rule.handle}`, rule.text);
    const trace = ruleset.tables.find((t) => t.family === 'inet' && t.name === 'trace');
    if (!trace) throw new Error('the router ruleset lacks TRACE_TABLE');
    for (const chain of ['pre', 'out']) {
      for (const family of ['ip', 'ip6']) this.sentinelRule.set(`${chain} ${family}`, `inet trace ${chain} ${trace.chains.get(chain)!.rules.find((r) => r.text.startsWith(`${family} dscp`))!.handle}`);
    }
    const monitor = this.lab.spawn(this.router, 'nft', ['-a', 'monitor', 'trace']);
    monitor.stdout!.on('data', (chunk) => { this.trace += String(chunk); });
    for (const name of this.senders.keys()) await this.flush(name, 0);
  }

  /** Sends the origin's sentinel until its trace shows; returns the trace length then. */
  private async flush(name: string, from: number): Promise<number> {
    const { sender, origin } = this.senders.get(name)!;
    const rule = this.sentinelRule.get(`${origin.chain} ${origin.sentinel[0].includes(':') ? 'ip6' : 'ip'}`)!;
    const deadline = Date.now() + 30_000;
    for (;;) {
      await sender.send([origin.sentinel[0], origin.sentinel[1], 'icmp', 0, 0, 0, 1, 16]);
      const waitUntil = Date.now() + 2000;
      while (Date.now() < waitUntil) {
        if (groupTrace(this.trace.slice(from)).some((group) => group.some((e) => e.kind === 'rule' && `${e.family} ${e.table} ${e.chain} ${e.handle}` === rule))) return this.trace.length;
        await new Promise((r) => setTimeout(r, 5));
      }
      if (Date.now() > deadline) throw new Error(`the ${name} sentinel never showed in the trace`);
    }
  }

  /** Sends the packet for real, reads the kernel's trace of it and compares with netmend's answer. */
  async probe(probe: Probe): Promise<ProbeResult | { missing: string }> {
    const { sender } = this.senders.get(probe.origin)!;
    const q = probe.query;
    const start = this.trace.length;
    const answer = await sender.send([q.from!, q.destination, q.protocol ?? 'icmp', q.sport ?? 0, q.dport ?? 0, q.mark ?? 0, probe.ipId, 0]);
    const end = await this.flush(probe.origin, start);
    const text = this.trace.slice(start, end);
    const group = groupTrace(text).find((events) => events.find((e) => e.kind === 'packet')?.ipId === probe.ipId);
    let kernel: Outcome;
    if (group) kernel = kernelOutcome(group, this.hooks, this.ruleText);
    else if (q.iif === undefined && answer.startsWith('error')) kernel = { verdict: 'no-route', rule: null, dev: null, matched: [] };
    else return { missing: `no trace for ip id ${probe.ipId} (sender: ${answer})` };
    const explanation = explainPath(this.snapshot, q);
    const problems = compareOutcomes(explanationOutcome(explanation), kernel);
    if (explanation.result.uncertain.length) problems.push(`netmend was uncertain: ${explanation.result.uncertain.join('; ')}`);
    return { kernel, explanation, problems, trace: text.split('\n').filter((line) => line.includes(group?.[0]?.id ?? '@@')).join('\n') };
  }
}
