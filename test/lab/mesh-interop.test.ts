/**
 * netmend's mesh node against the reference peer, wireguard-go, in two namespaces over veth:
 * both directions of initiation, `wg show` against the netmend node, iperf3, roaming, a wrong
 * key, a replayed packet and a three-node mesh.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { Lab, labUnavailable, netmendBin, uniqueName } from './harness.js';
import { b64, newNode, ping, pingUntilReply, startNode, twoHosts, waitFor, wgDump, wireguardGoMissing } from './mesh-interop-lab.js';
import { generatePrivateKey, publicKeyOf } from '../../src/mesh/keys.js';

const skip = labUnavailable() ?? wireguardGoMissing();
const opts = { skip, timeout: 180_000 };

test('netmend initiates to wireguard-go: ping, `wg show` against netmend, status without private keys, clean shutdown', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51001);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51002);
  await startNode(lab, theirs, [{ node: mine }]);
  await startNode(lab, mine, [{ node: theirs, endpoint: '10.231.0.2:51002' }]);

  const result = await ping(lab, nsA, '10.232.0.2', 5);
  assert.ok(result.ok, `${result.output}\n${mine.log.join('')}`);
  assert.match(result.output, /5 received|[1-5] received/);

  // Debian's wg reads the netmend node's UAPI socket unchanged.
  const show = await lab.exec(nsA, 'wg', ['show', mine.iface]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`peer: ${b64(theirs.publicKey).replace(/[+/]/g, '\\$&')}`));
  assert.match(show.stdout, /endpoint: 10\.231\.0\.2:51002/);
  assert.match(show.stdout, /latest handshake: (Now|\d+ seconds? ago)/);
  assert.match(show.stdout, /transfer: 732 B received, 788 B sent/, 'byte counts as the kernel counts them: 92 + 5x128 in, 148 + 5x128 out');
  assert.match(show.stdout, /allowed ips: 10\.232\.0\.2\/32/);
  const [peer] = await wgDump(lab, nsA, mine.iface);
  assert.ok(peer.rx > 92 && peer.tx > 148, JSON.stringify(peer));
  // wireguard-go sees the same traffic the other way round.
  const [back] = await wgDump(lab, nsB, theirs.iface);
  assert.ok(back.latestHandshake > 0, JSON.stringify(back));
  assert.equal(back.endpoint, '10.231.0.1:51001');

  const showconf = await lab.exec(nsA, 'wg', ['showconf', mine.iface]);
  assert.match(showconf.stdout, new RegExp(`PrivateKey = ${b64(mine.privateKey).replace(/[+/]/g, '\\$&')}`), 'showconf returns the config through UAPI, as for any WireGuard interface');

  const status = await lab.netmend(nsA, ['node', 'status', mine.iface, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const parsed = JSON.parse(status.stdout);
  assert.equal(parsed.publicKey, b64(mine.publicKey));
  assert.equal(parsed.peers[0].publicKey, b64(theirs.publicKey));
  assert.equal(parsed.peers[0].endpoint, '10.231.0.2:51002');
  assert.ok(parsed.peers[0].latestHandshake);
  assert.ok(parsed.peers[0].rxBytes > 0);
  const text = await lab.netmend(nsA, ['node', 'status', mine.iface]);
  for (const output of [status.stdout, text.stdout, mine.log.join('')]) {
    assert.ok(!output.includes(b64(mine.privateKey)) && !output.includes(mine.privateKey.toString('hex')), 'private key leaked');
  }
  assert.match(text.stdout, /latest handshake: \d+ seconds? ago/);

  // `wg set` works too: a persistent keepalive appears in the dump.
  const set = await lab.exec(nsA, 'wg', ['set', mine.iface, 'peer', b64(theirs.publicKey), 'persistent-keepalive', '25']);
  assert.equal(set.code, 0, set.stderr);
  assert.match((await lab.exec(nsA, 'wg', ['show', mine.iface, 'persistent-keepalive'])).stdout, /\t25\n/);

  // node down: the interface, its routes and the socket disappear.
  const down = await lab.netmend(nsA, ['node', 'down', mine.iface], { env: { NETMEND_RUN_DIR: mine.runDir! } });
  assert.equal(down.code, 0, down.stderr + mine.log.join(''));
  await waitFor(() => mine.process!.exitCode !== null, 10_000, 'node exit');
  assert.equal(mine.process!.exitCode, 0);
  assert.equal(existsSync(`/var/run/wireguard/${mine.iface}.sock`), false);
  const links = await lab.exec(nsA, 'ip', ['link', 'show', mine.iface]);
  assert.notEqual(links.code, 0, 'interface removed');
  assert.doesNotMatch(await lab.ip(nsA, 'route', 'show'), /10\.232\.0\./);
});

test('wireguard-go initiates to netmend (netmend learns the endpoint from the handshake)', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51011);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51012);
  await startNode(lab, mine, [{ node: theirs }]);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:51011' }]);
  const result = await ping(lab, nsB, '10.232.0.1', 5);
  assert.ok(result.ok, `${result.output}\n${mine.log.join('')}`);
  const [peer] = await wgDump(lab, nsA, mine.iface);
  assert.equal(peer.endpoint, '10.231.0.2:51012');
  assert.ok(peer.latestHandshake > 0);
  // and traffic the other way needs no new handshake
  assert.ok((await ping(lab, nsA, '10.232.0.2', 3)).ok);
});
