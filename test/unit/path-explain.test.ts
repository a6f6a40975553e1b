/**
 * The netfilter evaluator and the path simulator on fixed inputs: a real router snapshot with its
 * kernel trace (recorded in a lab namespace: test/fixtures/path), hand-written nft JSON for hook
 * order, NAT slot, sets and maps, iptables-nft xt and legacy rules, and bad input. The comparer of
 * the differential lab test is shown to catch deliberately broken evaluators.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { parseNftJson } from '../../src/netfilter/parse.js';
import { rulesetOf } from '../../src/netfilter/ruleset.js';
import type { Json, Ruleset } from '../../src/netfilter/types.js';
import { chainHooks, compareOutcomes, explanationOutcome, groupTrace, kernelOutcome } from '../../src/path/kernel-trace.js';
import { explainPath, type PathExplanation, type PathQuery } from '../../src/path/simulate.js';
import { validateSnapshot } from '../../src/snapshot/validate.js';
import type { FirewallState } from '../../src/snapshot/firewall.js';
import type { Snapshot } from '../../src/snapshot/types.js';

const fixtures = join(process.cwd(), 'test', 'fixtures', 'path');

function routerSnapshot(): Snapshot {
  return validateSnapshot(JSON.parse(readFileSync(join(fixtures, 'router-snapshot.json'), 'utf8')), 'fixture');
}

const RECORDED: Array<{ ipId: number; query: PathQuery; verdict: string }> = [
  { ipId: 40001, query: { destination: '10.2.0.5', from: '10.1.0.2', iif: 'lan0', protocol: 'icmp' }, verdict: 'dropped' },
  { ipId: 40002, query: { destination: '10.2.0.2', from: '10.1.0.2', iif: 'lan0', protocol: 'tcp', sport: 41000, dport: 80 }, verdict: 'forwarded' },
  { ipId: 40003, query: { destination: '10.1.0.1', from: '10.1.0.2', iif: 'lan0', protocol: 'udp', sport: 41001, dport: 53 }, verdict: 'delivered' },
  { ipId: 40004, query: { destination: '10.9.9.9', from: '10.1.0.2', iif: 'lan0', protocol: 'tcp', sport: 41002, dport: 22 }, verdict: 'no-route' },
];

/** Disagreements of an evaluator with the recorded kernel trace, over the recorded packets. */
function disagreementsWith(explain: (snapshot: Snapshot, query: PathQuery) => PathExplanation, snapshot: Snapshot): string[] {
  const groups = groupTrace(readFileSync(join(fixtures, 'router-trace.txt'), 'utf8'));
  const hooks = chainHooks(rulesetOf(snapshot.firewall!));
  const out: string[] = [];
  for (const { ipId, query } of RECORDED) {
    const group = groups.find((events) => events.find((e) => e.kind === 'packet')?.ipId === ipId)!;
    out.push(...compareOutcomes(explanationOutcome(explain(snapshot, query)), kernelOutcome(group, hooks)).map((d) => `${ipId}: ${d}`));
  }
  return out;
}

test('the recorded router: netmend agrees with the kernel trace on every packet', () => {
  const snapshot = routerSnapshot();
  assert.deepEqual(disagreementsWith(explainPath, snapshot), []);
  for (const { query, verdict } of RECORDED) assert.equal(explainPath(snapshot, query).result.verdict, verdict);
  const forwarded = explainPath(snapshot, RECORDED[1].query);
  assert.equal(forwarded.result.dev, 'wan0');
  assert.equal(forwarded.result.saddr, '10.2.0.1', 'masquerade takes wan0\'s address');
  const dropped = explainPath(snapshot, RECORDED[0].query);
  assert.deepEqual({ chain: dropped.result.rule?.chain, handle: dropped.result.rule?.handle }, { chain: 'lanfwd', handle: 9 });
});

/** A copy of the snapshot whose parsed ruleset a broken evaluator misreads in one way. */
function brokenSnapshot(mutate: (ruleset: Ruleset) => void): Snapshot {
  const snapshot = routerSnapshot();
  mutate(rulesetOf(snapshot.firewall!));
  return snapshot;
}

