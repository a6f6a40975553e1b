/**
 * netmend's mesh node against the reference peer, wireguard-go, in two namespaces over veth:
 * both directions of initiation, `wg show` against the netmend node, iperf3, roaming, a wrong
 * key, a replayed packet and a three-node mesh.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { Lab, labUnavailable, netmendBin, uniqueName } from './harness.js';
import { b64, iperf3, netmendInitiatesToWireguardGo, newNode, ping, pingUntilReply, startNode, twoHosts, waitFor, wgDump, wireguardGoMissing } from './mesh-interop-lab.js';
import { generatePresharedKey, generatePrivateKey, publicKeyOf } from '../../src/mesh/keys.js';

const skip = labUnavailable() ?? wireguardGoMissing();
const opts = { skip, timeout: 180_000 };

test('netmend initiates to wireguard-go: ping, `wg show` against netmend, status without private keys, clean shutdown', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const { mine, theirs } = await netmendInitiatesToWireguardGo(lab, nsA, nsB, 51001);

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

test('wireguard-go initiates to netmend with a preshared key (netmend learns the endpoint from the handshake)', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51011);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51012);
  const presharedKey = generatePresharedKey();
  await startNode(lab, mine, [{ node: theirs, presharedKey }]);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:51011', presharedKey }]);
  const result = await ping(lab, nsB, '10.232.0.1', 5);
  assert.ok(result.ok, `${result.output}\n${mine.log.join('')}`);
  const [peer] = await wgDump(lab, nsA, mine.iface);
  assert.equal(peer.endpoint, '10.231.0.2:51012');
  assert.ok(peer.latestHandshake > 0);
  // and traffic the other way needs no new handshake
  assert.ok((await ping(lab, nsA, '10.232.0.2', 3)).ok);
  assert.match((await lab.exec(nsA, 'wg', ['show', mine.iface])).stdout, /preshared key: \(hidden\)/);
});

test('mismatched preshared keys: no session', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51013);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51014);
  await startNode(lab, mine, [{ node: theirs, presharedKey: generatePresharedKey() }]);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:51013', presharedKey: generatePresharedKey() }]);
  assert.equal((await ping(lab, nsB, '10.232.0.1', 2, 3)).ok, false);
  assert.equal((await wgDump(lab, nsB, theirs.iface))[0].latestHandshake, 0);
});

test('a 10 s iperf3 TCP run through netmend <-> wireguard-go', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const { mine, theirs } = await netmendInitiatesToWireguardGo(lab, nsA, nsB, 51021);
  assert.ok(await pingUntilReply(lab, nsA, '10.232.0.2'), mine.log.join(''));
  const report = await iperf3(lab, nsB, nsA, '10.232.0.2', 10);
  const mbps = report.sum_received.bits_per_second / 1e6;
  t.diagnostic(`netmend -> wireguard-go: ${mbps.toFixed(1)} Mbit/s received, ${report.sum_sent.retransmits} retransmits`);
  // Throughput figures belong to bench/mesh.ts: here 10 s of TCP must simply get through intact.
  assert.ok(report.sum_received.bytes > 1e6, `only ${report.sum_received.bytes} bytes received in 10 s`);
});

test('endpoint roaming: each side moves to a new address and the other follows', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB, vethA, vethB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51031);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51032);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:51031' }]);
  await startNode(lab, mine, [{ node: theirs, endpoint: '10.231.0.2:51032' }]);
  assert.ok(await pingUntilReply(lab, nsA, '10.232.0.2'));
  // Keep the /24 route when the first address goes (else its removal takes the new one along).
  await lab.exec(nsA, 'sysctl', ['-qw', `net.ipv4.conf.${vethA}.promote_secondaries=1`]);
  await lab.exec(nsB, 'sysctl', ['-qw', `net.ipv4.conf.${vethB}.promote_secondaries=1`]);

  // wireguard-go's host moves to .5: netmend must follow the authenticated source.
  await lab.ip(nsB, 'addr', 'add', '10.231.0.5/24', 'dev', vethB);
  await lab.ip(nsB, 'addr', 'del', '10.231.0.2/24', 'dev', vethB);
  // wireguard-go keeps sending from its cached (now gone) source until its 15 s no-reply timer
  // clears it, so this direction takes a new handshake from the new address.
  assert.ok(await pingUntilReply(lab, nsB, '10.232.0.1', 60_000), mine.log.join(''));
  assert.equal((await wgDump(lab, nsA, mine.iface))[0].endpoint, '10.231.0.5:51032');
  assert.ok((await ping(lab, nsA, '10.232.0.2', 3)).ok, 'netmend answers at the new address');

  // netmend's host moves to .3: wireguard-go follows.
  await lab.ip(nsA, 'addr', 'add', '10.231.0.3/24', 'dev', vethA);
  await lab.ip(nsA, 'addr', 'del', '10.231.0.1/24', 'dev', vethA);
  assert.ok((await ping(lab, nsA, '10.232.0.2', 3)).ok, mine.log.join(''));
  assert.equal((await wgDump(lab, nsB, theirs.iface))[0].endpoint, '10.231.0.3:51031');
});

test('a peer with the wrong key gets no session', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51041);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51042);
  const wrong = publicKeyOf(generatePrivateKey());
  // wireguard-go knows netmend's real key; netmend expects someone else at that address.
  await startNode(lab, mine, [{ node: theirs, publicKey: wrong, endpoint: '10.231.0.2:51042' }]);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:51041' }]);
  const fromThem = await ping(lab, nsB, '10.232.0.1', 2, 3);
  const fromUs = await ping(lab, nsA, '10.232.0.2', 2, 3);
  assert.equal(fromThem.ok, false);
  assert.equal(fromUs.ok, false);
  const [ours] = await wgDump(lab, nsA, mine.iface);
  const [their] = await wgDump(lab, nsB, theirs.iface);
  assert.equal(ours.latestHandshake, 0);
  assert.equal(their.latestHandshake, 0);
  assert.equal(ours.rx, 0, 'nothing from the stranger was accepted');
  assert.match(mine.log.join(''), /unknown peer|does not authenticate|dropped/);
});

test('a replayed captured data packet is dropped', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51051);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51052);
  // A relay in front of netmend records what wireguard-go sends and can send it again.
  const relaySource = `
    const dgram = require('node:dgram');
    const outside = dgram.createSocket('udp4'); const inside = dgram.createSocket('udp4');
    let from; let last;
    outside.on('message', (m, r) => { from = r; if (m[0] === 4 && m.length > 32) last = Buffer.from(m); inside.send(m, 51051, '127.0.0.1'); });
    inside.on('message', (m) => { if (from) outside.send(m, from.port, from.address); });
    outside.bind(52000, '10.231.0.1', () => inside.bind(0, '127.0.0.1', () => console.log('ready')));
    process.stdin.on('data', () => { if (!last) return console.log('nothing captured'); for (let i = 0; i < 5; i++) inside.send(last, 51051, '127.0.0.1'); console.log('replayed ' + last.length); });`;
  const relay = lab.spawn(nsA, process.execPath, ['-e', relaySource]);
  let relayOut = '';
  relay.stdout?.on('data', (chunk) => { relayOut += String(chunk); });
  await waitFor(() => relayOut.includes('ready'), 10_000, 'relay');
  await startNode(lab, mine, [{ node: theirs }]);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:52000' }]);
  assert.ok((await ping(lab, nsB, '10.232.0.1', 3)).ok, mine.log.join(''));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = (await wgDump(lab, nsA, mine.iface))[0];
  relay.stdin!.write('replay\n');
  await waitFor(() => relayOut.includes('replayed'), 5000, 'replay');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = (await wgDump(lab, nsA, mine.iface))[0];
  assert.equal(after.rx, before.rx, 'replayed packets were not accepted');
  assert.equal(after.tx, before.tx, 'replayed echo requests were not answered');
  assert.ok((await ping(lab, nsB, '10.232.0.1', 2)).ok, 'the session still works');
});

test('three-node mesh (netmend, netmend, wireguard-go): every pair pings', opts, async (t) => {
  const lab = Lab.forTest(t);
  const nsA = await lab.netns('a');
  const nsB = await lab.netns('b');
  const nsC = await lab.netns('c');
  const links: Array<[string, string, string, string, string]> = [[nsA, nsB, '10.231.0', '1', '2'], [nsA, nsC, '10.234.0', '1', '3'], [nsB, nsC, '10.235.0', '2', '3']];
  for (const [left, right, net, l, r] of links) {
    const ifLeft = uniqueName('nmv');
    const ifRight = uniqueName('nmv');
    await lab.veth(left, ifLeft, right, ifRight);
    await lab.ip(left, 'addr', 'add', `${net}.${l}/24`, 'dev', ifLeft);
    await lab.ip(right, 'addr', 'add', `${net}.${r}/24`, 'dev', ifRight);
  }
  const a = newNode('netmend', nsA, '10.232.0.1', 51061);
  const b = newNode('wireguard-go', nsB, '10.232.0.2', 51062);
  const c = newNode('netmend', nsC, '10.232.0.3', 51063);
  await startNode(lab, b, [{ node: a, endpoint: '10.231.0.1:51061' }, { node: c, endpoint: '10.235.0.3:51063' }]);
  await startNode(lab, a, [{ node: b, endpoint: '10.231.0.2:51062' }, { node: c, endpoint: '10.234.0.3:51063' }]);
  await startNode(lab, c, [{ node: a, endpoint: '10.234.0.1:51061' }, { node: b, endpoint: '10.235.0.2:51062' }]);
  const nodes = [a, b, c];
  for (const from of nodes) {
    for (const to of nodes) {
      if (from === to) continue;
      assert.ok(await pingUntilReply(lab, from.ns, to.address), `${from.kind} ${from.address} -> ${to.kind} ${to.address}\n${a.log.join('')}\n${c.log.join('')}`);
    }
  }
  for (const node of [a, c]) {
    const dump = await wgDump(lab, node.ns, node.iface);
    assert.equal(dump.length, 2);
    assert.ok(dump.every((peer) => peer.latestHandshake > 0), JSON.stringify(dump));
  }
});

test('IPv6 underlay and IPv6 tunnel addresses, both directions', opts, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB, vethA, vethB } = await twoHosts(lab);
  await lab.ip(nsA, 'addr', 'add', 'fd31::1/64', 'nodad', 'dev', vethA);
  await lab.ip(nsB, 'addr', 'add', 'fd31::2/64', 'nodad', 'dev', vethB);
  const mine = newNode('netmend', nsA, 'fd32::1', 51101);
  const theirs = newNode('wireguard-go', nsB, 'fd32::2', 51102);
  await startNode(lab, theirs, [{ node: mine }]);
  await startNode(lab, mine, [{ node: theirs, endpoint: '[fd31::2]:51102' }]);
  assert.ok(await pingUntilReply(lab, nsA, 'fd32::2'), mine.log.join(''));
  assert.ok((await ping(lab, nsB, 'fd32::1', 3)).ok);
  assert.equal((await wgDump(lab, nsB, theirs.iface))[0].endpoint, '[fd31::1]:51101');
  assert.equal((await wgDump(lab, nsA, mine.iface))[0].endpoint, '[fd31::2]:51102');
});
