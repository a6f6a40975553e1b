/**
 * WireGuard keys, byte-compatible with `wg genkey`, `wg pubkey` and `wg genpsk`: 32-byte values
 * written as 44-character standard base64. X25519 goes through node:crypto (about 50x faster
 * than a pure-JS curve on these machines), which takes raw keys wrapped in fixed DER headers.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { InputError } from '../errors.js';

export const KEY_LENGTH = 32;

// PKCS#8 PrivateKeyInfo for X25519 (OID 1.3.101.110) followed by a 32-byte OCTET STRING.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
// SubjectPublicKeyInfo for X25519 followed by the 32-byte BIT STRING contents.
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

// 42 free characters, then one whose low 2 bits are zero (only 4 bits of the 32nd byte remain),
// then the padding: the only shape whose decoding is exactly 32 bytes and re-encodes identically.
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Clamps a scalar in place as Curve25519 requires (and as `wg genkey` stores it). */
export function clampPrivateKey(key: Buffer): Buffer {
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}

export function generatePrivateKey(): Buffer {
  return clampPrivateKey(randomBytes(KEY_LENGTH));
}

export function generatePresharedKey(): Buffer {
  return randomBytes(KEY_LENGTH);
}

export function publicKeyOf(privateKey: Buffer): Buffer {
  if (privateKey.length !== KEY_LENGTH) throw new InputError(`a private key is ${KEY_LENGTH} bytes, not ${privateKey.length}`);
  const keyObject = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(X25519_SPKI_PREFIX.length));
}

export function encodeKey(key: Buffer): string {
  if (key.length !== KEY_LENGTH) throw new InputError(`a WireGuard key is ${KEY_LENGTH} bytes, not ${key.length}`);
  return key.toString('base64');
}

/** Parses a 44-character base64 key; `what` names it in the error ("PrivateKey", "stdin"...). */
export function decodeKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  if (!KEY_BASE64.test(trimmed)) {
    const shape = trimmed.length === 44 ? 'is not valid base64 of 32 bytes' : `is ${trimmed.length} characters, not 44`;
    throw new InputError(`${what}: the key ${shape}`, 'WireGuard keys are 44-character base64, as printed by `netmend node genkey` or `wg genkey`');
  }
  return Buffer.from(trimmed, 'base64');
}
