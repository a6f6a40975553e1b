/**
 * mesh.nat-mapping against a real STUN server (coturn, RFC 5389/5780, listening on two addresses
 * and an alternate port) behind a real NAT in namespaces: plain masquerade keeps one mapping for
 * every destination and the mesh port; `masquerade fully-random` gives a new random port per
 * destination; a router that drops UDP leaves the STUN requests unanswered. Both ways of
 * measuring: two servers, and one server's OTHER-ADDRESS (RFC 5780 tests II and III).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { Lab, labUnavailable } from './harness.js';

const skip = labUnavailable() ?? (existsSync('/usr/bin/turnserver') ? undefined : 'coturn (turnserver) is not installed');

interface NatLab {
  lab: Lab;
  client: string;
  router: string;
  outside: string;
}

/** client 10.89.0.2 -> router (10.89.0.1 | 198.51.100.1) -> coturn on 198.51.100.10 and .11. */
async function natLab(lab: Lab): Promise<NatLab> {
  const { client, router, server, outside } = await lab.natPath(['sc', 'sr', 'ss'], { client: '10.89.0.2/24', routerInside: '10.89.0.1/24', servers: ['198.51.100.10/24', '198.51.100.11/24'], udpTimeoutSeconds: 2 });

  const dir = lab.tmpdir();
  const log = join(dir, 'turn.log');
  writeFileSync(join(dir, 'turnserver.conf'), [
    'listening-ip=198.51.100.10', 'listening-ip=198.51.100.11', 'listening-port=3478', 'alt-listening-port=3479',
    'stun-only', 'no-tls', 'no-dtls', 'no-cli', 'simple-log', `log-file=${log}`, `pidfile=${join(dir, 'turnserver.pid')}`, '',
  ].join('\n'));
  const coturn = lab.spawn(server, 'turnserver', ['-c', join(dir, 'turnserver.conf')]);
  coturn.stdout?.resume();
  coturn.stderr?.resume();
  // Ready once its UDP sockets are bound (the kernel's socket table, not its log).
  await lab.waitFor(async () => {
    if (coturn.exitCode !== null) throw new Error(`turnserver exited ${coturn.exitCode}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    const sockets = (await lab.exec(server, 'ss', ['-Huln'])).stdout;
    return ['198.51.100.10:3478', '198.51.100.11:3478', '198.51.100.10:3479', '198.51.100.11:3479'].every((address) => sockets.includes(address));
  }, 20_000, 'coturn listening on both addresses and ports');
  return { lab, client, router, outside };
}

async function setNat(nat: NatLab, rule: string): Promise<void> {
  await nat.lab.exec(nat.router, 'nft', ['delete', 'table', 'ip', 'nmnat']);
  const result = await nat.lab.exec(nat.router, 'nft', ['-f', '-'], { input: `table ip nmnat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "${nat.outside}" ${rule}\n }\n}\n` });
  assert.equal(result.code, 0, result.stderr);
}

/** Lets the router's existing UDP mappings expire, so a new NAT rule applies to fresh flows. */
async function forgetMappings(nat: NatLab): Promise<void> {
  await nat.lab.waitFor(async () => !(await nat.lab.exec(nat.router, 'cat', ['/proc/net/nf_conntrack'])).stdout.includes('src=10.89.0.2 '), 30_000, 'the router to forget the client\'s mappings');
}

async function natCheck(nat: NatLab, stun: string[], extra: string[] = []) {
  const run = await doctorJson(nat.lab, nat.client, ['doctor', 'mesh', '--check', 'mesh.nat-mapping', ...stun.flatMap((server) => ['--stun', server]), ...extra]);
  return { code: run.code, check: run.byId['mesh.nat-mapping'] };
}

test('mesh.nat-mapping: masquerade, masquerade fully-random and blocked UDP against coturn', { skip, timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const nat = await natLab(lab);

  await setNat(nat, 'masquerade');
  const plain = await natCheck(nat, ['198.51.100.10', '198.51.100.11:3478']);
  assert.equal(plain.check.status, 'pass', JSON.stringify(plain.check));
  assert.equal(plain.check.summary, 'endpoint-independent mapping to 198.51.100.1:41641, port 41641 preserved');
  assert.equal(plain.code, 0);
  await forgetMappings(nat);
  const plainOne = await natCheck(nat, ['198.51.100.10']);
  assert.equal(plainOne.check.summary, 'endpoint-independent mapping to 198.51.100.1:41641, port 41641 preserved', 'RFC 5780 test II through OTHER-ADDRESS');

  await forgetMappings(nat);
  await setNat(nat, 'masquerade fully-random');
  const random = await natCheck(nat, ['198.51.100.10', '198.51.100.11']);
  assert.equal(random.check.status, 'warn', JSON.stringify(random.check));
  assert.match(random.check.summary, /^the NAT gives a new public port per destination \(hard NAT\), port 41641 not preserved \(public port \d+\)/);
  assert.match(random.check.evidence.join('\n'), /^198\.51\.100\.10:3478 sees 198\.51\.100\.1:\d+$/m);
  assert.equal(random.code, 0);
  assert.equal((await natCheck(nat, ['198.51.100.10', '198.51.100.11'], ['--fail-on', 'warn'])).code, 1);
  await forgetMappings(nat);
  const randomOne = await natCheck(nat, ['198.51.100.10']);
  assert.match(randomOne.check.summary, /^the NAT gives a new mapping per destination address and port \(hard NAT\)/);

  const drop = await lab.exec(nat.router, 'nft', ['-f', '-'], { input: 'table inet nmfw {\n chain dropudp {\n  type filter hook forward priority 0; policy accept;\n  meta l4proto udp counter drop\n }\n}\n' });
  assert.equal(drop.code, 0, drop.stderr);
  const blocked = await natCheck(nat, ['198.51.100.10', '198.51.100.11']);
  assert.equal(blocked.check.status, 'fail', JSON.stringify(blocked.check));
  assert.match(blocked.check.summary, /^no STUN server answered: UDP from this host does not get out/);
  assert.equal(blocked.code, 1);
  assert.match((await lab.exec(nat.router, 'nft', ['list', 'table', 'inet', 'nmfw'])).stdout, /counter packets [1-9]/);
});

test('mesh.nat-mapping: the mesh port held by the mesh daemon is said, and the measurement uses another port', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const nat = await natLab(lab);
  await setNat(nat, 'masquerade');
  // Something holding UDP 41641 in the client namespace, as tailscaled does.
  const holder = lab.spawn(nat.client, process.execPath, ['-e', "require('dgram').createSocket('udp4').bind(41641, () => console.log('bound'))"]);
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  const result = await natCheck(nat, ['198.51.100.10', '198.51.100.11']);
  assert.equal(result.check.status, 'pass', JSON.stringify(result.check));
  assert.match(result.check.summary, /^endpoint-independent mapping to 198\.51\.100\.1:(\d+), port \1 preserved \(the mesh port 41641 is held by the mesh daemon\)$/);
});
