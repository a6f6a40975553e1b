/**
 * The handshake's native primitives (native/handshake.c) against published vectors and against
 * independent implementations: node:crypto (OpenSSL's BLAKE2s-256, HMAC, ChaCha20-Poly1305,
 * X25519) and @noble/hashes (keyed BLAKE2s), on random inputs of every length around the
 * 64-byte block boundary.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { blake2s } from '@noble/hashes/blake2.js';
import { loadAddon } from '../../src/mesh/addon.js';

const native = loadAddon();
const hex = (text: string) => Buffer.from(text, 'hex');

test('BLAKE2s: RFC 7693 appendix B ("abc"), the empty input, and the keyed KAT of the reference implementation', () => {
  assert.equal(native.blake2s(32, null, Buffer.from('abc')).toString('hex'), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  assert.equal(native.blake2s(32, null).toString('hex'), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
  // blake2s-kat.txt: key 00..1f, inputs empty and 00.
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  assert.equal(native.blake2s(32, key).toString('hex'), '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49');
  assert.equal(native.blake2s(32, key, Buffer.from([0])).toString('hex'), '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1');
});

test('BLAKE2s agrees with node:crypto (unkeyed) and @noble/hashes (keyed, short outputs) on random inputs, however split', () => {
  for (let length = 0; length <= 200; length++) {
    const data = randomBytes(length);
    const cut = Math.floor(Math.random() * (length + 1));
    const expected = createHash('blake2s256').update(data).digest('hex');
    assert.equal(native.blake2s(32, null, data).toString('hex'), expected, `length ${length}`);
    assert.equal(native.blake2s(32, null, data.subarray(0, cut), data.subarray(cut)).toString('hex'), expected, `length ${length} split at ${cut}`);
    const key = randomBytes(1 + (length % 32));
    const outLength = 1 + (length % 32);
    assert.equal(native.blake2s(outLength, key, data).toString('hex'), Buffer.from(blake2s(data, { key, dkLen: outLength })).toString('hex'), `keyed, length ${length}`);
  }
  // More parts than the binding's fixed argument array holds: every part is hashed, none read from past it.
  const parts = Array.from({ length: 12 }, (_, i) => randomBytes(i * 7));
  assert.equal(native.blake2s(32, null, ...parts).toString('hex'), createHash('blake2s256').update(Buffer.concat(parts)).digest('hex'));
  const big = randomBytes(100_000);
  assert.equal(native.blake2s(32, null, big).toString('hex'), createHash('blake2s256').update(big).digest('hex'));
});

test('HMAC-BLAKE2s agrees with node:crypto for keys of 0 to 100 bytes', () => {
  for (let keyLength = 0; keyLength <= 100; keyLength += 3) {
    const key = randomBytes(keyLength);
    const data = randomBytes(keyLength * 2);
    assert.equal(native.hmacBlake2s(key, data).toString('hex'), createHmac('blake2s256', key).update(data).digest('hex'), `key ${keyLength} bytes`);
  }
});

test('KDF: the chain of HMACs WireGuard specifies, built from node:crypto, matches on random inputs', () => {
  const hmac = (key: Buffer, ...parts: Buffer[]) => parts.reduce((h, part) => h.update(part), createHmac('blake2s256', key)).digest();
  for (let i = 0; i < 20; i++) {
    const key = randomBytes(32);
    const input = randomBytes(i * 5);
    const prk = hmac(key, input);
    const t1 = hmac(prk, Buffer.from([1]));
    const t2 = hmac(prk, t1, Buffer.from([2]));
    const t3 = hmac(prk, t2, Buffer.from([3]));
    assert.equal(native.kdf(3, key, input).toString('hex'), Buffer.concat([t1, t2, t3]).toString('hex'));
    assert.equal(native.kdf(1, key, input).toString('hex'), t1.toString('hex'));
  }
});

test('ChaCha20-Poly1305 with associated data agrees with node:crypto, and a changed byte does not open', () => {
  for (const length of [0, 1, 16, 32, 63, 64, 65, 1000]) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const plain = randomBytes(length);
    const ad = randomBytes(length % 40);
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plain.length });
    const expected = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    const sealed = native.aeadSeal(key, nonce, plain, ad);
    assert.equal(sealed.toString('hex'), expected.toString('hex'), `length ${length}`);
    assert.equal(native.aeadOpen(key, nonce, sealed, ad)?.toString('hex'), plain.toString('hex'));
    const tampered = Buffer.from(sealed);
    tampered[Math.floor(Math.random() * tampered.length)] ^= 1;
    assert.equal(native.aeadOpen(key, nonce, tampered, ad), null);
    assert.equal(native.aeadOpen(key, nonce, sealed, Buffer.concat([ad, Buffer.from([0])])), null);
  }
});

const PKCS8 = hex('302e020100300506032b656e04220420');
const SPKI = hex('302a300506032b656e032100');

test('X25519: RFC 7748 section 6.1, both backends, node:crypto on random keys, low-order points refused', () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  for (const forceEvp of [false, true]) {
    const alicePublic = native.x25519PublicKey(alice, forceEvp);
    const bobPublic = native.x25519PublicKey(bob, forceEvp);
    assert.equal(alicePublic.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.equal(bobPublic.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    assert.equal(native.x25519(alice, bobPublic, forceEvp)?.toString('hex'), shared);
    assert.equal(native.x25519(bob, alicePublic, forceEvp)?.toString('hex'), shared);
    assert.equal(native.x25519(alice, Buffer.alloc(32), forceEvp), null, 'the all-zero point');
    assert.equal(native.x25519(alice, hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'), forceEvp), null, 'a point of order 8');
  }
  for (let i = 0; i < 10; i++) {
    const mine = randomBytes(32);
    const theirs = randomBytes(32);
    const theirPublic = native.x25519PublicKey(theirs);
    const reference = diffieHellman({
      privateKey: createPrivateKey({ key: Buffer.concat([PKCS8, mine]), format: 'der', type: 'pkcs8' }),
      publicKey: createPublicKey({ key: Buffer.concat([SPKI, theirPublic]), format: 'der', type: 'spki' }),
    });
    assert.equal(native.x25519(mine, theirPublic)?.toString('hex'), reference.toString('hex'));
    assert.equal(native.x25519(mine, theirPublic, true)?.toString('hex'), reference.toString('hex'));
  }
  // Node's bundled OpenSSL exports its X25519 function: the fast path is in use here.
  if (!process.config.variables.node_shared_openssl) assert.equal(native.x25519Backend(), 'raw');
});

test('the primitives refuse wrong argument shapes with a TypeError instead of reading past buffers', () => {
  assert.throws(() => native.blake2s(33, null), TypeError);
  assert.throws(() => native.blake2s(32, Buffer.alloc(33)), TypeError);
  assert.throws(() => native.aeadSeal(Buffer.alloc(31), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(0)), TypeError);
  assert.throws(() => native.aeadOpen(Buffer.alloc(32), Buffer.alloc(11), Buffer.alloc(16), Buffer.alloc(0)), TypeError);
  assert.throws(() => native.x25519(Buffer.alloc(32), Buffer.alloc(31)), TypeError);
  assert.throws(() => native.kdf(4 as 3, Buffer.alloc(32), Buffer.alloc(0)), TypeError);
  assert.equal(native.aeadOpen(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(15), Buffer.alloc(0)), null);
});
