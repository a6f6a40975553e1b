/**
 * A real unbound whose split DNS lives in files unbound.conf includes, as Debian's layout and
 * hand-made ones do: `private-domain` in a file included inside the server: clause (`include:`),
 * the forward-zone in a file an `include-toplevel:` glob names. unbound answers the mesh name;
 * doctor dns, reading the same includes, agrees (no finding), and fix dns has nothing to add (a
 * second forward-zone of the same name would stop unbound). With the zone's file gone, unbound
 * no longer answers the mesh name and doctor reports it.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { write } from './dns-fixtures.js';
import { dig, doctor, fixArgs, LOCAL_RESOLV, localUnbound, MESH_NAME, MESH_V4, skip, world } from './dns-world.js';

test('unbound: split DNS in included files is read as unbound reads it; without the zone, doctor reports it', { skip, timeout: 120_000 }, async (t) => {
  const s = await world(t);
  write(s.root, 'etc/resolv.conf', LOCAL_RESOLV);
  write(s.root, 'etc/unbound/mesh-server.inc', '    private-domain: "ts.net"\n    domain-insecure: "ts.net"\n');
  write(s.root, 'etc/unbound/zones.d/ts-net.conf', 'forward-zone:\n    name: "ts.net."\n    forward-addr: 100.100.100.100\n');
  // private-address in unbound.conf itself: only the included private-domain lets the mesh answer through.
  await localUnbound(s, ['private-address: 100.64.0.0/10', `include: "${join(s.root, 'etc/unbound/mesh-server.inc')}"`], [`include-toplevel: "${join(s.root, 'etc/unbound/zones.d')}/*.conf"`, '']);
  assert.deepEqual(await dig(s, MESH_NAME, 'A'), [MESH_V4], 'unbound answers the mesh name as its included files configure');

  const healthy = await doctor(s);
  assert.equal(healthy.code, 0, JSON.stringify(healthy.byId, null, 2));
  for (const id of ['dns.split-domain', 'dns.rebind-protection', 'dns.resolver-config']) assert.equal(healthy.byId[id].status, 'pass', `${id}: ${healthy.byId[id].summary}`);
  assert.match(healthy.byId['dns.resolver-config'].summary, /unbound: 3 files/);
  const plan = await s.lab.netmend(s.ns, fixArgs(s, '--via', 'unbound'));
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /nothing to do: the fix is already in place/, plan.stdout);
  assert.doesNotMatch(plan.stdout, /forward-zone/);

  // The zone's file removed, unbound reloaded (SIGHUP): the mesh name is no longer answered.
  rmSync(join(s.root, 'etc/unbound/zones.d/ts-net.conf'));
  process.kill(Number(readFileSync(s.localPidFile, 'utf8').trim()), 'SIGHUP');
  await s.lab.waitFor(async () => (await dig(s, MESH_NAME, 'A')).length === 0, 15_000, 'unbound reloaded without the zone');
  const broken = await doctor(s);
  assert.equal(broken.code, 1, JSON.stringify(broken.byId, null, 2));
  assert.equal(broken.byId['dns.split-domain'].status, 'fail', broken.byId['dns.split-domain'].summary);
  assert.match(broken.byId['dns.split-domain'].summary, new RegExp(`${MESH_NAME.replace(/\./g, '\\.')} does not resolve through the system resolver 127\\.0\\.0\\.53`));
  const fix = await s.lab.netmend(s.ns, fixArgs(s, '--via', 'unbound'));
  assert.match(fix.stdout, /\+forward-zone:/, 'fix dns adds the missing zone');
});
