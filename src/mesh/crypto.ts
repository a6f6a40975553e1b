/**
 * WireGuard's primitives (reference §2): BLAKE2s HASH, keyed-BLAKE2s MAC, HMAC-BLAKE2s HKDF,
 * ChaCha20-Poly1305 AEAD, XChaCha20-Poly1305 for cookies, X25519 and TAI64N.
 * The handshake's share runs in the native addon (native/handshake.c), one call per primitive
 * on raw bytes: through node:crypto's objects (hashes, HMACs, ciphers, key objects per DH) a
 * handshake message cost several times more, and more still when the process had been idle,
 * which showed as a slow first packet. @noble covers what only cookie replies need
 * (XChaCha20-Poly1305).
 */
import { randomFillSync } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { loadAddon, type NativeAddon } from './addon.js';

export const KEY_LEN = 32;
export const TAG_LEN = 16;

let addon: NativeAddon | undefined;
/** Loaded on first use: importing this module must not need the addon. */
function native(): NativeAddon {
  return (addon ??= loadAddon());
}

export function hash(...parts: Uint8Array[]): Buffer {
  return native().blake2s(32, null, ...parts);
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte output (not HMAC). */
export function mac(key: Uint8Array, input: Uint8Array): Buffer {
  return native().blake2s(16, key, input);
}

/** HKDF with BLAKE2s (salt = chaining key), yielding n 32-byte outputs. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer[] {
  const out = native().kdf(n, key, input);
  if (n === 1) return [out];
  if (n === 2) return [out.subarray(0, 32), out.subarray(32, 64)];
  return [out.subarray(0, 32), out.subarray(32, 64), out.subarray(64, 96)];
}

/** The 12-byte ChaCha20-Poly1305 nonce: 4 zero bytes then the little-endian counter. */
export function counterNonce(counter: bigint | number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(BigInt(counter), 4);
  return nonce;
}

const ZERO_NONCE = Buffer.alloc(12);

/** ChaCha20-Poly1305 with associated data. Returns ciphertext ‖ tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  return native().aeadSeal(key, nonce, plaintext, ad);
}

/** Opens ciphertext ‖ tag; undefined when authentication fails. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | undefined {
  return native().aeadOpen(key, nonce, sealed, ad) ?? undefined;
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

/** The X25519 public key of a raw 32-byte private key. */
export function x25519PublicKey(privateKey: Uint8Array): Buffer {
  return native().x25519PublicKey(privateKey);
}

/** X25519 on raw keys; undefined for a low-order public key (all-zero shared secret), which must be refused. */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Buffer | undefined {
  return native().x25519(privateKey, publicKey) ?? undefined;
}

export interface Ephemeral {
  /** Raw, clamped. */
  privateKey: Buffer;
  publicKey: Buffer;
}

/** A fresh key pair, or one from given raw bytes (test vectors). */
function generateEphemeral(rawPrivate?: Uint8Array): Ephemeral {
  const privateKey = clampPrivateKey(rawPrivate ?? randomFillSync(Buffer.alloc(KEY_LEN)));
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/**
 * Fresh ephemerals are made ahead, so the next initiation or response does not wait for key
 * generation. Each is used exactly once. The pool is refilled a little after a use, not in the
 * next loop turn: what is needed now was prepared already, and the refill's key generations
 * would compete for the CPU with whatever the use was for (a peer just configured, its first
 * packet on its way).
 */
const ephemeralPool: Ephemeral[] = [];
const EPHEMERAL_POOL_SIZE = 2;
const REFILL_AFTER_MS = 20;
let refillScheduled = false;

function refillEphemerals(): void {
  refillScheduled = false;
  while (ephemeralPool.length < EPHEMERAL_POOL_SIZE) ephemeralPool.push(generateEphemeral());
}

export function newEphemeral(rawPrivate?: Uint8Array): Ephemeral {
  if (rawPrivate) return generateEphemeral(rawPrivate);
  const ready = ephemeralPool.shift();
  if (!refillScheduled) {
    refillScheduled = true;
    setTimeout(refillEphemerals, REFILL_AFTER_MS).unref();
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

const TWO_32 = 0x1_0000_0000;

/**
 * TAI64N now, nanoseconds rounded down to 2^24 so the timestamp does not leak fine timing. The
 * label 2^62 + 10 + seconds is written as two 32-bit halves: no BigInt on the initiation's path.
 */
export function tai64n(nowMs = Date.now(), extraNs = 0): Buffer {
  const out = Buffer.alloc(12);
  const seconds = Math.floor(nowMs / 1000);
  const nanos = (nowMs - seconds * 1000) * 1e6 + extraNs;
  const label = seconds + 10;
  out.writeUInt32BE(0x40000000 + Math.floor(label / TWO_32), 0);
  out.writeUInt32BE(label % TWO_32, 4);
  out.writeUInt32BE((Math.floor(nanos) & 0xff000000) >>> 0, 8);
  return out;
}
