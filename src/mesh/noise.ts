/**
 * Noise_IKpsk2 as WireGuard runs it (reference §3): create/consume the initiation and the
 * response, then split the chaining key into the session's two transport keys. Functions here
 * touch only the handshake state they are given; mac1/mac2 live in cookie.ts.
 */
import { createHash } from 'node:crypto';
import { dh, handshakeOpen, handshakeSeal, hash, kdf, newEphemeral, tai64n, type Ephemeral, KEY_LEN } from './crypto.js';
import { Keypair } from './keypairs.js';
import {
  CONSTRUCTION, HANDSHAKE_INITIATION_RATE_MS, IDENTIFIER, INITIATION_SIZE, MESSAGE_INITIATION, MESSAGE_RESPONSE, RESPONSE_SIZE,
} from './messages.js';

// Computed with node:crypto so that importing this module does not load the native addon.
export const INITIAL_CHAINING_KEY = createHash('blake2s256').update(CONSTRUCTION).digest();
export const INITIAL_HASH = createHash('blake2s256').update(INITIAL_CHAINING_KEY).update(IDENTIFIER).digest();
const EMPTY = Buffer.alloc(0);

export enum HandshakeState {
  Zeroed,
  InitiationCreated,
  InitiationConsumed,
  ResponseCreated,
  ResponseConsumed,
}

/** This node's static identity (raw keys, the private one clamped). */
export interface LocalIdentity {
  privateKey: Buffer;
  publicKey: Buffer;
}

/**
 * The part of an initiation that does not depend on the time it is sent: the ephemeral, the DH
 * with the peer's static key, the encrypted static key and the chaining state up to the
 * timestamp. Prepared ahead (handshakes.ts does it after a peer appears and after each use), so
 * a packet waiting for a session waits for none of it. Used once.
 */
export interface PreparedInitiation {
  ephemeral: Ephemeral;
  chainingKey: Buffer;
  hash: Buffer;
  /** Seals the timestamp. */
  key: Buffer;
  encryptedStatic: Buffer;
}

/** A response's ephemeral with its DH against the peer's static key (`se`), prepared ahead; used once. */
export interface PreparedResponse {
  ephemeral: Ephemeral;
  staticEphemeral: Buffer;
}

/** One peer's handshake state. */
export class Handshake {
  state = HandshakeState.Zeroed;
  chainingKey: Buffer = Buffer.alloc(KEY_LEN);
  hash: Buffer = Buffer.alloc(KEY_LEN);
  localEphemeral?: Ephemeral;
  remoteEphemeral?: Buffer;
  localIndex = 0;
  remoteIndex = 0;
  /** Greatest TAI64N accepted from this peer; initiations must beat it. */
  latestTimestamp: Buffer = Buffer.alloc(12);
  /** Monotonic ms of the last accepted initiation (flood guard). */
  lastInitiationConsumedAt = -Infinity;
  presharedKey: Buffer = Buffer.alloc(KEY_LEN);
  preparedInitiation?: PreparedInitiation;
  preparedResponse?: PreparedResponse;
  private local?: LocalIdentity;
  private staticStaticDone = false;
  private staticStaticValue?: Buffer;

  constructor(readonly remoteStatic: Buffer) {}

  /** Our identity (re)set: what was derived from the old one is dropped, and recomputed when needed. */
  setLocal(local: LocalIdentity | undefined): void {
    this.local = local;
    this.staticStaticDone = false;
    this.staticStaticValue?.fill(0);
    this.staticStaticValue = undefined;
    this.dropPrepared();
  }

  /** DH(our static, their static), once per identity; undefined without an identity or for a low-order key. */
  get staticStatic(): Buffer | undefined {
    if (!this.staticStaticDone) {
      this.staticStaticValue = this.local ? dh(this.local.privateKey, this.remoteStatic) : undefined;
      this.staticStaticDone = true;
    }
    return this.staticStaticValue;
  }

