/**
 * `path explain` against the kernel: random nftables rulesets (inet and ip tables, named and
 * anonymous sets, intervals, concatenations, verdict maps, jumps/gotos/returns, marks that steer
 * policy routing, DNAT/SNAT/masquerade/redirect, reject, fib, ct state/status) on a router
 * namespace between a LAN client and a world namespace, with rp_filter varied. Hundreds of random
 * packets are sent for real (raw sockets in the client and on the router itself), each traced by
 * the kernel (`meta nftrace set 1`, `nft -a monitor trace`), and the kernel's verdict, deciding
 * rule (handle), egress interface and every matched rule are compared with netmend's answer over
 * the snapshot `netmend snapshot` took inside the router. Zero disagreements allowed.
 *
 * NETMEND_PATH_SEED=N replays one run; NETMEND_PATH_TOPOLOGIES and NETMEND_PATH_PACKETS size it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PathQuery } from '../../src/path/simulate.js';
import { Lab, labUnavailable } from './harness.js';
import { TRACE_TABLE, TraceBench } from './path-lab.js';

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
type Random = () => number;
const int = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, list: readonly T[]): T => list[int(random, list.length)];
const chance = (random: Random, p: number) => random() < p;

type ChainKind = 'mangle-pre' | 'dstnat' | 'input' | 'forward' | 'route-out' | 'output' | 'srcnat' | 'regular';

const TCP_MATCH = ['tcp dport 22', 'tcp dport { 22, 80, 443 }', 'tcp dport @ports', 'tcp dport 1000-2000', 'ip daddr . tcp dport @svc', 'tcp dport != 80', 'meta l4proto tcp'];
const ANY_MATCH = [
  'ip saddr 10.1.0.3', 'ip saddr 10.1.0.0/30', 'ip saddr @blk', 'ip daddr @blk', 'ip daddr { 10.2.0.2, 10.3.0.5 }', 'ip daddr 10.2.0.0/24',
  'ip daddr != 10.3.0.0/24', 'meta l4proto { tcp, udp }', 'ip protocol icmp', 'udp dport 53', 'udp dport { 53, 5353 }', 'icmp type echo-request',
  'ct state new', 'ct state established,related', 'meta mark 0x00000001', 'meta mark & 0x00000002 == 0x00000002',
];
const IIF_MATCH = ['iifname "lan0"', 'iifname "wan0"', 'iifname != "lan0"', 'iifname "lan*"'];
const OIF_MATCH = ['oifname "wan0"', 'oifname "wan1"', 'oifname != "wan0"', 'oifname "lan0"'];

function matches(random: Random, kind: ChainKind, table: 'inet' | 'ip'): string[] {
  const pool = [...ANY_MATCH];
  if (kind !== 'route-out' && kind !== 'output') pool.push(...IIF_MATCH);
  if (kind === 'forward' || kind === 'output' || kind === 'route-out' || kind === 'srcnat') pool.push(...OIF_MATCH);
  if (kind === 'forward' || kind === 'input' || kind === 'srcnat') pool.push('ct status dnat');
  if (kind === 'forward' || kind === 'input' || kind === 'mangle-pre') pool.push('fib saddr . iif oif missing', 'fib saddr . iif oif exists');
  if (kind !== 'srcnat' && kind !== 'regular') pool.push('fib daddr type local', 'fib daddr type != local');
  if (table === 'inet') pool.push('meta nfproto ipv4');
  const out: string[] = [];
  const count = int(random, 3);
  for (let i = 0; i < count; i++) out.push(chance(random, 0.3) ? pick(random, TCP_MATCH) : pick(random, pool));
  return [...new Set(out)];
}

function action(random: Random, kind: ChainKind, later: string[], table: 'inet' | 'ip', hasTcp: boolean): string {
  const natFamily = table === 'inet' ? 'ip ' : '';
  switch (kind) {
    case 'mangle-pre': case 'route-out':
      return pick(random, ['meta mark set 0x1', 'meta mark set 0x2', 'meta mark set meta mark | 0x1', 'ct mark set meta mark', 'counter', 'accept', 'meta mark set 0x1 counter']);
    case 'dstnat': {
      const options = [`dnat ${natFamily}to 10.3.0.5`, `dnat ${natFamily}to 10.2.0.2`, 'counter', 'accept', `dnat ${natFamily}to 10.1.0.1`];
      if (hasTcp) options.push(`dnat ${natFamily}to 10.3.0.5:80`, 'redirect to :8080', `dnat ${natFamily}to tcp dport map { 2222 : 10.2.0.2, 8080 : 10.3.0.5 }`);
      return pick(random, options);
    }
    case 'srcnat':
      return pick(random, ['masquerade', `snat ${natFamily}to 10.3.0.9`, 'counter', 'accept']);
    default: {
      const options = ['accept', 'accept', 'drop', 'counter', 'counter accept', 'reject', 'drop'];
      if (hasTcp && kind !== 'regular') options.push('reject with tcp reset');
      if (kind !== 'output' && kind !== 'regular') options.push('reject with icmpx type admin-prohibited');
      if (later.length) options.push(`jump ${pick(random, later)}`, `goto ${pick(random, later)}`, `jump ${pick(random, later)}`);
      if (kind === 'regular') options.push('return', 'return');
      return pick(random, options);
    }
  }
}

function rules(random: Random, kind: ChainKind, later: string[], table: 'inet' | 'ip', count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = matches(random, kind, table);
    const hasTcp = m.some((text) => text.startsWith('tcp ') || text === 'meta l4proto tcp' || text.includes('tcp dport'));
    if (kind === 'forward' && chance(random, 0.15) && later.length) {
      out.push(`iifname vmap { "lan0" : jump ${pick(random, later)}, "wan0" : accept, "wan1" : drop }`);
      continue;
    }
    if ((kind === 'input' || kind === 'forward') && chance(random, 0.1) && later.includes('c1')) {
      out.push('tcp dport vmap @portv');
      continue;
    }
    out.push([...m, action(random, kind, later, table, hasTcp)].join(' '));
  }
  return out;
}

/** A random ruleset: the trace table, then one or two tables of random chains. */
function buildRuleset(random: Random): string {
  const lines: string[] = [TRACE_TABLE];
  const usedPriorities = new Map<string, Set<number>>();
  const priority = (hook: string, base: number, spread: number) => {
    const used = usedPriorities.get(hook) ?? new Set<number>();
    usedPriorities.set(hook, used);
    let value = base + int(random, spread * 2 + 1) - spread;
    while (used.has(value)) value += 1;
    used.add(value);
    return value;
  };
  const tables: Array<'inet' | 'ip'> = chance(random, 0.5) ? ['inet', 'ip'] : [pick(random, ['inet', 'ip'] as const)];
  tables.forEach((family, t) => {
    const name = `fw${t}`;
    lines.push(`table ${family} ${name} {`);
    lines.push('  set blk {', '    type ipv4_addr; flags interval;', '    elements = { 10.1.0.3, 10.9.0.0/16, 8.8.0.0-8.8.255.255 }', '  }');
    lines.push('  set svc {', '    type ipv4_addr . inet_service;', '    elements = { 10.2.0.2 . 22, 10.3.0.5 . 80 }', '  }');
    lines.push('  set ports {', '    type inet_service;', '    elements = { 22, 80, 443 }', '  }');
    const regular = ['c1', 'c2', 'c3'].slice(0, 1 + int(random, 3));
    lines.push('  map portv {', '    type inet_service : verdict;', `    elements = { 22 : accept, 23 : drop, 80 : jump c1 }`, '  }');
    const chains: Array<{ name: string; header?: string; kind: ChainKind }> = [];
    const maybe = (p: number, chain: { name: string; header?: string; kind: ChainKind }) => { if (chance(random, p)) chains.push(chain); };
    maybe(0.6, { name: 'mangle_pre', kind: 'mangle-pre', header: `type filter hook prerouting priority ${priority('pre', -150, 40)}; policy accept;` });
    maybe(0.6, { name: 'dstnat', kind: 'dstnat', header: `type nat hook prerouting priority ${priority('natpre', -100, 30)}; policy accept;` });
    maybe(0.8, { name: 'input', kind: 'input', header: `type filter hook input priority ${priority('in', 0, 20)}; policy ${chance(random, 0.3) ? 'drop' : 'accept'};` });
    chains.push({ name: 'forward', kind: 'forward', header: `type filter hook forward priority ${priority('fwd', 0, 20)}; policy ${chance(random, 0.35) ? 'drop' : 'accept'};` });
    maybe(0.5, { name: 'route_out', kind: 'route-out', header: `type route hook output priority ${priority('out', -150, 30)}; policy accept;` });
    maybe(0.5, { name: 'output', kind: 'output', header: `type filter hook output priority ${priority('out', 0, 20)}; policy accept;` });
    maybe(0.7, { name: 'srcnat', kind: 'srcnat', header: `type nat hook postrouting priority ${priority('natpost', 100, 30)}; policy accept;` });
    for (const chain of chains) {
      lines.push(`  chain ${chain.name} {`, `    ${chain.header}`);
      const callable = chain.kind === 'input' || chain.kind === 'forward' || chain.kind === 'output' ? regular : [];
      for (const rule of rules(random, chain.kind, callable, family, 2 + int(random, 5))) lines.push(`    ${rule}`);
      lines.push('  }');
    }
    // Regular chains are declared after use but jump only forward (c1 → c2 → c3), so no loops.
    regular.forEach((name, i) => {
      lines.push(`  chain ${name} {`);
      for (const rule of rules(random, 'regular', regular.slice(i + 1), family, 1 + int(random, 4))) lines.push(`    ${rule}`);
      lines.push('  }');
    });
    lines.push('}');
  });
  return `${lines.join('\n')}\n`;
}

