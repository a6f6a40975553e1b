import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatStatus, readStatus } from '../../src/mesh/status.js';
import { UapiServer } from '../../src/mesh/uapi.js';
import { test } from 'node:test';
import { Device } from '../../src/mesh/device.js';
import { parsePrefix } from '../../src/mesh/allowed-ips.js';
import { generatePrivateKey, generatePresharedKey, publicKeyOf } from '../../src/mesh/keys.js';
import { Logger } from '../../src/mesh/log.js';
import { PeerTimers, Timer } from '../../src/mesh/timers.js';

function icmpLike(source: string, destination: string, payload = 64): Buffer {
  const packet = Buffer.alloc(20 + payload);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[9] = 1;
  Buffer.from(source.split('.').map(Number)).copy(packet, 12);
  Buffer.from(destination.split('.').map(Number)).copy(packet, 16);
  for (let i = 20; i < packet.length; i++) packet[i] = i & 0xff;
  return packet;
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(predicate: () => boolean, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await wait(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Two devices on loopback UDP with collecting sinks in place of TUNs. */
async function pair(t: import('node:test').TestContext, options: { psk?: boolean; wrongKey?: boolean } = {}) {
  const keyA = generatePrivateKey();
  const keyB = generatePrivateKey();
  const received = { a: [] as Buffer[], b: [] as Buffer[] };
  const quiet = new Logger('silent');
  const a = new Device({ name: 'ta', sink: { write: (p) => received.a.push(...p) }, logger: quiet });
  const b = new Device({ name: 'tb', sink: { write: (p) => received.b.push(...p) }, logger: quiet });
  t.after(() => { a.close(); b.close(); });
  a.setPrivateKey(keyA);
  b.setPrivateKey(keyB);
  a.setListenPort(0);
  b.setListenPort(0);
  const peerB = a.addPeer(options.wrongKey ? publicKeyOf(generatePrivateKey()) : publicKeyOf(keyB))!;
  const peerA = b.addPeer(publicKeyOf(keyA))!;
  if (options.psk) {
    const psk = generatePresharedKey();
    a.setPresharedKey(peerB, psk);
    b.setPresharedKey(peerA, psk);
  }
  a.addAllowedIp(peerB, parsePrefix('10.50.0.2/32'));
  b.addAllowedIp(peerA, parsePrefix('10.50.0.1/32'));
  a.setEndpoint(peerB, { address: '127.0.0.1', port: b.port, family: 4 });
  return { a, b, peerA, peerB, received };
}

test('two devices handshake, exchange data both ways and count bytes like the kernel', async (t) => {
  const { a, b, peerA, peerB, received } = await pair(t, { psk: true });
  a.sendPackets([icmpLike('10.50.0.1', '10.50.0.2')]);
  await until(() => received.b.length === 1, 3000, 'first packet at b');
  assert.ok(received.b[0].equals(icmpLike('10.50.0.1', '10.50.0.2')));
  // b learned a's endpoint from the handshake and answers without configuration.
  b.sendPackets([icmpLike('10.50.0.2', '10.50.0.1')]);
  await until(() => received.a.length === 1, 3000, 'reply at a');
  assert.equal(peerB.txBytes, 148 + 128, 'initiation + one 84-byte ping (padded to 96, +32)');
  assert.equal(peerA.rxBytes, 148 + 128);
  assert.equal(peerA.txBytes, 92 + 128);
  assert.ok(peerB.timers.lastHandshakeWallMs > 0 && peerA.timers.lastHandshakeWallMs > 0);
});

test('a peer configured with the wrong key gets no session and nothing is delivered', async (t) => {
  const { a, b, received } = await pair(t, { wrongKey: true });
  a.sendPackets([icmpLike('10.50.0.1', '10.50.0.2')]);
  await wait(300);
  assert.equal(received.b.length, 0);
  assert.ok(b.drops.badMac1 + b.drops.handshakeRejected >= 1, JSON.stringify(b.drops));
});

test('replayed, truncated and forged datagrams are dropped and counted, peer state unchanged', async (t) => {
  const { a, b, peerA, peerB, received } = await pair(t);
  // A relay between the two records what crosses the wire, as a tap would.
  const captured: Buffer[] = [];
  const relay = dgram.createSocket('udp4');
  t.after(() => relay.close());
  await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
  relay.on('message', (msg, rinfo) => {
    captured.push(Buffer.from(msg));
    relay.send(msg, rinfo.port === a.port ? b.port : a.port, '127.0.0.1');
  });
  a.setEndpoint(peerB, { address: '127.0.0.1', port: relay.address().port, family: 4 });
  const realReceive = (msg: Buffer, address: string, port: number) => b.receive(msg, address, port);
  a.sendPackets([icmpLike('10.50.0.1', '10.50.0.2')]);
  await until(() => received.b.length === 1, 3000, 'first packet');
  const transport = captured.find((m) => m[0] === 4 && m.length > 32)!;
  const rxBefore = peerA.rxBytes;
  const endpointBefore = { ...peerA.endpoint! };
  realReceive(transport, '127.0.0.9', 4444);
  assert.equal(b.drops.replayed, 1);
  realReceive(transport.subarray(0, 20), '127.0.0.9', 4444);
  const forged = Buffer.from(transport);
  forged[forged.length - 1] ^= 0xff;
  realReceive(forged, '127.0.0.9', 4444);
  realReceive(Buffer.from([1, 0, 0, 0]), '127.0.0.9', 4444);
  await wait(50);
  assert.equal(received.b.length, 1, 'nothing new delivered');
  assert.equal(peerA.rxBytes, rxBefore);
  assert.deepEqual(peerA.endpoint, endpointBefore, 'unauthenticated packets never move the endpoint');
  assert.ok(b.drops.unauthenticated >= 1 && b.drops.malformed >= 2, JSON.stringify(b.drops));
  // `node status` shows the counters, read over the control socket.
  const dir = mkdtempSync(join(tmpdir(), 'netmend-uapi-'));
  const server = new UapiServer(b, dir);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  await server.listen();
  const status = await readStatus(b.name, dir);
  assert.equal(status.drops?.replayed, 1);
  assert.ok((status.drops?.badMac ?? 0) >= 1, JSON.stringify(status.drops));
  assert.match(formatStatus([status]), /dropped: \d+ bad MAC, 1 replayed, 0 not from an allowed IP/);
});

test('an inner packet whose source is not the peer\'s AllowedIPs is dropped (cryptokey routing)', async (t) => {
  const { a, b, received } = await pair(t);
  a.sendPackets([icmpLike('10.50.0.1', '10.50.0.2')]);
  await until(() => received.b.length === 1, 3000, 'first packet');
  a.sendPackets([icmpLike('10.99.0.1', '10.50.0.2')]);
  await until(() => b.drops.sourceNotAllowed === 1, 2000, 'source check');
  assert.equal(received.b.length, 1);
});

test('the initiator confirms the session at once with a keepalive, so the responder can send first', async (t) => {
  const { a, peerA } = await pair(t);
  a.sendPackets([]); // nothing to send: a keepalive-triggered handshake instead
  a.peers.values().next().value!.timers.persistentKeepaliveSeconds = 0;
  a.setPersistentKeepalive(a.peers.values().next().value!, 25);
  await until(() => peerA.keypairs.current !== undefined, 3000, 'responder promoted next -> current');
  assert.equal(peerA.keypairs.next, undefined);
});

test('Timer: mod moves the deadline, del cancels, and a shorter mod fires sooner', async () => {
  let fired = 0;
  const timer = new Timer(() => { fired += 1; });
  timer.mod(200);
  timer.mod(30);
  await wait(80);
  assert.equal(fired, 1);
  timer.mod(30);
  timer.del();
  await wait(80);
  assert.equal(fired, 1);
  timer.mod(20);
  timer.mod(120);
  await wait(60);
  assert.equal(fired, 1, 'a later deadline postpones firing');
  await wait(120);
  assert.equal(fired, 2);
  timer.stop();
});

function recordingTimers() {
  const calls: string[] = [];
  const timers = new PeerTimers({
    sendInitiation: (isRetry) => calls.push(isRetry ? 'retry' : 'initiate'),
    sendKeepalive: () => calls.push('keepalive'),
    dropStaged: () => calls.push('drop-staged'),
    clearEndpointSource: () => calls.push('clear-source'),
    zeroKeyMaterial: () => calls.push('zero'),
    log: () => undefined,
  });
  return { timers, calls };
}

test('PeerTimers: retransmits retry with a new initiation, then give up after 18 tries and schedule key zeroing', async (t) => {
  const { timers, calls } = recordingTimers();
  t.after(() => timers.stopAll());
  timers.retransmitHandshake.mod(0);
  await wait(20);
  assert.deepEqual(calls, ['clear-source', 'retry']);
  assert.equal(timers.handshakeAttempts, 1);
  timers.handshakeAttempts = 19;
  calls.length = 0;
  timers.retransmitHandshake.mod(0);
  await wait(20);
  assert.deepEqual(calls, ['drop-staged'], 'no further initiation after the last attempt');
  assert.ok(timers.zeroKeys.pending);
  timers.handshakeComplete();
  assert.equal(timers.handshakeAttempts, 0);
  assert.ok(timers.lastHandshakeWallMs > 0);
});

test('PeerTimers: data sent arms the new-handshake timer, any authenticated receive cancels it', () => {
  const { timers } = recordingTimers();
  timers.dataSent();
  assert.ok(timers.newHandshake.pending);
  timers.anyAuthenticatedPacketReceived();
  assert.equal(timers.newHandshake.pending, false);
  timers.stopAll();
});

test('PeerTimers: data received arms a keepalive; more data flags another; sending anything cancels it', async () => {
  const { timers } = recordingTimers();
  timers.dataReceived();
  assert.ok(timers.sendKeepalive.pending);
  timers.dataReceived();
  assert.ok(timers.needAnotherKeepalive);
  timers.anyAuthenticatedPacketSent();
  assert.equal(timers.sendKeepalive.pending, false);
  timers.stopAll();
});

test('PeerTimers: persistent keepalive re-arms on traffic only when configured', () => {
  const { timers } = recordingTimers();
  timers.anyAuthenticatedPacketTraversal();
  assert.equal(timers.persistentKeepalive.pending, false);
  timers.persistentKeepaliveSeconds = 25;
  timers.anyAuthenticatedPacketTraversal();
  assert.ok(timers.persistentKeepalive.pending);
  timers.sessionDerived();
  assert.ok(timers.zeroKeys.pending, 'keys are zeroed 540 s after the last derivation');
  timers.stopAll();
  assert.equal(timers.persistentKeepalive.pending, false);
});
