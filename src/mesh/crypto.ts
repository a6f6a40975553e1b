/**
 * WireGuard's primitives (reference §2): BLAKE2s HASH, keyed-BLAKE2s MAC, HMAC-BLAKE2s HKDF,
 * ChaCha20-Poly1305 AEAD, XChaCha20-Poly1305 for cookies, X25519 and TAI64N.
 * node:crypto does the per-packet work (it is 3-4x faster than pure JS here); @noble fills in
 * what OpenSSL does not expose: keyed BLAKE2s and XChaCha20-Poly1305.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { privateKeyObject } from './keys.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const KEY_LEN = 32;
export const TAG_LEN = 16;

export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('blake2s256');
  for (const part of parts) h.update(part);
  return h.digest();
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte output (not HMAC). */
export function mac(key: Uint8Array, input: Uint8Array): Buffer {
  const out = blake2s(input, { key, dkLen: 16 });
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('blake2s256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

const ONE = Buffer.from([1]);
const TWO = Buffer.from([2]);
const THREE = Buffer.from([3]);

/** HKDF with BLAKE2s (salt = chaining key), yielding n 32-byte outputs. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer[] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  if (n === 1) { prk.fill(0); return [t1]; }
  const t2 = hmac(prk, t1, TWO);
  if (n === 2) { prk.fill(0); return [t1, t2]; }
  const t3 = hmac(prk, t2, THREE);
  prk.fill(0);
  return [t1, t2, t3];
}

/** The 12-byte ChaCha20-Poly1305 nonce: 4 zero bytes then the little-endian counter. */
export function counterNonce(counter: bigint | number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(BigInt(counter), 4);
  return nonce;
}

const ZERO_NONCE = Buffer.alloc(12);

/** Handshake AEAD (counter 0) with associated data. Returns ciphertext ‖ tag. */
export function aeadSeal(key: Uint8Array | KeyObject, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const head = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([head, cipher.getAuthTag()]);
}

/** Opens ciphertext ‖ tag; undefined when authentication fails. */
export function aeadOpen(key: Uint8Array | KeyObject, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG_LEN) return undefined;
  const body = sealed.subarray(0, sealed.length - TAG_LEN);
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: body.length });
  const out = decipher.update(body);
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return out;
}

export function handshakeSeal(key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  return aeadSeal(key, ZERO_NONCE, plaintext, ad);
}

export function handshakeOpen(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | undefined {
  return aeadOpen(key, ZERO_NONCE, sealed, ad);
}

export function xaeadSeal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  return Buffer.from(xchacha20poly1305(key, nonce24, ad).encrypt(plaintext));
}

export function xaeadOpen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | undefined {
  try {
    return Buffer.from(xchacha20poly1305(key, nonce24, ad).decrypt(sealed));
  } catch {
    return undefined;
  }
}


export function clampPrivateKey(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  out[0] &= 248;
  out[31] = (out[31] & 127) | 64;
  return out;
}

/** A raw private key as an OpenSSL key object (X25519 clamps internally too). */
export function x25519PrivateKeyObject(privateKey: Uint8Array): KeyObject {
  return privateKeyObject(Buffer.from(privateKey.buffer, privateKey.byteOffset, privateKey.byteLength));
}

/*
 * Raw X25519 keys cross into OpenSSL as JWK, not DER: OpenSSL 3's DER decoders cost 60-450 us
 * per key here, the JWK path 5-25 us, and a handshake message makes two to four such crossings.
 */

export function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  return Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
}

export function x25519PublicKey(privateKey: Uint8Array | KeyObject): Buffer {
  const key = privateKey instanceof Uint8Array ? x25519PrivateKeyObject(privateKey) : privateKey;
  return rawPublicKey(createPublicKey(key));
}

/** X25519; undefined for a low-order public key (all-zero shared secret), which must be refused. */
export function dh(privateKey: KeyObject, publicKey: Uint8Array | KeyObject): Buffer | undefined {
  try {
    const pub = publicKey instanceof Uint8Array ? x25519PublicKeyObject(publicKey) : publicKey;
    const shared = diffieHellman({ privateKey, publicKey: pub });
    if (isZero(shared)) return undefined;
    return shared;
  } catch {
    return undefined;
  }
}

export interface Ephemeral {
  privateKey: KeyObject;
  publicKey: Buffer;
}

/** A fresh key pair from OpenSSL (which clamps), or one from given raw bytes (test vectors). */
function generateEphemeral(rawPrivate?: Uint8Array): Ephemeral {
  if (!rawPrivate) {
    const pair = generateKeyPairSync('x25519');
    return { privateKey: pair.privateKey, publicKey: rawPublicKey(pair.publicKey) };
  }
  const raw = clampPrivateKey(rawPrivate);
  const privateKey = x25519PrivateKeyObject(raw);
  raw.fill(0);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/**
 * A fresh ephemeral is made after each use, in the next loop turn, so the next initiation or
 * response does not wait for key generation. Each ephemeral is used exactly once.
 */
const ephemeralPool: Ephemeral[] = [];
let refillScheduled = false;

function refillEphemerals(): void {
  refillScheduled = false;
  while (ephemeralPool.length < 2) ephemeralPool.push(generateEphemeral());
}

export function newEphemeral(rawPrivate?: Uint8Array): Ephemeral {
  if (rawPrivate) return generateEphemeral(rawPrivate);
  const ready = ephemeralPool.shift();
  if (!refillScheduled) {
    refillScheduled = true;
    setImmediate(refillEphemerals).unref();
  }
  return ready ?? generateEphemeral();
}

export function isZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i];
  return acc === 0;
}

/** Constant-time equality for MACs and keys. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i] ^ b[i];
  return acc === 0;
}

/** TAI64N now, nanoseconds rounded down to 2^24 so the timestamp does not leak fine timing. */
export function tai64n(nowMs = Date.now(), extraNs = 0): Buffer {
  const out = Buffer.alloc(12);
  const seconds = Math.floor(nowMs / 1000);
  const nanos = (nowMs - seconds * 1000) * 1e6 + extraNs;
  out.writeBigUInt64BE(0x400000000000000an + BigInt(seconds), 0);
  out.writeUInt32BE((Math.floor(nanos) & 0xff000000) >>> 0, 8);
  return out;
}