test('the comparer catches deliberately broken evaluators', () => {
  // 1. jump treated as goto: the forward chain's counter after `jump lanfwd` never runs.
  const jumpAsGoto = brokenSnapshot((ruleset) => {
    const rule = ruleset.tables[0].chains.get('forward')!.rules[0];
    rule.expr = rule.expr.map((e) => (typeof e === 'object' && e !== null && 'jump' in e ? { goto: (e as { jump: Json }).jump } : e));
  });
  assert.ok(disagreementsWith(explainPath, jumpAsGoto).some((d) => d.startsWith('40002: matched rules')));
  // 2. accept taken as final for the whole hook, and NAT chains never reached: masquerade missed.
  const natIgnored = brokenSnapshot((ruleset) => ruleset.tables[0].chains.delete('post'));
  assert.ok(disagreementsWith(explainPath, natIgnored).some((d) => d.startsWith('40002: matched rules')));
  // 3. an interface name compared wrongly: the LAN jump never matches, the drop is missed.
  const wrongName = brokenSnapshot((ruleset) => {
    const rule = ruleset.tables[0].chains.get('forward')!.rules[0];
    (rule.expr[0] as { match: { right: Json } }).match.right = 'lan1';
  });
  const found = disagreementsWith(explainPath, wrongName);
  assert.ok(found.includes('40001: verdict: netmend forwarded, kernel dropped'), found.join('\n'));
  assert.ok(found.some((d) => d.startsWith('40001: rule:')));
  // 4. an evaluator that forgets routing failures and forwards everything.
  const alwaysForward = (snapshot: Snapshot, query: PathQuery) => {
    const answer = explainPath(snapshot, query);
    return answer.result.verdict === 'no-route' ? { ...answer, result: { ...answer.result, verdict: 'forwarded' as const, dev: 'wan0' } } : answer;
  };
  assert.ok(disagreementsWith(alwaysForward, routerSnapshot()).includes('40004: verdict: netmend forwarded, kernel no-route'));
});

/** A snapshot of a small router (lan0 10.1.0.1/24, wan0 10.2.0.1/24, default via 10.2.0.2) with the given nft JSON objects. */
function router(objects: Json[], extra: Partial<FirewallState> = {}): Snapshot {
  const base = routerSnapshot();
  base.routes.push({ family: 4, table: 254, type: 'unicast', dst: '0.0.0.0/0', gateway: '10.2.0.2', dev: 'wan0', metric: 0, protocol: 'static', scope: 'global', flags: [] });
  const firewall: FirewallState = { nftables: { nftables: [{ metainfo: { json_schema_version: 1 } }, ...objects] }, backends: ['nftables'], notes: [], ...extra };
  return { ...base, firewall };
}

const table = (family: string, name: string, handle = 1): Json => ({ table: { family, name, handle } });
const chain = (family: string, tableName: string, name: string, handle: number, base?: { type: string; hook: string; prio: number; policy?: string }): Json =>
  ({ chain: { family, table: tableName, name, handle, ...(base ? { ...base, policy: base.policy ?? 'accept' } : {}) } });
const rule = (family: string, tableName: string, chainName: string, handle: number, expr: Json[]): Json => ({ rule: { family, table: tableName, chain: chainName, handle, expr } });
const match = (left: Json, right: Json, op = '=='): Json => ({ match: { op, left, right } });
const meta = (key: string): Json => ({ meta: { key } });
const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });

const FORWARD_TCP: PathQuery = { destination: '10.2.0.2', from: '10.1.0.2', iif: 'lan0', protocol: 'tcp', sport: 40000, dport: 22 };

