/**
 * mac1/mac2 and cookie replies (reference §4). The checker is the responder's side: it verifies
 * mac1 against our own key and, under load, demands a mac2 made from a cookie bound to the
 * sender's address. The generator is the initiator's side, one per peer: it stamps macs on
 * outgoing handshakes and keeps the cookie the peer last sent us.
 */
import { randomBytes } from 'node:crypto';
import { equalBytes, hash, mac, xaeadOpen, xaeadSeal } from './crypto.js';
import {
  COOKIE_REFRESH_TIME_MS, COOKIE_REPLY_SIZE, INITIATION_MAC1, INITIATION_MAC2, INITIATION_SIZE, LABEL_COOKIE, LABEL_MAC1, MESSAGE_COOKIE_REPLY, RESPONSE_MAC1, RESPONSE_MAC2, RESPONSE_SIZE,
} from './messages.js';

function macOffsets(msg: Buffer): { mac1: number; mac2: number } | undefined {
  if (msg.length === INITIATION_SIZE) return { mac1: INITIATION_MAC1, mac2: INITIATION_MAC2 };
  if (msg.length === RESPONSE_SIZE) return { mac1: RESPONSE_MAC1, mac2: RESPONSE_MAC2 };
  return undefined;
}

export function mac1KeyFor(publicKey: Uint8Array): Buffer {
  return hash(Buffer.from(LABEL_MAC1), publicKey);
}

export function cookieKeyFor(publicKey: Uint8Array): Buffer {
  return hash(Buffer.from(LABEL_COOKIE), publicKey);
}

/** The source a cookie is bound to: address bytes then the port, big-endian. */
export function sourceBytes(address: string, port: number): Buffer {
  const ip = addressBytes(address);
  const out = Buffer.alloc(ip.length + 2);
  ip.copy(out, 0);
  out.writeUInt16BE(port, ip.length);
  return out;
}

function addressBytes(address: string): Buffer {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (v4) return Buffer.from([Number(v4[1]), Number(v4[2]), Number(v4[3]), Number(v4[4])]);
  return Buffer.from(address, 'utf8');
}

export class CookieChecker {
  private mac1Key: Buffer = Buffer.alloc(32);
  private cookieKey: Buffer = Buffer.alloc(32);
  private secret: Buffer = Buffer.alloc(32);
  private secretSetAt = -Infinity;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  init(ourPublicKey: Uint8Array | undefined): void {
    if (!ourPublicKey) {
      this.mac1Key.fill(0);
      this.cookieKey.fill(0);
      return;
    }
    this.mac1Key = mac1KeyFor(ourPublicKey);
    this.cookieKey = cookieKeyFor(ourPublicKey);
    this.secretSetAt = -Infinity;
  }

  checkMac1(msg: Buffer): boolean {
    const offsets = macOffsets(msg);
    if (!offsets) return false;
    const expected = mac(this.mac1Key, msg.subarray(0, offsets.mac1));
    return equalBytes(expected, msg.subarray(offsets.mac1, offsets.mac1 + 16));
  }

  private currentCookie(source: Buffer): Buffer {
    const now = this.clock();
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME_MS) {
      this.secret = randomBytes(32);
      this.secretSetAt = now;
    }
    return mac(this.secret, source);
  }

  checkMac2(msg: Buffer, source: Buffer): boolean {
    const offsets = macOffsets(msg);
    if (!offsets) return false;
    if (this.clock() - this.secretSetAt > COOKIE_REFRESH_TIME_MS) return false;
    const cookie = this.currentCookie(source);
    const expected = mac(cookie, msg.subarray(0, offsets.mac2));
    return equalBytes(expected, msg.subarray(offsets.mac2, offsets.mac2 + 16));
  }

  /** The cookie reply answering `msg` (whose mac1 was valid), sent back to its source. */
  createReply(msg: Buffer, receiverIndex: number, source: Buffer): Buffer {
    const offsets = macOffsets(msg);
    if (!offsets) throw new Error('cookie reply for a message without macs');
    const cookie = this.currentCookie(source);
    const reply = Buffer.alloc(COOKIE_REPLY_SIZE);
    reply.writeUInt32LE(MESSAGE_COOKIE_REPLY, 0);
    reply.writeUInt32LE(receiverIndex >>> 0, 4);
    const nonce = randomBytes(24);
    nonce.copy(reply, 8);
    xaeadSeal(this.cookieKey, nonce, cookie, msg.subarray(offsets.mac1, offsets.mac1 + 16)).copy(reply, 32);
    return reply;
  }
}

export class CookieGenerator {
  private readonly mac1Key: Buffer;
  private readonly cookieKey: Buffer;
  private cookie?: Buffer;
  private cookieSetAt = -Infinity;
  private lastMac1?: Buffer;

  constructor(peerPublicKey: Uint8Array, private readonly clock: () => number = () => performance.now()) {
    this.mac1Key = mac1KeyFor(peerPublicKey);
    this.cookieKey = cookieKeyFor(peerPublicKey);
  }

  /** Writes mac1, and mac2 while a fresh cookie is held, into a handshake message. */
  addMacs(msg: Buffer): void {
    const offsets = macOffsets(msg);
    if (!offsets) throw new Error('macs for a message that has none');
    const mac1 = mac(this.mac1Key, msg.subarray(0, offsets.mac1));
    mac1.copy(msg, offsets.mac1);
    this.lastMac1 = mac1;
    if (this.cookie && this.clock() - this.cookieSetAt < COOKIE_REFRESH_TIME_MS) {
      mac(this.cookie, msg.subarray(0, offsets.mac2)).copy(msg, offsets.mac2);
    } else {
      msg.fill(0, offsets.mac2, offsets.mac2 + 16);
    }
  }

  /** Stores the cookie from a reply to our last handshake; false when it does not authenticate. */
  consumeReply(reply: Buffer): boolean {
    if (reply.length !== COOKIE_REPLY_SIZE || !this.lastMac1) return false;
    const cookie = xaeadOpen(this.cookieKey, reply.subarray(8, 32), reply.subarray(32, 64), this.lastMac1);
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSetAt = this.clock();
    return true;
  }

  hasFreshCookie(): boolean {
    return this.cookie !== undefined && this.clock() - this.cookieSetAt < COOKIE_REFRESH_TIME_MS;
  }
}
