/**
 * `doctor routes` on a host whose main table holds thousands of plain gateway routes: the live
 * netlink read leaves those undecoded (the checks only see them through route lookups), so its
 * verdicts and evidence must equal those of the `ip -json` read, which decodes every route.
 * One plain route decides a lookup the doctor makes (the way to the LAN's default gateway), so a
 * lookup that forgot the undecoded routes would show up as different evidence.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { Lab, labUnavailable, uniqueName } from './harness.js';

const PLAIN_ROUTES = 6000;

/**
 * A router namespace: a LAN veth (192.168.9.1/24, default route via 192.168.9.2), a tailscale-like
 * TUN holding 100.100.1.2/32 with a peer route (100.64.0.5) and a subnet over half the LAN
 * (192.168.9.128/25) in table 52.
 */
async function meshRouter(lab: Lab, name: string): Promise<{ ns: string; lan: string; tun: string }> {
  const { host: ns, hostIf: lan } = await lab.linkedPair(
    { label: name, ifPrefix: 'lan', addresses: ['192.168.9.1/24'] },
    { label: `${name}p`, ifPrefix: 'lanp' },
    { gateway: '192.168.9.2' },
  );
  const tun = uniqueName('tailscale');
  await lab.tun(ns, tun, { addresses: ['100.100.1.2/32'] });
  await lab.ip(ns, 'route', 'add', '100.64.0.5', 'dev', tun, 'table', '52');
  // An advertised subnet in table 52 over half the LAN (not over its gateway, 192.168.9.2).
  await lab.ip(ns, 'route', 'add', '192.168.9.128/25', 'dev', tun, 'table', '52');
  return { ns, lan, tun };
}

test('doctor routes on a big table: the netlink read (plain gateway routes left raw) equals the ip -json read', { skip: labUnavailable(), timeout: 240_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns, lan } = await meshRouter(lab, 'dbig');
  await lab.ip(ns, 'rule', 'add', 'priority', '5270', 'lookup', '52');
  const lines: string[] = [];
  for (let i = 0; i < PLAIN_ROUTES; i++) lines.push(`route add 10.${i >>> 8}.${i & 255}.0/24 via 192.168.9.2 dev ${lan}`);
  // The plain route that decides how the default gateway itself is reached.
  lines.push(`route add 192.168.9.2/32 via 192.168.9.3 dev ${lan}`);
  lines.push(`route add 100.64.0.0/10 via 192.168.9.3 dev ${lan}`);
  await lab.batch(ns, lines);

  const live = await doctorJson(lab, ns, ['doctor', 'routes', '--source', 'netlink'], {}, 120_000);
  const json = await doctorJson(lab, ns, ['doctor', 'routes', '--source', 'ip-json'], {}, 120_000);
  assert.equal(live.code, json.code);
  assert.deepEqual(live.document, json.document);
  assert.ok(live.document.checks.some((check) => check.status === 'fail'), JSON.stringify(live.document.checks.map((check) => check.status)));

  // The same lookups through route explain, which reads only the routes containing the address.
  const explain = await lab.netmend(ns, ['route', 'explain', '192.168.9.2', '--json']);
  assert.equal(explain.code, 0, explain.stderr);
  const decision = JSON.parse(explain.stdout);
  assert.equal(decision.result.gateway, '192.168.9.3');
  assert.equal(decision.route.dst, '192.168.9.2/32');
  const throughBigTable = JSON.parse((await lab.netmend(ns, ['route', 'explain', '10.20.100.7', '--json'])).stdout);
  assert.equal(throughBigTable.route.dst, '10.20.100.0/24');
  assert.equal(throughBigTable.result.gateway, '192.168.9.2');
});

test('doctor routes on big non-main tables (a routing daemon\'s feed, mwan3-style copies): the netlink read equals the ip -json read', { skip: labUnavailable(), timeout: 240_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns, lan, tun } = await meshRouter(lab, 'dbnm');
  await lab.ip(ns, '-6', 'addr', 'add', '2001:db8:9::1/64', 'dev', lan, 'nodad');
  await lab.tailscaleRules(ns);
  await lab.ip(ns, '-6', 'route', 'add', 'fd7a:115c:a1e0::/48', 'dev', tun, 'table', '52');

  const lines: string[] = [];
  // Table 100, looked up ahead of tailscaled's rules (as a BGP daemon's feed or a VPN provider's
  // table is): thousands of plain gateway routes, IPv4 and IPv6. Two of them capture the mesh
  // peers' ranges, so the doctor's lookups of mesh samples are decided by undecoded routes.
  for (let i = 0; i < PLAIN_ROUTES; i++) lines.push(`route add 10.${i >>> 8}.${i & 255}.0/24 via 192.168.9.2 dev ${lan} table 100`);
  for (let i = 0; i < 1000; i++) lines.push(`route add 2001:db8:100:${i.toString(16)}::/64 via 2001:db8:9::2 dev ${lan} table 100`);
  lines.push(`route add 100.64.0.0/10 via 192.168.9.3 dev ${lan} table 100`);
  lines.push(`route add fd7a:115c:a1e0::/48 via 2001:db8:9::3 dev ${lan} table 100`);
  lines.push('rule add pref 100 lookup 100');
  // mwan3's copies of main, one table per uplink, reached by its fwmark rules.
  for (const table of [1, 2]) {
    for (let i = 0; i < PLAIN_ROUTES / 2; i++) lines.push(`route add 10.${i >>> 8}.${i & 255}.0/24 via 192.168.9.${table + 3} dev ${lan} table ${table}`);
    lines.push(`route add default via 192.168.9.${table + 3} dev ${lan} table ${table}`);
    lines.push(`rule add pref ${2000 + table} fwmark ${table << 8}/0x3f00 lookup ${table}`);
  }
  // A mesh table no rule looks up, holding plain gateway routes beside its mesh route: the doctor
  // counts every route of a mesh table, so none of them may be left undecoded.
  lines.push(`route add 100.64.0.7 dev ${tun} table 53`);
  lines.push(`route add 172.16.0.0/16 via 192.168.9.2 dev ${lan} table 53`);
  lines.push(`route add 172.17.0.0/16 via 192.168.9.2 dev ${lan} table 53`);
  await lab.batch(ns, lines);
  await lab.ip(ns, '-6', 'rule', 'add', 'pref', '100', 'lookup', '100');

  const live = await doctorJson(lab, ns, ['doctor', 'routes', '--source', 'netlink'], {}, 120_000);
  const json = await doctorJson(lab, ns, ['doctor', 'routes', '--source', 'ip-json'], {}, 120_000);
  assert.equal(live.code, json.code);
  assert.deepEqual(live.document, json.document);

  // The scenario reaches what it is meant to: lookups decided by the undecoded routes of table
  // 100 (IPv4 and IPv6), and the whole of mesh table 53 counted.
  const ruleOrder = live.document.checks.find((check) => check.id === 'routes.rule-order');
  assert.ok(ruleOrder);
  assert.equal(ruleOrder.status, 'fail', JSON.stringify(ruleOrder));
  const evidence = ruleOrder.evidence.join('\n');
  assert.match(evidence, /route: 100\.64\.0\.0\/10 via 192\.168\.9\.3 dev \S+ table 100/);
  assert.match(evidence, /route: fd7a:115c:a1e0::\/48 via 2001:db8:9::3 dev \S+ table 100/);
  assert.match(evidence, /IPv4 table 53 holds 3 routes but no `ip rule` looks it up/);
});