  /** Computes what the next initiation and response can have ready; false when there is nothing to do. */
  prepare(): boolean {
    if (!this.local || !this.staticStatic) return false;
    let worked = false;
    if (!this.preparedInitiation) {
      this.preparedInitiation = prepareInitiation(this.local, this);
      worked = true;
    }
    if (!this.preparedResponse) {
      const ephemeral = newEphemeral();
      const staticEphemeral = dh(ephemeral.privateKey, this.remoteStatic);
      if (staticEphemeral) this.preparedResponse = { ephemeral, staticEphemeral };
      worked = true;
    }
    return worked;
  }

  private dropPrepared(): void {
    const initiation = this.preparedInitiation;
    if (initiation) for (const secret of [initiation.ephemeral.privateKey, initiation.chainingKey, initiation.key]) secret.fill(0);
    const response = this.preparedResponse;
    if (response) for (const secret of [response.ephemeral.privateKey, response.staticEphemeral]) secret.fill(0);
    this.preparedInitiation = undefined;
    this.preparedResponse = undefined;
  }

  clear(): void {
    this.state = HandshakeState.Zeroed;
    this.chainingKey.fill(0);
    this.hash.fill(0);
    this.localEphemeral = undefined;
    this.remoteEphemeral = undefined;
    this.localIndex = 0;
    this.remoteIndex = 0;
  }
}

function mixHash(h: Buffer, data: Uint8Array): Buffer {
  return hash(h, data);
}

export interface InitiationOptions {
  ephemeral?: Ephemeral;
  timestamp?: Buffer;
}

/** Message 1 up to its timestamp (see PreparedInitiation). Undefined if the peer's key is unusable. */
export function prepareInitiation(local: LocalIdentity, hs: Handshake, ephemeral: Ephemeral = newEphemeral()): PreparedInitiation | undefined {
  if (!hs.staticStatic) return undefined;
  let c: Buffer = Buffer.from(INITIAL_CHAINING_KEY);
  let h = mixHash(INITIAL_HASH, hs.remoteStatic);
  [c] = kdf(1, c, ephemeral.publicKey);
  h = mixHash(h, ephemeral.publicKey);

  const es = dh(ephemeral.privateKey, hs.remoteStatic);
  if (!es) return undefined;
  let key: Buffer;
  [c, key] = kdf(2, c, es);
  const encryptedStatic = handshakeSeal(key, local.publicKey, h);
  h = mixHash(h, encryptedStatic);
  key.fill(0);

  [c, key] = kdf(2, c, hs.staticStatic);
  return { ephemeral, chainingKey: c, hash: h, key, encryptedStatic };
}

/**
 * Builds message 1 (mac1/mac2 left zero), from the prepared part when there is one. Returns
 * undefined if the peer's key is unusable.
 */
export function createInitiation(local: LocalIdentity, hs: Handshake, senderIndex: number, options: InitiationOptions = {}): Buffer | undefined {
  let prepared: PreparedInitiation | undefined;
  if (options.ephemeral) {
    prepared = prepareInitiation(local, hs, options.ephemeral);
  } else {
    prepared = hs.preparedInitiation ?? prepareInitiation(local, hs);
    hs.preparedInitiation = undefined;
  }
  if (!prepared) return undefined;
  const { ephemeral, chainingKey: c, key, encryptedStatic } = prepared;
  let h = prepared.hash;
  const msg = Buffer.alloc(INITIATION_SIZE);
  msg.writeUInt32LE(MESSAGE_INITIATION, 0);
  msg.writeUInt32LE(senderIndex >>> 0, 4);
  ephemeral.publicKey.copy(msg, 8);
  encryptedStatic.copy(msg, 40);

  const encryptedTimestamp = handshakeSeal(key, options.timestamp ?? tai64n(), h);
  encryptedTimestamp.copy(msg, 88);
  h = mixHash(h, encryptedTimestamp);
  key.fill(0);

  hs.chainingKey = c;
  hs.hash = h;
  hs.localEphemeral = ephemeral;
  hs.localIndex = senderIndex >>> 0;
  hs.remoteIndex = 0;
  hs.state = HandshakeState.InitiationCreated;
  return msg;
}

export type ConsumeInitiationResult<P> = { peer: P; handshake: Handshake; timestamp: Buffer } | { error: string; peer?: P };

