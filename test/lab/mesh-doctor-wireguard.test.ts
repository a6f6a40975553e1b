/**
 * mesh.wg-handshake against real peers in namespaces: the netmend node and wireguard-go, a port
 * blocked by a real nftables drop (then opened), a wrong public key, and a client behind a real
 * masquerading router without a persistent keepalive, where the server can no longer reach the
 * client once the router forgot the mapping (and can with the keepalive the doctor asks for).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, publicKeyOf } from '../../src/mesh/keys.js';
import { doctorJson } from './doctor-json.js';
import { Lab, labUnavailable, pathWithoutMeshTools, uniqueName } from './harness.js';
import { b64, newNode, ping, pingUntilReply, startNode, twoHosts, waitFor, wgDump, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

async function handshakeCheck(lab: Lab, ns: string) {
  const run = await doctorJson(lab, ns, ['doctor', 'mesh', '--check', 'mesh.wg-handshake']);
  return { code: run.code, check: run.byId['mesh.wg-handshake'] };
}

/** Sends one ping into the tunnel (it queues data, so the initiator keeps trying) and waits until the peer's tx counter shows handshake attempts. */
async function sendUntilCounted(lab: Lab, ns: string, iface: string, address: string): Promise<void> {
  await waitFor(async () => {
    await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', address], { timeoutMs: 5000 });
    return (await wgDump(lab, ns, iface)).some((peer) => peer.tx > 0);
  }, 30_000, `${iface} to send handshake initiations`);
}

test('mesh.wg-handshake: the netmend node behind a blocked port fails, and passes once the port is open', { skip, timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const port = 42100 + (process.pid % 500) * 2;
  const mine = newNode('netmend', nsA, '10.232.0.1', port);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', port + 1);
  await startNode(lab, theirs, [{ node: mine }]);
  const table = uniqueName('nmblk');
  await lab.exec(nsB, 'nft', ['-f', '-'], { input: `table inet ${table} {\n chain input {\n  type filter hook input priority 0; policy accept;\n  udp dport ${port + 1} counter drop\n }\n}\n` });
  await startNode(lab, mine, [{ node: theirs, endpoint: `10.231.0.2:${port + 1}` }]);

  await sendUntilCounted(lab, nsA, mine.iface, '10.232.0.2');
  const blocked = await handshakeCheck(lab, nsA);
  assert.equal(blocked.check.status, 'fail', JSON.stringify(blocked.check));
  assert.match(blocked.check.summary, new RegExp(`${mine.iface} peer .* \\(endpoint 10\\.231\\.0\\.2:${port + 1}\\): no handshake ever, \\d+ bytes sent, 0 received`));
  assert.ok(blocked.check.evidence.includes('source: wg show IFACE dump'), blocked.check.evidence.join('\n'));
  assert.equal(blocked.code, 1);
  // The kernel's own count of what the firewall dropped: the doctor's finding is real.
  const counted = await lab.exec(nsB, 'nft', ['list', 'table', 'inet', table]);
  assert.match(counted.stdout, /counter packets [1-9]/);

  await lab.exec(nsB, 'nft', ['delete', 'table', 'inet', table]);
  assert.ok(await pingUntilReply(lab, nsA, '10.232.0.2', 30_000), 'tunnel up once the port is open');
  const open = await handshakeCheck(lab, nsA);
  assert.equal(open.check.status, 'pass', JSON.stringify(open.check));
  assert.equal(open.code, 0);
});

test('mesh.wg-handshake: a stopped userspace daemon (its socket accepts, never answers) hides no other tunnel, and is named where it is a link', { skip, timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const port = 44100 + (process.pid % 500) * 2;
  const mine = newNode('netmend', nsA, '10.232.0.1', port);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', port + 1);
  await startNode(lab, theirs, [{ node: mine }]);
  await startNode(lab, mine, [{ node: theirs, endpoint: `10.231.0.2:${port + 1}` }]);
  assert.ok(await pingUntilReply(lab, nsA, '10.232.0.2', 30_000), 'tunnel up');
  // The UAPI sockets of every namespace share /var/run/wireguard: wireguard-go stopped in B still
  // accepts connections on its socket but answers none.
  const stopped = theirs.process!.pid!;
  process.kill(stopped, 'SIGSTOP');
  try {
    const here = await handshakeCheck(lab, nsA);
    assert.equal(here.check.status, 'pass', `A's own tunnel is judged: ${JSON.stringify(here.check)}`);
    assert.equal(here.code, 0);
    const there = await handshakeCheck(lab, nsB);
    assert.equal(there.check.status, 'warn', JSON.stringify(there.check));
    assert.ok(there.check.evidence.some((line) => line.includes(`Unable to access interface ${theirs.iface}`) && /stopped or wedged/.test(line)), there.check.evidence.join('\n'));
    // Without wg(8), the UAPI socket read directly: the same answer, not a wait without end.
    const direct = await doctorJson(lab, nsB, ['doctor', 'mesh', '--check', 'mesh.wg-handshake'], { PATH: pathWithoutMeshTools(t) });
    assert.equal(direct.byId['mesh.wg-handshake'].status, 'warn', JSON.stringify(direct.byId['mesh.wg-handshake']));
    assert.ok(direct.byId['mesh.wg-handshake'].evidence.some((line) => /did not answer within 5 s/.test(line)), direct.byId['mesh.wg-handshake'].evidence.join('\n'));
  } finally {
    process.kill(stopped, 'SIGCONT');
  }
});

