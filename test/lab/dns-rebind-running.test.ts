/**
 * dns.rebind-protection judges the resolvers that run, not every configuration file on disk. A
 * dnsmasq.conf with stop-dns-rebind (which drops the mesh's private answers) sits on disk while a
 * real unbound on 127.0.0.53 serves with split DNS: mesh names resolve, and the check does not
 * blame the idle dnsmasq. Once that dnsmasq runs (a real one on 127.0.0.1), it does drop the
 * answer, and the check fails naming its line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { write } from './dns-fixtures.js';
import { dig, dnsmasq, doctor, LOCAL_RESOLV, localUnbound, MESH_NAME, MESH_V6, skip, UPSTREAM, world } from './dns-world.js';

test('dns.rebind-protection: an idle dnsmasq\'s stop-dns-rebind is not judged while unbound serves; once dnsmasq runs, it is', { skip, timeout: 120_000 }, async (t) => {
  const s = await world(t);
  write(s.root, 'etc/resolv.conf', LOCAL_RESOLV);
  write(s.root, 'etc/dnsmasq.conf', `no-resolv\nserver=${UPSTREAM}\nserver=/ts.net/100.100.100.100\nstop-dns-rebind\n`);
  await localUnbound(s, [], ['forward-zone:', '    name: "ts.net."', '    forward-addr: 100.100.100.100', '']);
  assert.deepEqual(await dig(s, MESH_NAME, 'AAAA'), [MESH_V6], 'unbound, the resolver that serves, answers the mesh name');

  const idle = await doctor(s);
  assert.equal(idle.code, 0, JSON.stringify(idle.byId, null, 2));
  const notJudged = idle.byId['dns.rebind-protection'];
  assert.equal(notJudged.status, 'pass', JSON.stringify(notJudged, null, 2));
  assert.deepEqual(notJudged.evidence, ['dnsmasq: configured but not running here (running: unbound), so not judged']);

  // The same file, now served by a real dnsmasq: it drops the mesh's private answer.
  await dnsmasq(s.lab, s.ns, join(s.run, 'dnsmasq-local.pid'), [`--conf-file=${join(s.root, 'etc/dnsmasq.conf')}`, '--listen-address=127.0.0.1']);
  assert.deepEqual(await dig(s, MESH_NAME, 'AAAA', '127.0.0.1'), [], 'the running dnsmasq drops the answer');
  const running = await doctor(s);
  assert.equal(running.code, 1, JSON.stringify(running.byId, null, 2));
  const judged = running.byId['dns.rebind-protection'];
  assert.equal(judged.status, 'fail', JSON.stringify(judged, null, 2));
  assert.ok(judged.evidence.some((line) => /etc\/dnsmasq\.conf:4: stop-dns-rebind, and no rebind-domain-ok=\/ts\.net\//.test(line)), judged.evidence.join('\n'));
});
