/**
 * The doctor's pure parts on hand-built snapshots: the runner's error handling and exit codes,
 * check selection, the renderer, the networkd.conf merge, the Tailscale-prefs path of the
 * forwarding check, prefix helpers and the overlap sweep's cost on a big table.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import forwardingDisabled from '../../src/doctor/checks/routes/forwarding-disabled.js';
import { overlappingPairs } from '../../src/doctor/checks/routes/overlapping-advertised.js';
import { routesChecks } from '../../src/doctor/checks/routes/index.js';
import { applyNetworkdConf, type NetworkdSetting } from '../../src/doctor/gather/networkd.js';
import { formatPrefix, parsePrefix, prefixContainsPrefix } from '../../src/net/address.js';
import { sampleAddress } from '../../src/doctor/prefix.js';
import { renderDocument, summaryLine } from '../../src/doctor/render.js';
import { buildDocument, exitCodeOf, runCheck, runDoctor, selectChecks } from '../../src/doctor/run.js';
import type { Check, HostState } from '../../src/doctor/types.js';
import { InputError } from '../../src/errors.js';
import { formatRoute, formatRule } from '../../src/snapshot/format.js';
import type { Route, Snapshot } from '../../src/snapshot/types.js';
import { netmend } from '../lab/harness.js';
import { checkOptions, route } from './check-fixtures.js';

const options = checkOptions;

/** A Tailscale-like host: LAN 192.168.1.0/24 on eth0, tailscale0 with 100.101.102.103, rules 5210-5270. */
function tailscaleSnapshot(extraRoutes: Route[] = []): Snapshot {
  const rules = [4, 6].flatMap((family) => [
    { family, priority: 0, not: false, action: 'lookup', table: 255 },
    { family, priority: 5210, not: false, fwmark: 0x80000, fwmask: 0xff0000, action: 'lookup', table: 254 },
    { family, priority: 5230, not: false, fwmark: 0x80000, fwmask: 0xff0000, action: 'lookup', table: 253 },
    { family, priority: 5250, not: false, fwmark: 0x80000, fwmask: 0xff0000, action: 'unreachable' },
    { family, priority: 5270, not: false, action: 'lookup', table: 52 },
    { family, priority: 32766, not: false, action: 'lookup', table: 254 },
    { family, priority: 32767, not: false, action: 'lookup', table: 253 },
  ]) as Snapshot['rules'];
  return {
    version: 1, host: 'unit', takenAt: '2026-01-01T00:00:00Z', source: 'file',
    links: [
      { index: 1, name: 'lo', kind: 'loopback', flags: ['UP'], mtu: 65536, operstate: 'UNKNOWN', address: null },
      { index: 2, name: 'eth0', kind: 'ether', flags: ['UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01' },
      { index: 3, name: 'tailscale0', kind: 'tun', flags: ['UP', 'LOWER_UP', 'POINTOPOINT'], mtu: 1280, operstate: 'UNKNOWN', address: null },
    ],
    addresses: [
      { ifindex: 2, dev: 'eth0', family: 4, local: '192.168.1.10', prefixlen: 24, scope: 'global', flags: [] },
      { ifindex: 3, dev: 'tailscale0', family: 4, local: '100.101.102.103', prefixlen: 32, scope: 'global', flags: [] },
    ],
    routes: [
      route({ dst: '0.0.0.0/0', gateway: '192.168.1.1', dev: 'eth0' }),
      route({ dst: '192.168.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.168.1.10' }),
      route({ dst: '100.100.100.100/32', dev: 'tailscale0', table: 52, scope: 'link' }),
      route({ dst: '192.168.1.10/32', dev: 'eth0', table: 255, type: 'local', protocol: 'kernel', scope: 'host', prefsrc: '192.168.1.10' }),
      route({ dst: '100.101.102.103/32', dev: 'tailscale0', table: 255, type: 'local', protocol: 'kernel', scope: 'host', prefsrc: '100.101.102.103' }),
      ...extraRoutes,
    ],
    rules,
    sysctls: { ipForward: 0, ipv6Forwarding: 0, interfaces: { all: { rpFilter: 0 } } },
  };
}

function stateOf(snapshot: Snapshot, facts: Record<string, unknown> = {}): HostState {
  return { snapshot, facts, gatherErrors: {} };
}

test('format: routes and rules print as iproute2 prints them', () => {
  assert.equal(formatRoute(route({ dst: '10.10.0.0/24', dev: 'veth-h', protocol: 'kernel', scope: 'link', prefsrc: '10.10.0.4' })), '10.10.0.0/24 dev veth-h proto kernel scope link src 10.10.0.4');
  assert.equal(formatRoute(route({ dst: '0.0.0.0/0', gateway: '10.10.0.1', dev: 'veth-h' })), 'default via 10.10.0.1 dev veth-h');
  assert.equal(formatRoute(route({ dst: '10.20.0.0/24', table: 52, type: 'throw' })), 'throw 10.20.0.0/24 table 52');
  assert.equal(formatRoute(route({ dst: 'fe80::/64', dev: 'tailscale0', protocol: 'kernel', metric: 256, pref: 'medium' })), 'fe80::/64 dev tailscale0 proto kernel metric 256 pref medium');
  assert.equal(formatRoute(route({ dst: '100.64.0.5/32', dev: 'tailscale0', table: 52, scope: 'link' })), '100.64.0.5 dev tailscale0 table 52 scope link');
  assert.equal(formatRule({ family: 4, priority: 5210, not: false, fwmark: 0x80000, fwmask: 0xff0000, action: 'lookup', table: 254 }), '5210:\tfrom all fwmark 0x80000/0xff0000 lookup main');
  assert.equal(formatRule({ family: 4, priority: 5270, not: true, fwmark: 0x80000, fwmask: 0xff0000, action: 'lookup', table: 52 }), '5270:\tnot from all fwmark 0x80000/0xff0000 lookup 52');
  assert.equal(formatRule({ family: 4, priority: 5210, not: false, fwmark: 0x80000, fwmask: 0xffffffff, action: 'lookup', table: 254 }), '5210:\tfrom all fwmark 0x80000 lookup main');
  assert.equal(formatRule({ family: 4, priority: 5205, not: false, to: '10.10.0.0/24', action: 'lookup', table: 254, protocol: 'static' }), '5205:\tfrom all to 10.10.0.0/24 lookup main proto static');
  assert.equal(formatRule({ family: 4, priority: 5250, not: false, fwmark: 0x80000, fwmask: 0xff0000, action: 'unreachable' }), '5250:\tfrom all fwmark 0x80000/0xff0000 unreachable');
});

test('prefix helpers: parse, contain, sample an address that is not the host\'s own', () => {
  const lan = parsePrefix('10.10.0.0/24')!;
  assert.equal(formatPrefix(lan), '10.10.0.0/24');
  assert.equal(sampleAddress(lan, ['10.10.0.1']), '10.10.0.2');
  assert.equal(sampleAddress(parsePrefix('2001:db8:77::/64')!, []), '2001:db8:77::1');
  assert.equal(sampleAddress(parsePrefix('10.1.1.7/32')!, []), '10.1.1.7');
  assert.ok(prefixContainsPrefix(parsePrefix('100.64.0.0/10')!, parsePrefix('100.100.100.100')!));
  assert.ok(!prefixContainsPrefix(parsePrefix('10.10.0.0/25')!, parsePrefix('10.10.0.128/25')!));
  assert.equal(parsePrefix('::ffff:192.0.2.1/128') && formatPrefix(parsePrefix('::ffff:192.0.2.1/128')!), '::ffff:192.0.2.1/128');
  assert.equal(parsePrefix('10.0.0.0/33'), undefined);
  assert.equal(parsePrefix('1:2:3:4:5:6:7:8:9/64'), undefined);
});

test('overlap sweep: nested prefixes through different paths are paired, same path is not, and 200,000 routes are swept in seconds, not pairwise', () => {
  const pairs = overlappingPairs([
    route({ dst: '10.20.0.0/16', dev: 'tailscale0', table: 52 }),
    route({ dst: '10.20.1.0/24', dev: 'wg0', table: 52 }),
    route({ dst: '10.20.2.0/24', dev: 'tailscale0', table: 52 }),
  ]);
  assert.equal(pairs.length, 1);
  assert.equal(pairs[0][0].route.dst, '10.20.0.0/16');
  assert.equal(pairs[0][1].route.dst, '10.20.1.0/24');

  const many: Route[] = [];
  for (let i = 0; i < 200_000; i++) many.push(route({ dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, dev: 'tailscale0', table: 52 }));
  many.push(route({ dst: '10.1.0.0/16', dev: 'wg0', table: 52 }));
  const started = process.hrtime.bigint();
  const found = overlappingPairs(many, 1_000_000);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(found.length, 65_536, 'each /32 inside 10.1.0.0/16 pairs with it');
  assert.ok(ms < 5000, `sweep took ${ms} ms`);
});

test('a check that throws becomes status error, and the run exits 3; the other checks still run', () => {
  const broken: Check = { id: 'routes.broken', topic: 'routes', title: 'throws', run() { throw new TypeError('boom\nsecond line'); } };
  const state = stateOf(tailscaleSnapshot());
  const result = runCheck(broken, state, options);
  assert.equal(result.status, 'error');
  assert.equal(result.summary, 'the check could not run: boom');
  const document = buildDocument('unit', [result, runCheck(routesChecks[0], state, options)]);
  assert.equal(document.summary.error, 1);
  assert.equal(exitCodeOf(document), 3);
});

test('exit codes follow --fail-on', () => {
  const warnOnly = buildDocument('h', [{ id: 'a', status: 'warn', summary: '', evidence: [] }, { id: 'b', status: 'pass', summary: '', evidence: [] }]);
  assert.equal(exitCodeOf(warnOnly, 'fail'), 0);
  assert.equal(exitCodeOf(warnOnly, 'warn'), 1);
  const failing = buildDocument('h', [{ id: 'a', status: 'fail', summary: '', evidence: [] }]);
  assert.equal(exitCodeOf(failing, 'fail'), 1);
  assert.equal(exitCodeOf(failing, 'never'), 0);
});

test('--check selects by id; an unknown id is an InputError naming the known ones', () => {
  assert.deepEqual(selectChecks(['routes'], ['routes.rule-order']).map((check) => check.id), ['routes.rule-order']);
  assert.equal(selectChecks(['routes']).length, 8);
  assert.throws(() => selectChecks(['routes'], ['routes.nope']), (error: unknown) => error instanceof InputError && /unknown check id 'routes\.nope'/.test(error.message) && /routes\.rule-order/.test(error.hint ?? ''));
});

test('every routes check has a file-named id, and ids are unique', () => {
  const ids = routesChecks.map((check) => check.id);
  assert.deepEqual(ids, ['routes.tunnel-link-local', 'routes.subnet-shadows-lan', 'routes.exit-node-captures-lan', 'routes.overlapping-advertised', 'routes.forwarding-disabled', 'routes.rp-filter-strict', 'routes.foreign-rules-at-risk', 'routes.rule-order']);
});

test('subnet-shadows-lan on a hand-built snapshot: an accepted 192.168.0.0/16 shadows the /24 LAN', () => {
  const healthy = runDoctor({ topics: ['routes'], options, state: stateOf(tailscaleSnapshot()) });
  assert.equal(healthy.checks.find((check) => check.id === 'routes.subnet-shadows-lan')?.status, 'pass');
  const shadowed = runDoctor({ topics: ['routes'], checkIds: ['routes.subnet-shadows-lan'], options, state: stateOf(tailscaleSnapshot([route({ dst: '192.168.0.0/16', dev: 'tailscale0', table: 52, scope: 'link' })])) });
  const check = shadowed.checks[0];
  assert.equal(check.status, 'fail');
  assert.deepEqual(check.evidence, [
    '192.168.1.1 (in 192.168.1.0/24 on eth0) goes dev tailscale0 (table 52)',
    '  rule:  5270: from all lookup 52',
    '  route: 192.168.0.0/16 dev tailscale0 table 52 scope link',
    '  should use: 192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10',
  ]);
  assert.match(check.fix?.explanation ?? '', /ip rule add to 192\.168\.1\.0\/24 lookup main priority 5205/);
});

test('forwarding-disabled trusts Tailscale\'s own prefs when they can be read', () => {
  const snapshot = tailscaleSnapshot();
  const advertising = stateOf(snapshot, { tailscale: { prefs: { AdvertiseRoutes: ['192.168.1.0/24', '0.0.0.0/0', '::/0'] }, source: 'tailscale debug prefs' } });
  const result = forwardingDisabled.run(advertising, options);
  assert.equal(result.status, 'fail');
  assert.match(result.summary, /exit node but IPv4 and IPv6 forwarding is off/);
  assert.equal(result.fix?.command, 'sysctl -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1');
  assert.ok(result.evidence.includes('tailscale debug prefs: AdvertiseRoutes ["192.168.1.0/24","0.0.0.0/0","::/0"]'));

  const forwarding = { ...snapshot, sysctls: { ...snapshot.sysctls, ipForward: 1, ipv6Forwarding: 1 } };
  assert.equal(forwardingDisabled.run(stateOf(forwarding, advertising.facts), options).status, 'pass');
  const quiet = stateOf(snapshot, { tailscale: { prefs: { AdvertiseRoutes: null }, source: 'tailscale debug prefs' } });
  assert.equal(forwardingDisabled.run(quiet, options).status, 'pass');
  assert.equal(forwardingDisabled.run(stateOf(snapshot), options).status, 'skip');
});

test('networkd.conf merge: the last assignment in [Network] wins, other sections and comments are ignored', () => {
  const settings: Record<string, NetworkdSetting> = {};
  applyNetworkdConf('[Network]\n#ManageForeignRoutes=no\nManageForeignRoutes=no\n[DHCPv4]\nManageForeignRoutingPolicyRules=no\n', '/etc/systemd/networkd.conf', settings);
  assert.equal(settings.ManageForeignRoutes.value, false);
  assert.equal(settings.ManageForeignRoutes.source, '/etc/systemd/networkd.conf:3');
  assert.equal(settings.ManageForeignRoutingPolicyRules, undefined);
  applyNetworkdConf('[Network]\nManageForeignRoutes = yes\n', '/etc/systemd/networkd.conf.d/20.conf', settings);
  assert.equal(settings.ManageForeignRoutes.value, true);
});

test('render: marks, evidence and fix only for problems, a summary line, colour only when asked', () => {
  const document = buildDocument('router', [
    { id: 'routes.a', status: 'pass', summary: 'fine', evidence: ['hidden'] },
    { id: 'routes.b', status: 'fail', summary: 'broken', evidence: ['5270: from all lookup 52'], fix: { command: 'netmend fix subnet-routes', explanation: 'adds a rule' } },
    { id: 'routes.c', status: 'skip', summary: 'n/a', evidence: [] },
    { id: 'routes.d', status: 'error', summary: 'the check could not run: boom', evidence: [] },
  ]);
  const text = renderDocument(document, { colour: false });
  assert.equal(text, [
    '✓ routes.a  fine',
    '✗ routes.b  broken',
    '    5270: from all lookup 52',
    '    fix: netmend fix subnet-routes',
    '         adds a rule',
    '– routes.c  n/a',
    '☠ routes.d  the check could not run: boom',
    '',
    'router: 1 passed, 1 failed, 1 could not run, 1 skipped. Fix: netmend fix subnet-routes',
    '',
  ].join('\n'));
  assert.match(renderDocument(document, { colour: true }), /\u001b\[31m✗\u001b\[0m/);
  assert.equal(summaryLine(buildDocument('h', [])), 'h: 0 passed');
});

test('CLI on a saved snapshot: findings exit 1, --check narrows, unknown --check exits 2, --list-checks, a damaged snapshot exits 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-doctor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'host.json');
  writeFileSync(file, JSON.stringify(tailscaleSnapshot([route({ dst: '192.168.1.0/24', dev: 'tailscale0', table: 52, scope: 'link' })])));

  const run = await netmend(['doctor', 'routes', '--snapshot', file, '--json']);
  assert.equal(run.code, 1, run.stderr);
  const document = JSON.parse(run.stdout);
  assert.equal(document.host, 'unit');
  assert.equal(document.checks.find((check: { id: string }) => check.id === 'routes.subnet-shadows-lan').status, 'fail');
  assert.equal(document.checks.find((check: { id: string }) => check.id === 'routes.foreign-rules-at-risk').status, 'skip', 'no config files in a saved snapshot without --root');

  const narrowed = await netmend(['doctor', 'routes', '--snapshot', file, '--json', '--check', 'routes.rule-order', '--check', 'routes.tunnel-link-local']);
  assert.equal(narrowed.code, 0, narrowed.stderr);
  assert.deepEqual(JSON.parse(narrowed.stdout).checks.map((check: { id: string }) => check.id), ['routes.rule-order', 'routes.tunnel-link-local']);

  const unknown = await netmend(['doctor', 'routes', '--snapshot', file, '--check', 'routes.bogus']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
  assert.match(unknown.stderr, /unknown check id 'routes\.bogus'/);

  const list = await netmend(['doctor', 'routes', '--list-checks']);
  assert.equal(list.code, 0);
  assert.equal(list.stdout.trim().split('\n').length, 8);
  assert.match(list.stdout, /^routes\.tunnel-link-local\s+tunnel link-local route competes with the LAN$/m);

  // An address entry without its address text used to crash the checks (exit 3); a snapshot is
  // now validated on load, so it is bad input naming the field (a crashing check's exit 3 is
  // covered by the runner test above).
  const damaged = tailscaleSnapshot([route({ dst: '192.168.1.0/24', dev: 'tailscale0', table: 52 })]);
  (damaged.addresses[0] as unknown as Record<string, unknown>).local = 42;
  writeFileSync(file, JSON.stringify(damaged));
  const refused = await netmend(['doctor', 'routes', '--snapshot', file, '--json']);
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /addresses\[0\]\.local: 42 is not an IP address/);
});

test('the doctor\'s per-query reduced snapshots decide exactly as the simulator on the full table', async () => {
  const { decide } = await import('../../src/doctor/simulate.js');
  const { simulateRoute } = await import('../../src/route/simulate.js');
  const filler: Route[] = [];
  for (let i = 0; i < 20_000; i++) filler.push(route({ dst: `${16 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`, gateway: '192.168.1.1', dev: 'eth0' }));
  filler.push(route({ dst: '16.0.0.0/8', dev: 'tailscale0', table: 52 }));
  filler.push(route({ dst: '16.0.3.0/24', table: 52, type: 'throw' }));
  filler.push(route({ dst: '2001:db8::/32', dev: 'tailscale0', table: 52, metric: 1024 }));
  filler.push(route({ dst: '2001:db8:1::/48', dev: 'eth0', metric: 256 }));
  const snapshot = tailscaleSnapshot(filler);
  const queries = [
    { destination: '16.0.3.9' }, { destination: '16.0.4.9' }, { destination: '17.1.1.1' }, { destination: '192.168.1.77' },
    { destination: '100.100.100.100' }, { destination: '198.51.100.1', mark: 0x80000 }, { destination: '198.51.100.1', from: '192.168.1.10' },
    { destination: '2001:db8:1::5' }, { destination: '2001:db8:2::5' }, { destination: '192.168.1.10' },
  ];
  for (const query of queries) {
    const reduced = decide(snapshot, query);
    const full = simulateRoute(snapshot, query);
    assert.deepEqual(reduced.result, full.result, JSON.stringify(query));
    assert.equal(reduced.route, full.route, JSON.stringify(query));
    assert.equal(reduced.rule, full.rule, JSON.stringify(query));
  }
});
