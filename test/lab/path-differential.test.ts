/**
 * `path explain` against the kernel: random nftables rulesets (inet, ip and ip6 tables, named and
 * anonymous sets of IPv4 and IPv6 addresses and prefixes, intervals, concatenations, verdict maps,
 * jumps/gotos/returns, marks that steer policy routing, DNAT/SNAT/masquerade/redirect in both
 * families, reject, fib, ct state/status, ICMP and ICMPv6 types) on a dual-stack router namespace
 * between a LAN client and a world namespace, with rp_filter and src_valid_mark varied. Hundreds of
 * random IPv4 and IPv6 packets are sent for real (raw sockets in the client and on the router
 * itself), each traced by the kernel (`meta nftrace set 1`, `nft -a monitor trace`; IPv6 packets
 * are told apart by their flow label, neighbour discovery is left untraced), and the kernel's
 * verdict, deciding rule (handle), egress interface and every matched rule are compared with
 * netmend's answer over the snapshot `netmend snapshot` took inside the router. Zero
 * disagreements allowed.
 *
 * NETMEND_PATH_SEED=N replays one run (=random draws one); NETMEND_PATH_TOPOLOGIES and NETMEND_PATH_PACKETS size it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PathQuery } from '../../src/path/simulate.js';
import { Lab, labUnavailable } from './harness.js';
import { dualStackRouter, TRACE_TABLE, TraceBench } from './path-lab.js';
import { chance, int, pick, prng, type Random } from './random.js';

type ChainKind = 'mangle-pre' | 'dstnat' | 'input' | 'forward' | 'route-out' | 'output' | 'srcnat' | 'regular';
type TableFamily = 'inet' | 'ip' | 'ip6';
/** The IP version a rule's matches and NAT speak; an inet table mixes rules of both. */
type Version = 4 | 6;

const TCP_MATCH = ['tcp dport 22', 'tcp dport { 22, 80, 443 }', 'tcp dport @ports', 'tcp dport 1000-2000', 'tcp dport != 80', 'meta l4proto tcp'];
const TCP_MATCH_BY_VERSION: Record<Version, string[]> = { 4: ['ip daddr . tcp dport @svc'], 6: ['ip6 daddr . tcp dport @svc6'] };
const ANY_MATCH = [
  'meta l4proto { tcp, udp }', 'udp dport 53', 'udp dport { 53, 5353 }',
  'ct state new', 'ct state established,related', 'meta mark 0x00000001', 'meta mark & 0x00000002 == 0x00000002',
];
const MATCH_BY_VERSION: Record<Version, string[]> = {
  4: [
    'ip saddr 10.1.0.3', 'ip saddr 10.1.0.0/30', 'ip saddr @blk', 'ip daddr @blk', 'ip daddr { 10.2.0.2, 10.3.0.5 }', 'ip daddr 10.2.0.0/24',
    'ip daddr != 10.3.0.0/24', 'ip protocol icmp', 'icmp type echo-request',
  ],
  6: [
    'ip6 saddr fd01::3', 'ip6 saddr fd01::/126', 'ip6 saddr @blk6', 'ip6 daddr @blk6', 'ip6 daddr { fd02::2, fd03::5 }', 'ip6 daddr fd02::/64',
    'ip6 daddr != fd03::/64', 'ip6 nexthdr ipv6-icmp', 'meta l4proto ipv6-icmp', 'icmpv6 type echo-request', 'icmpv6 type { echo-request, echo-reply }',
    'icmpv6 type nd-neighbor-solicit', 'ip6 saddr fd07::/16', 'ip6 daddr 2001:4860::/32',
  ],
};
const IIF_MATCH = ['iifname "lan0"', 'iifname "wan0"', 'iifname != "lan0"', 'iifname "lan*"'];
const OIF_MATCH = ['oifname "wan0"', 'oifname "wan1"', 'oifname != "wan0"', 'oifname "lan0"'];