test('nat chains run in the NAT slot, not at their own priority; accept ends only one base chain', () => {
  const snapshot = router([
    table('ip', 't'),
    chain('ip', 't', 'early', 1, { type: 'filter', hook: 'prerouting', prio: -120 }),
    chain('ip', 't', 'nat', 2, { type: 'nat', hook: 'prerouting', prio: -190 }),
    chain('ip', 't', 'late', 3, { type: 'filter', hook: 'prerouting', prio: -50 }),
    rule('ip', 't', 'early', 4, [{ accept: null }]),
    rule('ip', 't', 'nat', 5, [match(payload('tcp', 'dport'), 22), { dnat: { addr: '10.2.0.7' } }]),
    rule('ip', 't', 'late', 6, [match(payload('ip', 'daddr'), '10.2.0.7'), { drop: null }]),
  ]);
  const answer = explainPath(snapshot, FORWARD_TCP);
  const order = answer.steps.filter((s) => s.kind === 'chain' || s.kind === 'skip').map((s) => (s as { chain: string }).chain);
  assert.deepEqual(order, ['early', 'nat', 'late'], 'the nat chain at -190 runs in the -100 slot, after the filter chain at -120');
  assert.equal(answer.result.verdict, 'dropped', 'accept in `early` did not end the hook; the DNATed address met `late`');
  assert.equal(answer.result.rule?.handle, 6);
});

test('sets: a 100,000-element interval set and concatenations are looked up through the index', () => {
  const elements: Json[] = [];
  for (let i = 0; i < 100_000; i++) elements.push({ prefix: { addr: `${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0`, len: 24 } });
  elements.push({ range: ['10.2.0.2', '10.2.0.3'] });
  const snapshot = router([
    table('inet', 'f'),
    { set: { family: 'inet', table: 'f', name: 'block', type: 'ipv4_addr', handle: 2, flags: ['interval'], elem: elements } },
    { set: { family: 'inet', table: 'f', name: 'svc', type: ['ipv4_addr', 'inet_service'], handle: 3, elem: [{ concat: ['10.2.0.9', 22] }] } },
    chain('inet', 'f', 'fwd', 1, { type: 'filter', hook: 'forward', prio: 0 }),
    rule('inet', 'f', 'fwd', 4, [match({ concat: [payload('ip', 'daddr'), payload('tcp', 'dport')] }, '@svc'), { accept: null }]),
    rule('inet', 'f', 'fwd', 5, [match(payload('ip', 'daddr'), '@block'), { drop: null }]),
  ]);
  const started = process.hrtime.bigint();
  assert.equal(explainPath(snapshot, FORWARD_TCP).result.verdict, 'dropped', '10.2.0.2 is in the range element');
  assert.equal(explainPath(snapshot, { ...FORWARD_TCP, destination: '10.2.0.9' }).result.verdict, 'forwarded', 'the concatenation accepts first');
  assert.equal(explainPath(snapshot, { ...FORWARD_TCP, destination: '21.134.159.77' }).result.verdict, 'dropped', 'the last element, 21.134.159.0/24');
  assert.equal(explainPath(snapshot, { ...FORWARD_TCP, destination: '22.0.0.1' }).result.verdict, 'forwarded', 'past the last element');
  const lookups = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(lookups < 5000, `four packets took ${lookups} ms`);
});

test('verdict maps, gotos and returns as fw4 writes them', () => {
  const snapshot = router([
    table('inet', 'fw4'),
    chain('inet', 'fw4', 'forward', 1, { type: 'filter', hook: 'forward', prio: 0, policy: 'drop' }),
    chain('inet', 'fw4', 'forward_lan', 2),
    chain('inet', 'fw4', 'accept_to_wan', 3),
    rule('inet', 'fw4', 'forward', 4, [{ vmap: { key: { ct: { key: 'state' } }, data: { set: [['established', { accept: null }], ['related', { accept: null }]] } } }]),
    rule('inet', 'fw4', 'forward', 5, [{ vmap: { key: meta('iifname'), data: { set: [['lan0', { jump: { target: 'forward_lan' } }]] } } }]),
    rule('inet', 'fw4', 'forward_lan', 6, [match(payload('tcp', 'dport'), 23), { return: null }]),
    rule('inet', 'fw4', 'forward_lan', 7, [{ goto: { target: 'accept_to_wan' } }]),
    rule('inet', 'fw4', 'accept_to_wan', 8, [match(meta('oifname'), 'wan0'), { accept: null }]),
  ]);
  const ssh = explainPath(snapshot, FORWARD_TCP);
  assert.equal(ssh.result.verdict, 'forwarded');
  const telnet = explainPath(snapshot, { ...FORWARD_TCP, dport: 23 });
  assert.equal(telnet.result.verdict, 'dropped');
  assert.equal(telnet.result.rule?.handle, null, 'the forward policy dropped it after the return');
  const reply = explainPath(snapshot, { ...FORWARD_TCP, reply: true }).reply!;
  assert.equal(reply.result.verdict, 'forwarded', 'the reply is established: the ct state vmap accepts it');
  assert.equal(reply.result.dev, 'lan0');
});