/**
 * Consumes message 1 (its macs already checked). The peer is found by the decrypted static key;
 * its state changes only once the timestamp passed the replay and flood rules.
 */
export function consumeInitiation<P>(
  local: LocalIdentity,
  msg: Buffer,
  findPeer: (remoteStatic: Buffer) => { peer: P; handshake: Handshake } | undefined,
  now: number,
): ConsumeInitiationResult<P> {
  if (msg.length !== INITIATION_SIZE || msg.readUInt32LE(0) !== MESSAGE_INITIATION) return { error: 'not an initiation' };
  let c: Buffer = Buffer.from(INITIAL_CHAINING_KEY);
  let h = mixHash(INITIAL_HASH, local.publicKey);
  const ephemeralPublic = Buffer.from(msg.subarray(8, 40));
  [c] = kdf(1, c, ephemeralPublic);
  h = mixHash(h, ephemeralPublic);
  const es = dh(local.privateKey, ephemeralPublic);
  if (!es) return { error: 'low-order ephemeral key' };
  let key: Buffer;
  [c, key] = kdf(2, c, es);
  const encryptedStatic = msg.subarray(40, 88);
  const remoteStatic = handshakeOpen(key, encryptedStatic, h);
  if (!remoteStatic) return { error: 'static key does not decrypt' };
  h = mixHash(h, encryptedStatic);

  const found = findPeer(remoteStatic);
  if (!found) return { error: 'unknown peer' };
  const hs = found.handshake;
  if (!hs.staticStatic) return { error: 'peer has an unusable key', peer: found.peer };
  [c, key] = kdf(2, c, hs.staticStatic);
  const encryptedTimestamp = msg.subarray(88, 116);
  const timestamp = handshakeOpen(key, encryptedTimestamp, h);
  key.fill(0);
  if (!timestamp) return { error: 'timestamp does not decrypt', peer: found.peer };
  h = mixHash(h, encryptedTimestamp);

  if (Buffer.compare(timestamp, hs.latestTimestamp) <= 0) return { error: 'replayed initiation (old timestamp)', peer: found.peer };
  if (now - hs.lastInitiationConsumedAt < HANDSHAKE_INITIATION_RATE_MS) return { error: 'initiation flood', peer: found.peer };

  hs.hash = h;
  hs.chainingKey = c;
  hs.remoteIndex = msg.readUInt32LE(4);
  hs.remoteEphemeral = ephemeralPublic;
  hs.latestTimestamp = timestamp;
  hs.lastInitiationConsumedAt = now;
  hs.state = HandshakeState.InitiationConsumed;
  return { peer: found.peer, handshake: hs, timestamp };
}

/**
 * Message 2's key schedule after its ephemeral, the same on both sides: the two DH results, then
 * the preshared key. Returns the chaining key, the hash with tau mixed in, and the key that seals
 * the empty payload.
 */
function mixResponseSecrets(chainingKey: Buffer, hash: Buffer, ee: Buffer, se: Buffer, presharedKey: Buffer): { chainingKey: Buffer; hash: Buffer; key: Buffer } {
  let [c] = kdf(1, chainingKey, ee);
  [c] = kdf(1, c, se);
  const [next, tau, key] = kdf(3, c, presharedKey);
  const h = mixHash(hash, tau);
  tau.fill(0);
  return { chainingKey: next, hash: h, key };
}