test('mesh.wg-handshake: a wrong public key for the peer fails with the key configured here', { skip, timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const port = 43100 + (process.pid % 500) * 2;
  const mine = newNode('wireguard-go', nsA, '10.232.0.1', port);
  const theirs = newNode('netmend', nsB, '10.232.0.2', port + 1);
  const wrongKey = publicKeyOf(generatePrivateKey());
  await startNode(lab, theirs, [{ node: mine }]);
  await startNode(lab, mine, [{ node: theirs, publicKey: wrongKey, endpoint: `10.231.0.2:${port + 1}` }]);

  await sendUntilCounted(lab, nsA, mine.iface, '10.232.0.2');
  const result = await handshakeCheck(lab, nsA);
  assert.equal(result.check.status, 'fail', JSON.stringify(result.check));
  assert.match(result.check.summary, /no handshake ever/);
  assert.ok(result.check.evidence.some((line) => line.includes(`the peer's public key here is ${b64(wrongKey)}`)), result.check.evidence.join('\n'));
  assert.match(result.check.fix!.explanation, new RegExp(`must print public key ${b64(wrongKey).replace(/[+/]/g, '\\$&')}`));
});

test('mesh.wg-handshake: behind a real masquerading router, no keepalive warns; the server then cannot reach the client until a keepalive is set', { skip, timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  // A NAT that forgets idle UDP mappings quickly, so the test stays short.
  const { client, clientIf, router, server, outside } = await lab.natPath(['wc', 'wr', 'ws'], { client: '10.88.0.2/24', routerInside: '10.88.0.1/24', servers: ['198.51.100.2/24'], udpTimeoutSeconds: 3 });
  const nat = await lab.exec(router, 'nft', ['-f', '-'], { input: `table ip nmnat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "${outside}" masquerade\n }\n}\n` });
  assert.equal(nat.code, 0, nat.stderr);

  const port = 44100 + (process.pid % 500) * 2;
  const roaming = newNode('wireguard-go', client, '10.232.0.2', port);
  const hub = newNode('wireguard-go', server, '10.232.0.1', port + 1);
  await startNode(lab, hub, [{ node: roaming }]);
  await startNode(lab, roaming, [{ node: hub, endpoint: `198.51.100.2:${port + 1}` }]);
  assert.ok(await pingUntilReply(lab, client, '10.232.0.1'), 'client reaches the server through the NAT');

  const warned = await handshakeCheck(lab, client);
  assert.equal(warned.check.status, 'warn', JSON.stringify(warned.check));
  assert.match(warned.check.summary, /no persistent keepalive/);
  assert.ok(warned.check.evidence.some((line) => line.includes(`this host reaches 198.51.100.2 from private 10.88.0.2 via 10.88.0.1 dev ${clientIf}: a NAT rewrites it`)), warned.check.evidence.join('\n'));
  assert.equal(warned.check.fix?.command, `wg set ${roaming.iface} peer ${b64(hub.publicKey)} persistent-keepalive 25`);

  // The behaviour the warning is about: once the router's mapping expired, the server's packets to the client die at the router.
  await waitFor(async () => !(await routerHasMapping(lab, router, port + 1)), 30_000, 'the router to forget the idle mapping');
  assert.equal((await ping(lab, server, '10.232.0.2', 1, 3)).ok, false, 'the server cannot reach the client without a keepalive');

  // With the keepalive the doctor suggests (short here to keep the test quick), the mapping stays.
  const set = await lab.exec(client, 'wg', ['set', roaming.iface, 'peer', b64(hub.publicKey), 'persistent-keepalive', '1']);
  assert.equal(set.code, 0, set.stderr);
  await waitFor(() => routerHasMapping(lab, router, port + 1), 30_000, 'the keepalive to recreate the mapping');
  assert.ok(await pingUntilReply(lab, server, '10.232.0.2', 20_000), 'the server reaches the client with the keepalive');
  const kept = await handshakeCheck(lab, client);
  assert.equal(kept.check.status, 'pass', JSON.stringify(kept.check));
});

/** Whether the router's conntrack table holds the client's UDP mapping toward the server's port (original direction from the client). */
async function routerHasMapping(lab: Lab, router: string, serverPort: number): Promise<boolean> {
  const table = await lab.exec(router, 'cat', ['/proc/net/nf_conntrack']);
  return table.stdout.split('\n').some((line) => / udp /.test(line) && new RegExp(`src=10\\.88\\.0\\.2 dst=198\\.51\\.100\\.2 sport=\\d+ dport=${serverPort} `).test(line));
}