test('an expression netmend cannot evaluate is named and makes the answer uncertain', () => {
  const snapshot = router([
    table('inet', 'f'),
    chain('inet', 'f', 'fwd', 1, { type: 'filter', hook: 'forward', prio: 0 }),
    rule('inet', 'f', 'fwd', 2, [match({ osf: { key: 'name' } }, 'Linux'), { drop: null }]),
  ]);
  const answer = explainPath(snapshot, FORWARD_TCP);
  assert.equal(answer.result.verdict, 'forwarded');
  assert.match(answer.result.uncertain.join('\n'), /cannot judge rule 2 \(inet f fwd\): uses .*osf/);
});

test('iptables-nft xt rules are read from iptables-nft-save; legacy tables run beside nftables', () => {
  const xtRule = (handle: number, xt: string): Json => rule('ip', 'filter', 'ts-forward', handle, [{ xt: { type: 'target', name: xt } }]);
  const save = [
    '*filter', ':FORWARD ACCEPT [0:0]', ':ts-forward - [0:0]',
    '-A FORWARD -j ts-forward',
    '-A ts-forward -i tailscale0 -j MARK --set-xmark 0x40000/0xff0000',
    '-A ts-forward -m mark --mark 0x40000/0xff0000 -j ACCEPT',
    '-A ts-forward -s 100.64.0.0/10 -o tailscale0 -j DROP',
    '-A ts-forward -o tailscale0 -j ACCEPT', 'COMMIT', '',
  ].join('\n');
  const objects: Json[] = [
    table('ip', 'filter'),
    chain('ip', 'filter', 'FORWARD', 1, { type: 'filter', hook: 'forward', prio: 0 }),
    chain('ip', 'filter', 'ts-forward', 2),
    rule('ip', 'filter', 'FORWARD', 3, [{ counter: { packets: 0, bytes: 0 } }, { jump: { target: 'ts-forward' } }]),
    xtRule(4, 'MARK'), rule('ip', 'filter', 'ts-forward', 5, [{ xt: { type: 'match', name: 'mark' } }, { accept: null }]),
    rule('ip', 'filter', 'ts-forward', 6, [match(payload('ip', 'saddr'), { prefix: { addr: '100.64.0.0', len: 10 } }), match(meta('oifname'), 'tailscale0'), { drop: null }]),
    rule('ip', 'filter', 'ts-forward', 7, [match(meta('oifname'), 'tailscale0'), { accept: null }]),
  ];
  const withoutSave = explainPath(router(objects), FORWARD_TCP);
  assert.ok(withoutSave.result.uncertain.some((u) => /cannot judge rule 4/.test(u)), 'without iptables-nft-save the xt rule is unknown');
  const withSave = explainPath(router(objects, { iptablesNft: { ipv4: save } }), FORWARD_TCP);
  assert.deepEqual(withSave.result.uncertain, []);
  assert.equal(withSave.result.verdict, 'forwarded');

  const legacy = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', '-A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT', 'COMMIT', ''].join('\n');
  const both = router([table('inet', 'f'), chain('inet', 'f', 'fwd', 1, { type: 'filter', hook: 'forward', prio: -10 }), rule('inet', 'f', 'fwd', 2, [{ accept: null }])],
    { iptablesLegacy: { ipv4: legacy }, backends: ['nftables', 'iptables-legacy'] });
  const dropped = explainPath(both, FORWARD_TCP);
  assert.equal(dropped.result.verdict, 'dropped', 'the nft accept at -10 does not save it from the legacy FORWARD policy at 0');
  assert.equal(dropped.result.rule?.table, 'filter');
  assert.equal(explainPath(both, { ...FORWARD_TCP, dport: 80 }).result.verdict, 'forwarded');
});

