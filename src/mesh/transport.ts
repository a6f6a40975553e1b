/**
 * Type-4 transport messages (reference §5): header, padded plaintext sealed with the keypair's
 * counter as nonce. One cipher object per packet is OpenSSL's cost floor; everything else here
 * avoids copies (the padding goes through the cipher as a second update, not a padded copy).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { TAG_LEN } from './crypto.js';
import type { Keypair } from './keypairs.js';
import { MESSAGE_TRANSPORT, paddedLength, TRANSPORT_HEADER_SIZE, TRANSPORT_MIN_SIZE } from './messages.js';

const ZERO_PADDING = Buffer.alloc(16);
const nonce = Buffer.alloc(12);

/** Seals one packet (empty = keepalive) and advances the send counter. */
export function encryptTransport(keypair: Keypair, packet: Buffer, mtu: number): Buffer {
  const counter = keypair.sendCounter++;
  const padded = packet.length === 0 ? 0 : paddedLength(packet.length, mtu);
  const padding = padded - packet.length;
  const out = Buffer.allocUnsafe(TRANSPORT_HEADER_SIZE + padded + TAG_LEN);
  out.writeUInt32LE(MESSAGE_TRANSPORT, 0);
  out.writeUInt32LE(keypair.remoteIndex, 4);
  writeCounter(out, 8, counter);
  nonce.fill(0, 0, 4);
  out.copy(nonce, 4, 8, 16);
  const cipher = createCipheriv('chacha20-poly1305', keypair.sendKey, nonce, { authTagLength: TAG_LEN });
  let offset = TRANSPORT_HEADER_SIZE;
  if (packet.length > 0) offset += cipher.update(packet).copy(out, offset);
  if (padding > 0) offset += cipher.update(ZERO_PADDING.subarray(0, padding)).copy(out, offset);
  cipher.final();
  cipher.getAuthTag().copy(out, offset);
  return out;
}

function writeCounter(out: Buffer, offset: number, counter: number): void {
  out.writeUInt32LE(counter % 0x1_0000_0000, offset);
  out.writeUInt32LE(Math.floor(counter / 0x1_0000_0000), offset + 4);
}

/** The counter of a transport message as BigInt (it is u64 on the wire). */
export function transportCounter(msg: Buffer): bigint {
  return msg.readBigUInt64LE(8);
}

/** Opens a transport message; undefined when it does not authenticate. No replay check here. */
export function decryptTransport(keypair: Keypair, msg: Buffer): Buffer | undefined {
  if (msg.length < TRANSPORT_MIN_SIZE) return undefined;
  nonce.fill(0, 0, 4);
  msg.copy(nonce, 4, 8, 16);
  const decipher = createDecipheriv('chacha20-poly1305', keypair.receiveKey, nonce, { authTagLength: TAG_LEN });
  decipher.setAuthTag(msg.subarray(msg.length - TAG_LEN));
  const plain = decipher.update(msg.subarray(TRANSPORT_HEADER_SIZE, msg.length - TAG_LEN));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plain;
}