interface Probe {
  origin: 'client' | 'router';
  query: PathQuery;
  ipId: number;
}

function randomProbe(random: Random, ipId: number): Probe {
  const proto = pick(random, ['tcp', 'tcp', 'udp', 'icmp'] as const);
  const ports = proto === 'icmp' ? {} : { dport: pick(random, [22, 23, 53, 80, 443, 1500, 2222, 5353, 8080]), sport: 20000 + ipId };
  if (chance(random, 0.7)) {
    const from = pick(random, ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.2', '10.7.0.1']);
    const destination = pick(random, ['10.1.0.1', '10.2.0.1', '10.3.0.1', '10.2.0.2', '10.2.0.9', '10.3.0.5', '10.9.1.1', '8.8.8.8']);
    return { origin: 'client', ipId, query: { destination, from, iif: 'lan0', protocol: proto, ...ports } };
  }
  const from = pick(random, ['10.2.0.1', '10.3.0.1', '10.1.0.1']);
  const destination = pick(random, ['10.2.0.2', '10.3.0.5', '10.9.1.1', '8.8.8.8', '10.1.0.2']);
  const mark = pick(random, [0, 0, 1, 2]);
  return { origin: 'router', ipId, query: { destination, from, protocol: proto, ...ports, ...(mark ? { mark } : {}) } };
}

async function topologyRun(lab: Lab, seed: number, packets: number, failures: string[]): Promise<{ compared: number; byVerdict: Record<string, number> }> {
  const random = prng(seed);
  const client = await lab.netns('pc');
  const router = await lab.netns('pr');
  const world = await lab.netns('pw');
  await lab.veth(client, 'c0', router, 'lan0');
  await lab.veth(router, 'wan0', world, 'w0');
  await lab.veth(router, 'wan1', world, 'w1');
  await lab.ip(client, 'addr', 'add', '10.1.0.2/24', 'dev', 'c0');
  await lab.ip(client, 'route', 'add', 'default', 'via', '10.1.0.1');
  await lab.batch(router, [
    'addr add 10.1.0.1/24 dev lan0', 'addr add 10.2.0.1/24 dev wan0', 'addr add 10.3.0.1/24 dev wan1', 'addr add 10.3.0.9/24 dev wan1',
    'route add default via 10.2.0.2 dev wan0', 'route add default via 10.3.0.2 dev wan1 table 100',
    'rule add pref 100 fwmark 0x1/0x1 lookup 100', 'rule add pref 110 from 10.1.0.4 lookup 100',
  ]);
  await lab.batch(world, ['addr add 10.2.0.2/24 dev w0', 'addr add 10.3.0.2/24 dev w1']);
  const rpFilter = pick(random, [0, 1, 2]);
  await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', `net.ipv4.conf.all.rp_filter=${rpFilter}`, `net.ipv4.conf.lan0.rp_filter=${pick(random, [0, 1, 2])}`]);
  let text = '';
  for (let attempt = 0; ; attempt++) {
    text = buildRuleset(random);
    const loaded = await lab.exec(router, 'nft', ['-f', '-'], { input: text });
    if (loaded.code === 0) break;
    if (attempt > 20) throw new Error(`seed ${seed}: no loadable ruleset in 20 tries; last error: ${loaded.stderr}`);
    await lab.exec(router, 'nft', ['flush', 'ruleset']);
  }
  const bench = new TraceBench(lab, router);
  await bench.startSenders({
    client: { ns: client, sentinel: ['10.1.0.2', '10.1.0.1'], chain: 'pre' },
    router: { ns: router, sentinel: ['10.2.0.1', '10.2.0.2'], chain: 'out' },
  });
  await bench.start();
  const byVerdict: Record<string, number> = {};
  let compared = 0;
  for (let n = 0; n < packets; n++) {
    const probe = randomProbe(random, 40000 + n);
    const result = await bench.probe(probe);
    const where = `seed ${seed} packet ${n} ${probe.origin} ${JSON.stringify(probe.query)} rp_filter ${rpFilter}`;
    if ('missing' in result) {
      failures.push(`${where}: ${result.missing}`);
      continue;
    }
    compared++;
    byVerdict[result.kernel.verdict] = (byVerdict[result.kernel.verdict] ?? 0) + 1;
    if (result.problems.length) {
      if (!failures.length) process.stderr.write(`first disagreement, seed ${seed}, ruleset:\n${text}\nkernel trace:\n${result.trace}\n`);
      failures.push(`${where}:\n    ${result.problems.join('\n    ')}`);
    }
  }
  return { compared, byVerdict };
}

test('path explain agrees with the kernel trace on random rulesets and packets', { skip: labUnavailable(), timeout: 600_000 }, async (t) => {
  const seed = Number(process.env.NETMEND_PATH_SEED ?? Math.floor(Math.random() * 1e9));
  const topologies = Number(process.env.NETMEND_PATH_TOPOLOGIES ?? 6);
  const packets = Number(process.env.NETMEND_PATH_PACKETS ?? 50);
  const failures: string[] = [];
  let compared = 0;
  const verdicts: Record<string, number> = {};
  for (let i = 0; i < topologies; i++) {
    const lab = new Lab();
    try {
      const run = await topologyRun(lab, seed + i, packets, failures);
      compared += run.compared;
      for (const [verdict, count] of Object.entries(run.byVerdict)) verdicts[verdict] = (verdicts[verdict] ?? 0) + count;
    } finally {
      await lab.destroy();
    }
  }
  t.diagnostic(`NETMEND_PATH_SEED=${seed}: ${compared} packets compared over ${topologies} rulesets (${Object.entries(verdicts).map(([v, c]) => `${v} ${c}`).join(', ')}), ${failures.length} disagreements`);
  assert.equal(failures.length, 0, `NETMEND_PATH_SEED=${seed} replays this run:\n${failures.slice(0, 15).join('\n')}`);
  assert.ok(compared >= topologies * packets * 0.95, `only ${compared} packets compared`);
  for (const verdict of ['forwarded', 'dropped', 'delivered']) assert.ok((verdicts[verdict] ?? 0) > 0, `no ${verdict} packet in the run: the generator is not exercising it`);
});