test('NAT of the other family in an inet table does nothing, and the rule goes on once its map lookup found the port', () => {
  const snapshot = router([
    table('inet', 'n'),
    chain('inet', 'n', 'pre', 1, { type: 'nat', hook: 'prerouting', prio: -100 }),
    rule('inet', 'n', 'pre', 2, [{ dnat: { family: 'ip6', addr: 'fd00::7' } }]),
    rule('inet', 'n', 'pre', 3, [{ dnat: { family: 'ip6', addr: { map: { key: payload('tcp', 'dport'), data: { set: [[2222, 'fd00::8']] } } } } }]),
    rule('inet', 'n', 'pre', 4, [match(payload('tcp', 'dport'), 22), { counter: null }]),
    // Something must track IPv4 connections, or no IPv4 packet reaches the nat chain at all.
    chain('inet', 'n', 'fwd', 5, { type: 'filter', hook: 'forward', prio: 0 }),
    rule('inet', 'n', 'fwd', 6, [match({ ct: { key: 'state' } }, 'invalid'), { drop: null }]),
  ]);
  const matched = (query: PathQuery) => explainPath(snapshot, query).steps.filter((s) => s.kind === 'rule' && s.matched).map((s) => (s as { handle: number }).handle);
  // The kernel's trace of such a packet: `dnat ip6 to fd00::7 (verdict continue)`, then the next rule.
  assert.deepEqual(matched(FORWARD_TCP), [2, 4], 'an IPv4 packet passes through `dnat ip6 to` (matched, no rewrite), the port map misses 22');
  assert.deepEqual(matched({ ...FORWARD_TCP, dport: 2222 }), [2, 3], 'port 2222 is in the map: that rule matches too (and port 22 is not)');
  assert.equal(explainPath(snapshot, FORWARD_TCP).result.daddr, '10.2.0.2', 'nothing rewritten');
});

test('conntrack per family: nat chains run only for a family something in the namespace tracks', () => {
  const natChain = [
    table('inet', 'n'),
    chain('inet', 'n', 'pre', 1, { type: 'nat', hook: 'prerouting', prio: -100 }),
    rule('inet', 'n', 'pre', 2, [{ counter: null }]),
  ];
  const ranNat = (objects: Json[], query: PathQuery) => {
    const steps = explainPath(router([...natChain, ...objects]), query).steps;
    const skipped = steps.find((s) => s.kind === 'skip' && s.chain === 'pre');
    return skipped ? `skipped: ${(skipped as { why: string }).why}` : steps.some((s) => s.kind === 'rule' && s.handle === 2 && s.matched) ? 'ran' : 'absent';
  };
  const V6: PathQuery = { destination: 'fd02::2', from: 'fd01::2', iif: 'lan0', protocol: 'tcp', sport: 40000, dport: 22 };
  const ipTableWith = (family: string, expr: Json[]): Json[] => [
    table(family, 'x', 2), chain(family, 'x', 'f', 1, { type: 'filter', hook: 'forward', prio: 0 }), rule(family, 'x', 'f', 2, expr),
  ];
  // A nat chain alone enables nothing (kernel: its counter never moves).
  assert.match(ranNat([], FORWARD_TCP), /^skipped: nothing in this namespace enables IPv4 connection tracking/);
  assert.match(ranNat([], V6), /^skipped: .*IPv6/);
  // `dnat ip to` in an inet table: IPv4 only.
  const dnatIp = [rule('inet', 'n', 'pre', 3, [match(payload('tcp', 'dport'), 9), { dnat: { family: 'ip', addr: '10.2.0.9' } }])];
  assert.equal(ranNat(dnatIp, FORWARD_TCP), 'ran');
  assert.match(ranNat(dnatIp, V6), /^skipped/);
  // A ct expression counts for its table's families: ip → IPv4, inet → both.
  const ctState = [match({ ct: { key: 'state' } }, 'invalid'), { drop: null }];
  assert.equal(ranNat(ipTableWith('ip', ctState), FORWARD_TCP), 'ran');
  assert.match(ranNat(ipTableWith('ip', ctState), V6), /^skipped/);
  assert.equal(ranNat(ipTableWith('inet', ctState), V6), 'ran');
  // masquerade in an inet table, a ct helper object, an iptables-nft xt conntrack match: their table's families.
  assert.equal(ranNat(ipTableWith('inet', [match(meta('oifname'), 'wan0'), { masquerade: null }]), V6), 'ran');
  assert.equal(ranNat([{ 'ct helper': { family: 'inet', table: 'n', name: 'ftp', handle: 9, type: 'ftp', protocol: 'tcp', l3proto: 'inet' } }], V6), 'ran');
  assert.equal(ranNat(ipTableWith('ip6', [{ xt: { type: 'match', name: 'conntrack' } }]), V6), 'ran');
  // `notrack` and `meta mark` do not.
  assert.match(ranNat(ipTableWith('inet', [{ notrack: null }, { mangle: { key: meta('mark'), value: 1 } }]), FORWARD_TCP), /^skipped/);
});