/** Builds message 2 (macs zero) for a consumed initiation, with the prepared ephemeral when there is one. */
export function createResponse(hs: Handshake, senderIndex: number, options: { ephemeral?: Ephemeral } = {}): Buffer | undefined {
  if (hs.state !== HandshakeState.InitiationConsumed || !hs.remoteEphemeral) return undefined;
  const msg = Buffer.alloc(RESPONSE_SIZE);
  msg.writeUInt32LE(MESSAGE_RESPONSE, 0);
  msg.writeUInt32LE(senderIndex >>> 0, 4);
  msg.writeUInt32LE(hs.remoteIndex >>> 0, 8);

  const prepared = options.ephemeral ? undefined : hs.preparedResponse;
  hs.preparedResponse = undefined;
  const ephemeral = options.ephemeral ?? prepared?.ephemeral ?? newEphemeral();
  ephemeral.publicKey.copy(msg, 12);
  let c: Buffer = hs.chainingKey;
  let h: Buffer = hs.hash;
  [c] = kdf(1, c, ephemeral.publicKey);
  h = mixHash(h, ephemeral.publicKey);
  const ee = dh(ephemeral.privateKey, hs.remoteEphemeral);
  const se = prepared?.staticEphemeral ?? dh(ephemeral.privateKey, hs.remoteStatic);
  if (!ee || !se) return undefined;
  let key: Buffer;
  ({ chainingKey: c, hash: h, key } = mixResponseSecrets(c, h, ee, se, hs.presharedKey));
  const empty = handshakeSeal(key, EMPTY, h);
  empty.copy(msg, 44);
  h = mixHash(h, empty);
  key.fill(0);

  hs.chainingKey = c;
  hs.hash = h;
  hs.localEphemeral = ephemeral;
  hs.localIndex = senderIndex >>> 0;
  hs.state = HandshakeState.ResponseCreated;
  return msg;
}

export type ConsumeResponseResult<P> = { peer: P; handshake: Handshake } | { error: string; peer?: P };

/** Consumes message 2 (macs checked); the handshake is found by our index in receiver_index. */
export function consumeResponse<P>(
  local: LocalIdentity,
  msg: Buffer,
  findByIndex: (index: number) => { peer: P; handshake: Handshake } | undefined,
): ConsumeResponseResult<P> {
  if (msg.length !== RESPONSE_SIZE || msg.readUInt32LE(0) !== MESSAGE_RESPONSE) return { error: 'not a response' };
  const found = findByIndex(msg.readUInt32LE(8));
  if (!found) return { error: 'response for an unknown index' };
  const hs = found.handshake;
  if (hs.state !== HandshakeState.InitiationCreated || !hs.localEphemeral) return { error: 'response in the wrong state', peer: found.peer };

  const ephemeralPublic = msg.subarray(12, 44);
  let c: Buffer = hs.chainingKey;
  let h: Buffer = mixHash(hs.hash, ephemeralPublic);
  [c] = kdf(1, c, ephemeralPublic);
  const ee = dh(hs.localEphemeral.privateKey, ephemeralPublic);
  const se = dh(local.privateKey, ephemeralPublic);
  if (!ee || !se) return { error: 'low-order ephemeral key', peer: found.peer };
  let key: Buffer;
  ({ chainingKey: c, hash: h, key } = mixResponseSecrets(c, h, ee, se, hs.presharedKey));
  const empty = msg.subarray(44, 60);
  const opened = handshakeOpen(key, empty, h);
  key.fill(0);
  if (!opened) return { error: 'response does not authenticate', peer: found.peer };
  h = mixHash(h, empty);

  hs.chainingKey = c;
  hs.hash = h;
  hs.remoteIndex = msg.readUInt32LE(4);
  hs.state = HandshakeState.ResponseConsumed;
  return { peer: found.peer, handshake: hs };
}

/** Splits the chaining key into a session (initiator after consuming msg 2, responder after creating it). */
export function deriveKeypair(hs: Handshake, now: number): Keypair | undefined {
  let isInitiator: boolean;
  if (hs.state === HandshakeState.ResponseConsumed) isInitiator = true;
  else if (hs.state === HandshakeState.ResponseCreated) isInitiator = false;
  else return undefined;
  const [first, second] = kdf(2, hs.chainingKey, EMPTY);
  const keypair = isInitiator
    ? new Keypair(first, second, true, hs.localIndex, hs.remoteIndex, now)
    : new Keypair(second, first, false, hs.localIndex, hs.remoteIndex, now);
  hs.chainingKey.fill(0);
  hs.hash.fill(0);
  hs.localEphemeral = undefined;
  hs.remoteEphemeral = undefined;
  hs.state = HandshakeState.Zeroed;
  return keypair;
}
