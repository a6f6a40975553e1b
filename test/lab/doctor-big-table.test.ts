/**
 * `doctor routes` on a host whose main table holds thousands of plain gateway routes: the live
 * netlink read leaves those undecoded (the checks only see them through route lookups), so its
 * verdicts and evidence must equal those of the `ip -json` read, which decodes every route.
 * One plain route decides a lookup the doctor makes (the way to the LAN's default gateway), so a
 * lookup that forgot the undecoded routes would show up as different evidence.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable, uniqueName } from './harness.js';
import { doctorJson } from './doctor-json.js';

const PLAIN_ROUTES = 6000;

test('doctor routes on a big table: the netlink read (plain gateway routes left raw) equals the ip -json read', { skip: labUnavailable(), timeout: 240_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { host: ns, hostIf: lan } = await lab.linkedPair(
    { label: 'dbig', ifPrefix: 'lan', addresses: ['192.168.9.1/24'] },
    { label: 'dbigp', ifPrefix: 'lanp' },
    { gateway: '192.168.9.2' },
  );
  const tun = uniqueName('tailscale');
  await lab.tun(ns, tun, { addresses: ['100.100.1.2/32'] });
  await lab.ip(ns, 'rule', 'add', 'priority', '5270', 'lookup', '52');
  await lab.ip(ns, 'route', 'add', '100.64.0.5', 'dev', tun, 'table', '52');
  // An advertised subnet in table 52 over half the LAN (not over its gateway, 192.168.9.2).
  await lab.ip(ns, 'route', 'add', '192.168.9.128/25', 'dev', tun, 'table', '52');
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