test('rp_filter with src_valid_mark: the reverse-path lookup uses the mark a prerouting chain set only when src_valid_mark is on', () => {
  const objects = [
    table('ip', 'm'),
    chain('ip', 'm', 'pre', 1, { type: 'filter', hook: 'prerouting', prio: -150 }),
    rule('ip', 'm', 'pre', 2, [match(meta('iifname'), 'wan0'), { mangle: { key: meta('mark'), value: 1 } }]),
  ];
  const withSysctls = (srcValidMark: number) => {
    const snapshot = router(objects);
    // Marked packets (fwmark 0x1) route by table 100, whose default leaves through wan0.
    snapshot.rules.push({ family: 4, priority: 100, not: false, action: 'lookup', table: 100, fwmark: 1, fwmask: 1 });
    snapshot.routes.push({ family: 4, table: 100, type: 'unicast', dst: '0.0.0.0/0', gateway: '10.2.0.2', dev: 'wan0', metric: 0, protocol: 'static', scope: 'global', flags: [] });
    // The main table sends 8.8.0.0/16 back out of lan0: strict rp_filter drops it arriving on wan0 unless the mark counts.
    snapshot.routes.push({ family: 4, table: 254, type: 'unicast', dst: '8.8.0.0/16', gateway: '10.1.0.254', dev: 'lan0', metric: 0, protocol: 'static', scope: 'global', flags: [] });
    snapshot.sysctls = { ...snapshot.sysctls!, interfaces: { ...snapshot.sysctls!.interfaces, all: { ...snapshot.sysctls!.interfaces.all, rpFilter: 1, srcValidMark }, wan0: { ...snapshot.sysctls!.interfaces.wan0, rpFilter: 1 } } };
    return snapshot;
  };
  const query: PathQuery = { destination: '10.2.0.1', from: '8.8.8.8', iif: 'wan0', protocol: 'tcp', dport: 22 };
  const valid = explainPath(withSysctls(1), query);
  assert.equal(valid.result.verdict, 'delivered', valid.result.summary);
  const ignored = explainPath(withSysctls(0), query);
  assert.equal(ignored.result.verdict, 'no-route', ignored.result.summary);
  assert.match(ignored.result.summary, /rp_filter 1 \(strict\).*src_valid_mark=0: the lookup ignores the packet's mark 0x1\) goes out of lan0, not wan0/);
});

test('bad input: malformed ruleset, unknown interface, snapshot without firewall', () => {
  assert.throws(() => parseNftJson('{"nftables": [{"rule": {"family": "inet", "table": "x"}}]}'), (error: unknown) => error instanceof InputError && /malformed nftables ruleset/.test((error as Error).message));
  assert.throws(() => parseNftJson('not json'), InputError);
  assert.throws(() => explainPath(routerSnapshot(), { ...FORWARD_TCP, iif: 'eth9' }), /--iif: no interface named 'eth9'/);
  const v1 = validateSnapshot({ ...JSON.parse(readFileSync(join(fixtures, 'router-snapshot.json'), 'utf8')), version: 1 }, 'old.json');
  assert.throws(() => explainPath(v1, FORWARD_TCP), /firewall unknown \(a version 1 snapshot/);
});