/** Addresses by IP version: the router's, the LAN's, the world's, and destinations beyond. */
const ADDR = {
  4: { lanRouter: '10.1.0.1', wan1Extra: '10.3.0.9', wan0Peer: '10.2.0.2', wan1Host: '10.3.0.5' },
  6: { lanRouter: 'fd01::1', wan1Extra: 'fd03::9', wan0Peer: 'fd02::2', wan1Host: 'fd03::5' },
} as const;

function ruleVersion(random: Random, table: TableFamily): Version {
  return table === 'ip' ? 4 : table === 'ip6' ? 6 : pick(random, [4, 6] as const);
}

function matches(random: Random, kind: ChainKind, table: TableFamily, version: Version): string[] {
  const pool = [...ANY_MATCH, ...MATCH_BY_VERSION[version]];
  const tcp = [...TCP_MATCH, ...TCP_MATCH_BY_VERSION[version]];
  if (kind !== 'route-out' && kind !== 'output') pool.push(...IIF_MATCH);
  if (kind === 'forward' || kind === 'output' || kind === 'route-out' || kind === 'srcnat') pool.push(...OIF_MATCH);
  if (kind === 'forward' || kind === 'input' || kind === 'srcnat') pool.push('ct status dnat');
  if (kind === 'forward' || kind === 'input' || kind === 'mangle-pre') pool.push('fib saddr . iif oif missing', 'fib saddr . iif oif exists');
  if (kind !== 'srcnat' && kind !== 'regular') pool.push('fib daddr type local', 'fib daddr type != local');
  if (table === 'inet') pool.push(version === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6');
  const out: string[] = [];
  const count = int(random, 3);
  for (let i = 0; i < count; i++) out.push(chance(random, 0.3) ? pick(random, tcp) : pick(random, pool));
  // nft refuses a rule whose matches name two transport protocols (`meta l4proto { tcp, udp }
  // tcp dport 80`: "conflicting protocols"); keep only matches of the first one drawn.
  const first = out.map(transport).find((proto) => proto !== undefined);
  return [...new Set(out.filter((text) => transport(text) === undefined || transport(text) === first))];
}

/** The transport protocol a match implies, if any. */
function transport(text: string): string | undefined {
  if (/^tcp |\. tcp dport|^meta l4proto tcp$/.test(text)) return 'tcp';
  if (text.startsWith('udp ')) return 'udp';
  if (text === 'meta l4proto { tcp, udp }') return 'tcp, udp';
  if (/^icmp |^ip protocol icmp$/.test(text)) return 'icmp';
  if (/^icmpv6 |ipv6-icmp$/.test(text)) return 'icmpv6';
  return undefined;
}

function action(random: Random, kind: ChainKind, later: string[], table: TableFamily, version: Version, hasTcp: boolean): string {
  // An inet table names the NAT family (`dnat ip6 to`); an ip or ip6 table does not.
  const natFamily = table === 'inet' ? (version === 4 ? 'ip ' : 'ip6 ') : '';
  const a = ADDR[version];
  const withPort = (address: string, port: number) => (version === 6 ? `[${address}]:${port}` : `${address}:${port}`);
  switch (kind) {
    case 'mangle-pre': case 'route-out':
      return pick(random, ['meta mark set 0x1', 'meta mark set 0x2', 'meta mark set meta mark | 0x1', 'ct mark set meta mark', 'counter', 'accept', 'meta mark set 0x1 counter']);
    case 'dstnat': {
      const options = [`dnat ${natFamily}to ${a.wan1Host}`, `dnat ${natFamily}to ${a.wan0Peer}`, 'counter', 'accept', `dnat ${natFamily}to ${a.lanRouter}`];
      if (hasTcp) options.push(`dnat ${natFamily}to ${withPort(a.wan1Host, 80)}`, 'redirect to :8080', `dnat ${natFamily}to tcp dport map { 2222 : ${a.wan0Peer}, 8080 : ${a.wan1Host} }`);
      return pick(random, options);
    }
    case 'srcnat':
      return pick(random, ['masquerade', `snat ${natFamily}to ${a.wan1Extra}`, 'counter', 'accept']);
    default: {
      const options = ['accept', 'accept', 'drop', 'counter', 'counter accept', 'reject', 'drop'];
      if (hasTcp && kind !== 'regular') options.push('reject with tcp reset');
      if (kind !== 'output' && kind !== 'regular') options.push('reject with icmpx type admin-prohibited');
      if (kind !== 'output' && kind !== 'regular' && version === 6 && table !== 'ip') options.push('reject with icmpv6 type admin-prohibited');
      if (later.length) options.push(`jump ${pick(random, later)}`, `goto ${pick(random, later)}`, `jump ${pick(random, later)}`);
      if (kind === 'regular') options.push('return', 'return');
      return pick(random, options);
    }
  }
}

function rules(random: Random, kind: ChainKind, later: string[], table: TableFamily, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const version = ruleVersion(random, table);
    const m = matches(random, kind, table, version);
    const hasTcp = m.some((text) => text.startsWith('tcp ') || text === 'meta l4proto tcp' || text.includes('tcp dport'));
    if (kind === 'forward' && chance(random, 0.15) && later.length) {
      out.push(`iifname vmap { "lan0" : jump ${pick(random, later)}, "wan0" : accept, "wan1" : drop }`);
      continue;
    }
    if ((kind === 'input' || kind === 'forward') && chance(random, 0.1) && later.includes('c1')) {
      out.push('tcp dport vmap @portv');
      continue;
    }
    out.push([...m, action(random, kind, later, table, version, hasTcp)].join(' '));
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
  const families: TableFamily[] = ['inet', 'ip', 'ip6'];
  const tables: TableFamily[] = chance(random, 0.5) ? [pick(random, families), pick(random, families)] : [pick(random, families)];
  tables.forEach((family, t) => {
    const name = `fw${t}`;
    lines.push(`table ${family} ${name} {`);
    if (family !== 'ip6') {
      lines.push('  set blk {', '    type ipv4_addr; flags interval;', '    elements = { 10.1.0.3, 10.9.0.0/16, 8.8.0.0-8.8.255.255 }', '  }');
      lines.push('  set svc {', '    type ipv4_addr . inet_service;', '    elements = { 10.2.0.2 . 22, 10.3.0.5 . 80 }', '  }');
    }
    if (family !== 'ip') {
      lines.push('  set blk6 {', '    type ipv6_addr; flags interval;', '    elements = { fd01::3, fd09::/32, 2001:4860::-2001:4860::ffff }', '  }');
      lines.push('  set svc6 {', '    type ipv6_addr . inet_service;', '    elements = { fd02::2 . 22, fd03::5 . 80 }', '  }');
    }
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

/** Sources and destinations of the random packets, by IP version. */
const PROBE_ADDR = {
  4: {
    clientFrom: ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.2', '10.7.0.1'],
    clientTo: ['10.1.0.1', '10.2.0.1', '10.3.0.1', '10.2.0.2', '10.2.0.9', '10.3.0.5', '10.9.1.1', '8.8.8.8'],
    routerFrom: ['10.2.0.1', '10.3.0.1', '10.1.0.1'],
    routerTo: ['10.2.0.2', '10.3.0.5', '10.9.1.1', '8.8.8.8', '10.1.0.2'],
  },
  6: {
    clientFrom: ['fd01::2', 'fd01::3', 'fd01::4', 'fd01::2', 'fd07::1'],
    clientTo: ['fd01::1', 'fd02::1', 'fd03::1', 'fd02::2', 'fd02::9', 'fd03::5', 'fd09:1::1', '2001:4860::8888'],
    routerFrom: ['fd02::1', 'fd03::1', 'fd01::1'],
    routerTo: ['fd02::2', 'fd03::5', 'fd09:1::1', '2001:4860::8888', 'fd01::2'],
  },
} as const;

function randomProbe(random: Random, ipId: number): Probe {
  const addresses = PROBE_ADDR[chance(random, 0.45) ? 6 : 4];
  const proto = pick(random, ['tcp', 'tcp', 'udp', 'icmp'] as const);
  const ports = proto === 'icmp' ? {} : { dport: pick(random, [22, 23, 53, 80, 443, 1500, 2222, 5353, 8080]), sport: 20000 + ipId };
  if (chance(random, 0.7)) {
    const from = pick(random, addresses.clientFrom);
    const destination = pick(random, addresses.clientTo);
    return { origin: 'client', ipId, query: { destination, from, iif: 'lan0', protocol: proto, ...ports } };
  }
  const from = pick(random, addresses.routerFrom);
  const destination = pick(random, addresses.routerTo);
  const mark = pick(random, [0, 0, 1, 2]);
  return { origin: 'router', ipId, query: { destination, from, protocol: proto, ...ports, ...(mark ? { mark } : {}) } };
}

async function topologyRun(lab: Lab, seed: number, packets: number, failures: string[]): Promise<{ compared: number; byVerdict: Record<string, number> }> {
  const random = prng(seed);
  const { client, router, world } = await dualStackRouter(lab, 'p');
  await lab.batch(router, ['addr add 10.3.0.9/24 dev wan1', 'addr add fd03::9/64 dev wan1 nodad', 'rule add pref 100 fwmark 0x1/0x1 lookup 100', 'rule add pref 110 from 10.1.0.4 lookup 100']);
  await lab.ip(router, '-6', 'rule', 'add', 'pref', '100', 'fwmark', '0x1/0x1', 'lookup', '100');
  await lab.ip(router, '-6', 'rule', 'add', 'pref', '110', 'from', 'fd01::4', 'lookup', '100');
  const rpFilter = pick(random, [0, 1, 2]);
  // src_valid_mark lets the mark a prerouting chain sets (0x1: table 100, out wan1) steer the reverse-path check.
  const srcValidMark = pick(random, [0, 1]);
  await lab.exec(router, 'sysctl', [
    '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', `net.ipv4.conf.all.rp_filter=${rpFilter}`, `net.ipv4.conf.lan0.rp_filter=${pick(random, [0, 1, 2])}`,
    `net.ipv4.conf.all.src_valid_mark=${srcValidMark}`,
  ]);
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
    const where = `seed ${seed} packet ${n} ${probe.origin} ${JSON.stringify(probe.query)} rp_filter ${rpFilter} src_valid_mark ${srcValidMark}`;
    if ('missing' in result) {
      failures.push(`${where}: ${result.missing}`);
      continue;
    }
    compared++;
    const key = `IPv${probe.query.destination.includes(':') ? 6 : 4} ${result.kernel.verdict}`;
    byVerdict[key] = (byVerdict[key] ?? 0) + 1;
    if (result.problems.length) {
      if (!failures.length) process.stderr.write(`first disagreement, seed ${seed}, ruleset:\n${text}\nkernel trace:\n${result.trace}\n`);
      failures.push(`${where}:\n    ${result.problems.join('\n    ')}`);
    }
  }
  return { compared, byVerdict };
}

test('path explain agrees with the kernel trace on random rulesets and packets', { skip: labUnavailable(), timeout: 600_000 }, async (t) => {
  // A fixed seed by default, so a CI run's outcome never depends on the draw; NETMEND_PATH_SEED=random
  // explores (how per-family conntrack was found: seed 430233514, now path-conntrack.test.ts),
  // NETMEND_PATH_SEED=N replays.
  const chosen = process.env.NETMEND_PATH_SEED ?? '549143241';
  const seed = chosen === 'random' ? Math.floor(Math.random() * 1e9) : Number(chosen);
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
  for (const family of ['IPv4', 'IPv6']) {
    const count = (...kinds: string[]) => kinds.reduce((sum, kind) => sum + (verdicts[`${family} ${kind}`] ?? 0), 0);
    for (const kinds of [['forwarded'], ['dropped', 'rejected'], ['delivered']]) assert.ok(count(...kinds) > 0, `no ${family} ${kinds.join(' or ')} packet in the run: the generator is not exercising it`);
  }
});
