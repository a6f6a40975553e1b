import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { aeadOpen, counterNonce, dh, newEphemeral, clampPrivateKey, x25519PublicKey } from '../../src/mesh/crypto.js';
import { CookieChecker, CookieGenerator } from '../../src/mesh/cookie.js';
import { consumeInitiation, consumeResponse, createInitiation, createResponse, deriveKeypair, Handshake, INITIAL_CHAINING_KEY, INITIAL_HASH, type LocalIdentity } from '../../src/mesh/noise.js';
import { loadAddon } from '../../src/mesh/addon.js';

const vector = JSON.parse(readFileSync('/work/shared/reference/wireguard-handshake-vector.json', 'utf8')) as Record<string, string>;
const hex = (name: string) => Buffer.from(vector[name], 'hex');

function identity(privateHex: string): LocalIdentity {
  const privateKey = clampPrivateKey(Buffer.from(privateHex, 'hex'));
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

function vectorHandshake() {
  const initiator = identity(vector.initiator_static_private);
  const responder = identity(vector.responder_static_private);
  const onInitiator = new Handshake(responder.publicKey);
  onInitiator.presharedKey = hex('preshared_key');
  onInitiator.setLocal(initiator);
  const onResponder = new Handshake(initiator.publicKey);
  onResponder.presharedKey = hex('preshared_key');
  onResponder.setLocal(responder);
  return { initiator, responder, onInitiator, onResponder };
}

test('the construction constants match the reference', () => {
  assert.equal(INITIAL_CHAINING_KEY.toString('hex'), vector.initial_chaining_key);
  assert.equal(INITIAL_HASH.toString('hex'), vector.initial_hash);
});

test('static public keys derive from the private keys', () => {
  assert.equal(identity(vector.initiator_static_private).publicKey.toString('hex'), vector.initiator_static_public);
  assert.equal(identity(vector.responder_static_private).publicKey.toString('hex'), vector.responder_static_public);
  assert.equal(newEphemeral(hex('initiator_ephemeral_private')).publicKey.toString('hex'), vector.initiator_ephemeral_public);
});

test('a random ephemeral carries its own public key, and X25519 agrees both ways with it', () => {
  const responder = identity(vector.responder_static_private);
  for (let i = 0; i < 3; i++) {
    const ephemeral = newEphemeral();
    assert.equal(ephemeral.publicKey.length, 32);
    const mine = dh(ephemeral.privateKey, responder.publicKey);
    assert.ok(mine);
    assert.equal(mine.toString('hex'), dh(responder.privateKey, ephemeral.publicKey)?.toString('hex'));
  }
  assert.notEqual(newEphemeral().publicKey.toString('hex'), newEphemeral().publicKey.toString('hex'));
});

test('X25519 with a low-order public key gives no shared secret (refused, not all zeros)', () => {
  const responder = identity(vector.responder_static_private);
  const lowOrder = ['0000000000000000000000000000000000000000000000000000000000000000', '0100000000000000000000000000000000000000000000000000000000000000', 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'];
  for (const point of lowOrder) assert.equal(dh(responder.privateKey, Buffer.from(point, 'hex')), undefined, point);
});

test('the handshake vector reproduces byte for byte, both messages and the session keys', () => {
  const { initiator, responder, onInitiator, onResponder } = vectorHandshake();
  const initiation = createInitiation(initiator, onInitiator, 0x11223344, {
    ephemeral: newEphemeral(hex('initiator_ephemeral_private')),
    timestamp: hex('tai64n_timestamp'),
  });
  assert.ok(initiation);
  new CookieGenerator(responder.publicKey).addMacs(initiation);
  assert.equal(initiation.toString('hex'), vector.initiation_148);
  assert.equal(onInitiator.chainingKey.toString('hex'), vector.chaining_key_after_initiation);
  assert.equal(onInitiator.hash.toString('hex'), vector.hash_after_initiation);

  const checker = new CookieChecker();
  checker.init(responder.publicKey);
  assert.ok(checker.checkMac1(initiation));
  const consumed = consumeInitiation(responder, initiation, (key) => (key.equals(initiator.publicKey) ? { peer: 'alice', handshake: onResponder } : undefined), 1000);
  assert.ok('peer' in consumed && !('error' in consumed), JSON.stringify(consumed));
  assert.equal(onResponder.hash.toString('hex'), vector.hash_after_initiation);
  assert.equal(onResponder.latestTimestamp.toString("hex"), vector.tai64n_timestamp);

  const response = createResponse(onResponder, 0x55667788, { ephemeral: newEphemeral(hex('responder_ephemeral_private')) });
  assert.ok(response);
  new CookieGenerator(initiator.publicKey).addMacs(response);
  assert.equal(response.toString('hex'), vector.response_92);
  assert.equal(onResponder.hash.toString('hex'), vector.final_handshake_hash);

  const back = consumeResponse(initiator, response, (index) => (index === 0x11223344 ? { peer: 'bob', handshake: onInitiator } : undefined));
  assert.ok(!('error' in back), JSON.stringify(back));
  assert.equal(onInitiator.hash.toString('hex'), vector.final_handshake_hash);

  const initiatorKeys = deriveKeypair(onInitiator, 0);
  const responderKeys = deriveKeypair(onResponder, 0);
  assert.ok(initiatorKeys && responderKeys);
  assert.equal(initiatorKeys.sendKey.toString('hex'), vector.initiator_send_key);
  assert.equal(initiatorKeys.receiveKey.toString('hex'), vector.initiator_recv_key);
  assert.equal(responderKeys.receiveKey.toString('hex'), vector.initiator_send_key);
  assert.equal(responderKeys.sendKey.toString('hex'), vector.initiator_recv_key);

  // Transport, as the native data path (native/udp.c) seals and opens it: the 33-byte ping padded
  // to 48, then a keepalive, then the responder's keepalive.
  const native = loadAddon();
  const data = native.transportSeal(initiatorKeys.sendKey, initiatorKeys.remoteIndex, 0, 1420, hex('inner_ip_packet_33B'));
  assert.equal(data.toString('hex'), vector.transport_initiator_counter0_data);
  const keepalive = native.transportSeal(initiatorKeys.sendKey, initiatorKeys.remoteIndex, 1, 1420, Buffer.alloc(0));
  assert.equal(keepalive.toString('hex'), vector.transport_initiator_counter1_keepalive);
  assert.equal(native.transportSeal(responderKeys.sendKey, responderKeys.remoteIndex, 0, 1420, Buffer.alloc(0)).toString('hex'), vector.transport_responder_counter0_keepalive);
  const plain = native.transportOpen(responderKeys.receiveKey, data);
  assert.ok(plain);
  assert.equal(plain.subarray(0, 33).toString('hex'), vector.inner_ip_packet_33B);
  assert.equal(plain.length, 48);
  const tampered = Buffer.from(data);
  tampered[20] ^= 1;
  assert.equal(native.transportOpen(responderKeys.receiveKey, tampered), null);
  assert.ok(aeadOpen(responderKeys.receiveKey, counterNonce(1), keepalive.subarray(16), Buffer.alloc(0)));
});

test('the same initiation twice is refused (timestamp replay) and leaves the handshake untouched', () => {
  const { initiator, responder, onInitiator, onResponder } = vectorHandshake();
  const initiation = createInitiation(initiator, onInitiator, 1, { timestamp: hex('tai64n_timestamp') })!;
  const find = () => ({ peer: 'alice', handshake: onResponder });
  assert.ok(!('error' in consumeInitiation(responder, initiation, find, 1000)));
  const hashBefore = Buffer.from(onResponder.hash);
  const again = consumeInitiation(responder, initiation, find, 5000);
  assert.ok('error' in again);
  assert.match(again.error, /replayed/);
  assert.ok(onResponder.hash.equals(hashBefore));
});

test('a newer initiation within 20 ms of the last one is refused as a flood', () => {
  const { initiator, responder, onInitiator, onResponder } = vectorHandshake();
  const find = () => ({ peer: 'alice', handshake: onResponder });
  const first = createInitiation(initiator, onInitiator, 1, { timestamp: Buffer.from('400000006553f10a00000000', 'hex') })!;
  const second = createInitiation(initiator, onInitiator, 2, { timestamp: Buffer.from('400000006553f10a01000000', 'hex') })!;
  assert.ok(!('error' in consumeInitiation(responder, first, find, 1000)));
  const flooded = consumeInitiation(responder, second, find, 1010);
  assert.ok('error' in flooded && /flood/.test(flooded.error));
  assert.ok(!('error' in consumeInitiation(responder, second, find, 1030)));
});

test('an initiation from a key the responder does not know gets no session', () => {
  const { responder, onInitiator } = vectorHandshake();
  const stranger = identity('b0'.repeat(32));
  onInitiator.setLocal(stranger);
  const initiation = createInitiation(stranger, onInitiator, 7)!;
  const result = consumeInitiation(responder, initiation, () => undefined, 1000);
  assert.ok('error' in result && /unknown peer/.test(result.error));
});

test('a flipped bit anywhere in the response is refused', () => {
  const { initiator, responder, onInitiator, onResponder } = vectorHandshake();
  const initiation = createInitiation(initiator, onInitiator, 9)!;
  consumeInitiation(responder, initiation, () => ({ peer: 'a', handshake: onResponder }), 1000);
  const response = createResponse(onResponder, 10)!;
  for (const offset of [12, 30, 44, 59]) {
    const bad = Buffer.from(response);
    bad[offset] ^= 1;
    const result = consumeResponse(initiator, bad, () => ({ peer: 'b', handshake: onInitiator }));
    assert.ok('error' in result, `offset ${offset}`);
  }
  assert.ok(!('error' in consumeResponse(initiator, response, () => ({ peer: 'b', handshake: onInitiator }))));
});

test('cookie reply: mac2 is demanded and then accepted from the same source only', () => {
  const { initiator, responder, onInitiator } = vectorHandshake();
  const checker = new CookieChecker();
  checker.init(responder.publicKey);
  const generator = new CookieGenerator(responder.publicKey);
  const first = createInitiation(initiator, onInitiator, 1)!;
  generator.addMacs(first);
  const source = Buffer.from([10, 0, 0, 1, 0xca, 0x6c]);
  assert.ok(checker.checkMac1(first));
  assert.equal(checker.checkMac2(first, source), false);
  const reply = checker.createReply(first, 1, source);
  assert.ok(generator.consumeReply(reply));
  const second = createInitiation(initiator, onInitiator, 2)!;
  generator.addMacs(second);
  assert.ok(checker.checkMac2(second, source));
  assert.equal(checker.checkMac2(second, Buffer.from([10, 0, 0, 2, 0xca, 0x6c])), false);
  const tampered = Buffer.from(reply);
  tampered[40] ^= 1;
  assert.equal(generator.consumeReply(tampered), false);
  second[20] ^= 1;
  assert.equal(checker.checkMac1(second), false);
});

test('prepared initiations and responses complete the handshake, each is used once, and a new identity discards them', () => {
  const { initiator, responder, onInitiator, onResponder } = vectorHandshake();
  const find = () => ({ peer: 'p', handshake: onResponder });
  assert.equal(onInitiator.prepare(), true);
  assert.equal(onResponder.prepare(), true);
  assert.equal(onInitiator.prepare(), false, 'nothing left to prepare');
  const preparedEphemeral = onInitiator.preparedInitiation!.ephemeral.publicKey.toString('hex');
  const preparedResponder = onResponder.preparedResponse!.ephemeral.publicKey.toString('hex');

  const initiation = createInitiation(initiator, onInitiator, 21)!;
  assert.equal(initiation.subarray(8, 40).toString('hex'), preparedEphemeral, 'the prepared ephemeral went out');
  assert.equal(onInitiator.preparedInitiation, undefined, 'used once');
  assert.ok(!('error' in consumeInitiation(responder, initiation, find, 1000)));
  const response = createResponse(onResponder, 22)!;
  assert.equal(response.subarray(12, 44).toString('hex'), preparedResponder);
  assert.equal(onResponder.preparedResponse, undefined);
  assert.ok(!('error' in consumeResponse(initiator, response, () => ({ peer: 'r', handshake: onInitiator }))));
  const mine = deriveKeypair(onInitiator, 0)!;
  const theirs = deriveKeypair(onResponder, 0)!;
  assert.equal(mine.sendKey.toString('hex'), theirs.receiveKey.toString('hex'));
  assert.equal(mine.receiveKey.toString('hex'), theirs.sendKey.toString('hex'));

  // Unprepared, the next initiation has a fresh ephemeral of its own.
  const next = createInitiation(initiator, onInitiator, 23)!;
  assert.notEqual(next.subarray(8, 40).toString('hex'), preparedEphemeral);

  // Our key changes: what was prepared with the old one is dropped; the responder who knows the new key accepts.
  onInitiator.prepare();
  const renewed = identity('c8'.repeat(32));
  onInitiator.setLocal(renewed);
  assert.equal(onInitiator.preparedInitiation, undefined);
  const fresh = new Handshake(renewed.publicKey);
  fresh.setLocal(responder);
  const accepted = consumeInitiation(responder, createInitiation(renewed, onInitiator, 24)!, () => ({ peer: 'n', handshake: fresh }), 5000);
  assert.ok(!('error' in accepted), JSON.stringify(accepted));
});
