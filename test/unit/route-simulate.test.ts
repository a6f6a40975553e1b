import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { disagreements, parseIpRouteGet } from '../../src/route/kernel-oracle.js';
import { simulateRoute } from '../../src/route/simulate.js';
import type { Route, Rule, Snapshot } from '../../src/snapshot/types.js';

function route(family: 4 | 6, dst: string, extra: Partial<Route> = {}): Route {
  return { family, table: 254, type: 'unicast', dst, metric: family === 6 ? 1024 : 0, protocol: 'static', scope: 'global', flags: [], ...extra };
}

function rule(family: 4 | 6, priority: number, extra: Partial<Rule> = {}): Rule {
  return { family, priority, not: false, action: 'lookup', table: 254, ...extra };
}

const defaultRules = (family: 4 | 6): Rule[] => [
  rule(family, 0, { table: 255 }),
  rule(family, 32766, { table: 254 }),
  ...(family === 4 ? [rule(4, 32767, { table: 253 })] : []),
];

/** A host with eth0 (10.10.0.4/24, 2001:db8:a::4/64) and tailscale0 (100.100.1.2/32). */
function host(rules: Rule[], routes: Route[], forwarding = 0): Snapshot {
  return {
    version: 1, host: 'test', takenAt: '2026-01-01T00:00:00Z', source: 'file',
    links: [
      { index: 1, name: 'lo', kind: 'loopback', flags: ['UP'], mtu: 65536, operstate: 'UNKNOWN', address: null },
      { index: 2, name: 'eth0', kind: 'veth', flags: ['UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01' },
      { index: 3, name: 'tailscale0', kind: 'tun', flags: ['UP'], mtu: 1280, operstate: 'UNKNOWN', address: null },
    ],
    addresses: [
      { ifindex: 2, dev: 'eth0', family: 4, local: '10.10.0.4', prefixlen: 24, scope: 'global', flags: [] },
      { ifindex: 2, dev: 'eth0', family: 6, local: '2001:db8:a::4', prefixlen: 64, scope: 'global', flags: [] },
      { ifindex: 3, dev: 'tailscale0', family: 4, local: '100.100.1.2', prefixlen: 32, scope: 'global', flags: [] },
    ],
    rules,
    routes: [
      route(4, '10.10.0.4/32', { table: 255, type: 'local', dev: 'eth0', protocol: 'kernel', scope: 'host', prefsrc: '10.10.0.4' }),
      route(4, '10.10.0.255/32', { table: 255, type: 'broadcast', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.10.0.4' }),
      route(4, '100.100.1.2/32', { table: 255, type: 'local', dev: 'tailscale0', protocol: 'kernel', scope: 'host', prefsrc: '100.100.1.2' }),
      route(4, '10.10.0.0/24', { dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.10.0.4' }),
      route(4, '0.0.0.0/0', { dev: 'eth0', gateway: '10.10.0.1' }),
      route(6, '2001:db8:a::4/128', { table: 255, type: 'local', dev: 'eth0', protocol: 'kernel', metric: 0 }),
      route(6, '2001:db8:a::/64', { dev: 'eth0', protocol: 'kernel', metric: 256 }),
      ...routes,
    ],
    sysctls: { ipForward: forwarding, interfaces: { all: { forwarding4: forwarding, rpFilter: 0 }, eth0: { forwarding4: forwarding, rpFilter: 0 }, tailscale0: { forwarding4: forwarding, rpFilter: 0 } } },
  };
}

const tailscaleRules = (): Rule[] => [
  rule(4, 0, { table: 255 }),
  rule(4, 5210, { fwmark: 0x80000, fwmask: 0xff0000, table: 254 }),
  rule(4, 5230, { fwmark: 0x80000, fwmask: 0xff0000, table: 253 }),
  rule(4, 5250, { fwmark: 0x80000, fwmask: 0xff0000, action: 'unreachable', table: undefined }),
  rule(4, 5270, { table: 52 }),
  rule(4, 32766, { table: 254 }),
  rule(4, 32767, { table: 253 }),
];

test('tailscale hairpin: table 52 captures the LAN, the bypass mark escapes it, a to-rule fixes it', () => {
  const snapshot = host(tailscaleRules(), [route(4, '10.10.0.0/24', { table: 52, dev: 'tailscale0' })]);
  const hairpin = simulateRoute(snapshot, { destination: '10.10.0.3' });
  assert.deepEqual([hairpin.result.dev, hairpin.result.table, hairpin.rule?.priority, hairpin.route?.dst], ['tailscale0', 52, 5270, '10.10.0.0/24']);
  const fwmarkStep = hairpin.steps.find((step) => step.priority === 5210)!;
  assert.equal(fwmarkStep.verdict, 'no-match');
  assert.match(fwmarkStep.reason, /fwmark 0x80000\/0xff0000 does not match mark 0x0/);
  const marked = simulateRoute(snapshot, { destination: '10.10.0.3', mark: 0x80000 });
  assert.deepEqual([marked.result.dev, marked.result.table, marked.result.prefsrc], ['eth0', 254, '10.10.0.4']);
  // Snapshots are immutable to the simulator (its index is cached per snapshot): a changed rule set is a new snapshot.
  const withFix = { ...snapshot, rules: [...snapshot.rules, rule(4, 5205, { to: '10.10.0.0/24', table: 254 })] };
  const fixed = simulateRoute(withFix, { destination: '10.10.0.3' });
  assert.deepEqual([fixed.result.dev, fixed.rule?.priority], ['eth0', 5205]);
});

test('the bypass mark with no route in main or default ends at the unreachable rule: ENETUNREACH', () => {
  const snapshot = host(tailscaleRules(), []);
  snapshot.routes = snapshot.routes.filter((r) => r.dst !== '0.0.0.0/0');
  const decision = simulateRoute(snapshot, { destination: '8.8.8.8', mark: 0x80000 });
  assert.deepEqual([decision.result.type, decision.result.error, decision.rule?.priority], ['error', 'ENETUNREACH', 5250]);
});

test('throw continues with the next rule; unreachable/prohibit/blackhole routes end the walk with their errors', () => {
  const rules = [rule(4, 0, { table: 255 }), rule(4, 100, { table: 100 }), rule(4, 32766, { table: 254 })];
  const cases: Array<[Route['type'], string | undefined]> = [['throw', undefined], ['unreachable', 'EHOSTUNREACH'], ['prohibit', 'EACCES'], ['blackhole', 'EINVAL']];
  for (const [type, error] of cases) {
    const decision = simulateRoute(host(rules, [route(4, '10.20.0.0/16', { table: 100, type })]), { destination: '10.20.1.1' });
    if (error) assert.deepEqual([decision.result.error, decision.result.table], [error, 100], type);
    else assert.deepEqual([decision.result.type, decision.result.table, decision.result.gateway], ['unicast', 254, '10.10.0.1'], type);
  }
  const throwDecision = simulateRoute(host(rules, [route(4, '10.20.0.0/16', { table: 100, type: 'throw' })]), { destination: '10.20.1.1' });
  assert.ok(throwDecision.steps.some((step) => step.verdict === 'throw' && step.table === 100));
});

test('rule actions unreachable/prohibit/blackhole and no matching rule at all', () => {
  for (const [action, error] of [['unreachable', 'ENETUNREACH'], ['prohibit', 'EACCES'], ['blackhole', 'EINVAL']] as const) {
    const decision = simulateRoute(host([rule(4, 10, { action, table: undefined })], []), { destination: '10.10.0.3' });
    assert.equal(decision.result.error, error, action);
  }
  const none = simulateRoute(host([rule(4, 10, { fwmark: 1, table: 254 })], []), { destination: '10.10.0.3' });
  assert.equal(none.result.error, 'ENETUNREACH');
});

test('longest prefix wins over metric; metric breaks ties on the same prefix', () => {
  const snapshot = host(defaultRules(4), [
    route(4, '10.30.0.0/16', { dev: 'tailscale0', metric: 5 }),
    route(4, '10.30.1.0/24', { dev: 'eth0', gateway: '10.10.0.7', metric: 100 }),
    route(4, '10.30.1.0/24', { dev: 'eth0', gateway: '10.10.0.8', metric: 50 }),
  ]);
  const decision = simulateRoute(snapshot, { destination: '10.30.1.9' });
  assert.deepEqual([decision.result.gateway, decision.route?.metric], ['10.10.0.8', 50]);
  assert.equal(simulateRoute(snapshot, { destination: '10.30.2.9' }).result.dev, 'tailscale0');
});

test('suppress_prefixlength 0 ignores the default route and falls through (wg-quick style)', () => {
  const rules = [rule(4, 0, { table: 255 }), rule(4, 100, { table: 254, suppressPrefixlen: 0 }), rule(4, 200, { table: 51820 }), rule(4, 32766, { table: 254 })];
  const snapshot = host(rules, [route(4, '0.0.0.0/0', { table: 51820, dev: 'tailscale0' })]);
  const decision = simulateRoute(snapshot, { destination: '1.1.1.1' });
  assert.deepEqual([decision.result.dev, decision.rule?.priority], ['tailscale0', 200]);
  assert.ok(decision.steps.some((step) => step.verdict === 'suppressed'));
  assert.equal(simulateRoute(snapshot, { destination: '10.10.0.9' }).rule?.priority, 100, 'a /24 is longer than /0: not suppressed');
});

test('goto skips the rules in between; not inverts the whole selector; iif lo is local traffic', () => {
  const rules = [rule(4, 0, { table: 255 }), rule(4, 10, { action: 'goto', gotoPriority: 30, table: undefined }), rule(4, 20, { table: 52 }), rule(4, 30, { table: 254 })];
  const snapshot = host(rules, [route(4, '10.10.0.0/24', { table: 52, dev: 'tailscale0' })]);
  assert.deepEqual([simulateRoute(snapshot, { destination: '10.10.0.3' }).result.dev], ['eth0']);
  const notRules = [rule(4, 0, { table: 255 }), rule(4, 20, { not: true, iif: 'eth0', table: 52 }), rule(4, 32766, { table: 254 })];
  const notSnapshot = host(notRules, [route(4, '10.10.0.0/24', { table: 52, dev: 'tailscale0' })], 1);
  assert.equal(simulateRoute(notSnapshot, { destination: '10.10.0.3' }).result.dev, 'tailscale0', 'local traffic is not from eth0');
  const forwarded = simulateRoute(notSnapshot, { destination: '10.10.0.3', from: '10.10.0.50', iif: 'tailscale0' });
  assert.deepEqual([forwarded.rule?.priority, forwarded.result.dev], [20, 'tailscale0']);
  const fromEth0 = simulateRoute(notSnapshot, { destination: '10.10.0.3', from: '10.10.0.50', iif: 'eth0' });
  assert.deepEqual([fromEth0.rule?.priority, fromEth0.result.dev], [32766, 'eth0']);
  const loRules = [rule(4, 0, { table: 255 }), rule(4, 20, { iif: 'lo', table: 52 }), rule(4, 32766, { table: 254 })];
  assert.equal(simulateRoute(host(loRules, [route(4, '10.10.0.0/24', { table: 52, dev: 'tailscale0' })]), { destination: '10.10.0.3' }).rule?.priority, 20);
});

test('equal priorities are tried in snapshot order', () => {
  const rules = [rule(4, 0, { table: 255 }), rule(4, 50, { table: 61 }), rule(4, 50, { table: 60 }), rule(4, 32766, { table: 254 })];
  const snapshot = host(rules, [route(4, '10.50.0.0/16', { table: 60, dev: 'eth0' }), route(4, '10.50.0.0/16', { table: 61, dev: 'tailscale0' })]);
  assert.equal(simulateRoute(snapshot, { destination: '10.50.0.1' }).result.table, 61);
});

test('IPv6: a from-rule never matches without a source; IPv4 compares 0.0.0.0', () => {
  const rules6 = [rule(6, 0, { table: 255 }), rule(6, 100, { from: '2001:db8:a::/64', table: 52 }), rule(6, 32766, { table: 254 })];
  const snapshot = host([...defaultRules(4), ...rules6], [route(6, '2001:db8:ff::/48', { table: 52, dev: 'tailscale0' }), route(6, '2001:db8:ff::/48', { dev: 'eth0' })]);
  const noSource = simulateRoute(snapshot, { destination: '2001:db8:ff::1' });
  assert.equal(noSource.result.dev, 'eth0');
  assert.match(noSource.steps.find((step) => step.priority === 100)!.reason, /never matches an IPv6 lookup without a source/);
  assert.equal(simulateRoute(snapshot, { destination: '2001:db8:ff::1', from: '2001:db8:a::4' }).result.dev, 'tailscale0');
  const rules4 = [rule(4, 0, { table: 255 }), rule(4, 100, { from: '0.0.0.0/8', table: 52 }), rule(4, 32766, { table: 254 })];
  assert.equal(simulateRoute(host(rules4, [route(4, '10.99.0.0/16', { table: 52, dev: 'tailscale0' })]), { destination: '10.99.0.1' }).result.dev, 'tailscale0');
});

test('local addresses are delivered through lo from table local; forwarding off refuses forwarded packets', () => {
  const snapshot = host([...defaultRules(4), ...defaultRules(6)], []);
  const local = simulateRoute(snapshot, { destination: '10.10.0.4' });
  assert.deepEqual([local.result.type, local.result.dev, local.result.table], ['local', 'lo', 255]);
  const local6 = simulateRoute(snapshot, { destination: '2001:db8:a::4' });
  assert.deepEqual([local6.result.type, local6.result.dev, local6.result.table], ['local', 'lo', 255]);
  const forwarded = simulateRoute(snapshot, { destination: '8.8.8.8', from: '100.64.0.9', iif: 'tailscale0' });
  assert.deepEqual([forwarded.result.type, forwarded.result.error], ['error', 'EHOSTUNREACH']);
  const forwarding = host(defaultRules(4), [], 1);
  assert.deepEqual([simulateRoute(forwarding, { destination: '8.8.8.8', from: '100.64.0.9', iif: 'tailscale0' }).result.dev], ['eth0']);
  assert.equal(simulateRoute(forwarding, { destination: '8.8.8.8', from: '10.10.0.4', iif: 'tailscale0' }).result.error, 'EINVAL', 'own address as source: martian');
});

test('bad queries are input errors naming what is wrong', () => {
  const snapshot = host(defaultRules(4), []);
  assert.throws(() => simulateRoute(snapshot, { destination: '10.0.0.300' }), (error: unknown) => error instanceof InputError && /10\.0\.0\.300/.test(error.message));
  assert.throws(() => simulateRoute(snapshot, { destination: '10.0.0.1', iif: 'wg9' }), /no interface named 'wg9'/);
  assert.throws(() => simulateRoute(snapshot, { destination: '10.0.0.1', from: '2001:db8::1' }), /IPv6 but the destination/);
});

test('the index answers many lookups on a big table the same as the linear definition', () => {
  const routes: Route[] = [];
  for (let i = 0; i < 50_000; i++) routes.push(route(4, `10.${(i >> 8) & 255}.${i & 255}.0/24`, { table: 100, dev: i % 2 ? 'eth0' : 'tailscale0', gateway: `10.10.0.${i % 250 + 1}` }));
  routes.push(route(4, '10.0.0.0/8', { table: 100, type: 'unreachable' }));
  const snapshot = host([rule(4, 0, { table: 255 }), rule(4, 10, { table: 100 }), rule(4, 32766, { table: 254 })], routes);
  for (let i = 0; i < 2000; i++) {
    const n = (i * 7919) % 60_000;
    const destination = `10.${(n >> 8) & 255}.${n & 255}.9`;
    const decision = simulateRoute(snapshot, { destination });
    if (n < 50_000) assert.equal(decision.result.gateway, `10.10.0.${n % 250 + 1}`, destination);
    else assert.equal(decision.result.error, 'EHOSTUNREACH', destination);
  }
});

test('the comparer counts a deliberately different decision as a disagreement', () => {
  const kernel = parseIpRouteGet('[{"dst":"10.10.0.3","dev":"tailscale0","table":"52","flags":[]}]', '', 0);
  assert.ok(!('unparsed' in kernel));
  const context = { family: 4 as const, defaultRules4: false };
  assert.deepEqual(disagreements({ type: 'unicast', dev: 'tailscale0', table: 52 }, kernel, context), []);
  assert.equal(disagreements({ type: 'unicast', dev: 'eth0', table: 52 }, kernel, context).length, 1);
  assert.equal(disagreements({ type: 'unicast', dev: 'tailscale0', table: 254 }, kernel, context).length, 1);
  assert.equal(disagreements({ type: 'unicast', dev: 'tailscale0', table: 52, gateway: '10.0.0.1' }, kernel, context).length, 1);
  assert.equal(disagreements({ type: 'error', error: 'ENETUNREACH' }, kernel, context).length, 1);
  const refused = parseIpRouteGet('', 'RTNETLINK answers: No route to host\n', 2);
  assert.deepEqual(refused, { type: 'error', error: 'EHOSTUNREACH' });
  assert.equal(disagreements({ type: 'error', error: 'ENETUNREACH' }, refused as never, context).length, 1);
  // A wrong simulator end to end: one that ignores fwmark selectors disagrees with the real answer.
  const snapshot = host(tailscaleRules(), [route(4, '10.10.0.0/24', { table: 52, dev: 'tailscale0' })]);
  const truth = simulateRoute(snapshot, { destination: '10.10.0.3' }).result;
  const broken = simulateRoute({ ...snapshot, rules: snapshot.rules.map((r) => ({ ...r, fwmark: undefined, fwmask: undefined })) }, { destination: '10.10.0.3' }).result;
  assert.ok(disagreements(broken, truth, context).length > 0);
});
