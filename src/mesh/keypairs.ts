/**
 * Session keys from one handshake, and a peer's three slots (reference §3): `current` sends,
 * `next` is a responder's unconfirmed session (never sent on), `previous` still receives
 * packets that were in flight during a rekey.
 */
import { ReplayFilter } from './replay.js';

export class Keypair {
  /** Raw keys: the native data path seals and opens with them (receiveKey is registered there by index). */
  readonly sendKey: Buffer;
  readonly receiveKey: Buffer;
  /** Next counter to send; a double is exact far beyond any counter a session can reach. */
  sendCounter = 0;
  readonly replay = new ReplayFilter();
  /** Monotonic ms (performance.now) at derivation. */
  readonly createdAt: number;
  /** Set once the receive-side rekey (165 s) was triggered for this keypair. */
  rekeyOnReceiveTriggered = false;
  wiped = false;

  constructor(
    sendKey: Buffer,
    receiveKey: Buffer,
    readonly isInitiator: boolean,
    readonly localIndex: number,
    readonly remoteIndex: number,
    now: number,
  ) {
    this.sendKey = Buffer.from(sendKey);
    this.receiveKey = Buffer.from(receiveKey);
    sendKey.fill(0);
    receiveKey.fill(0);
    this.createdAt = now;
  }

  wipe(): void {
    this.wiped = true;
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }

  ageMs(now: number): number {
    return now - this.createdAt;
  }
}

export class KeypairSlots {
  previous?: Keypair;
  current?: Keypair;
  next?: Keypair;

  all(): Keypair[] {
    return [this.previous, this.current, this.next].filter((k): k is Keypair => k !== undefined);
  }

  /** Installs a fresh session; returns keypairs that fell out (their indices must be released). */
  install(keypair: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (keypair.isInitiator) {
      // The initiator has key confirmation already: the new session sends at once.
      if (this.next) {
        if (this.previous) dropped.push(this.previous);
        this.previous = this.next;
        this.next = undefined;
        if (this.current) dropped.push(this.current);
      } else {
        if (this.previous) dropped.push(this.previous);
        this.previous = this.current;
      }
      this.current = keypair;
    } else {
      if (this.next) dropped.push(this.next);
      this.next = keypair;
      if (this.previous) dropped.push(this.previous);
      this.previous = undefined;
    }
    return dropped;
  }

  /** A packet decrypted under `next`: promote it. Returns the keypair that fell out. */
  confirmNext(keypair: Keypair): Keypair | undefined {
    if (this.next !== keypair) return undefined;
    const dropped = this.previous;
    this.previous = this.current;
    this.current = keypair;
    this.next = undefined;
    return dropped;
  }

  clear(): Keypair[] {
    const all = this.all();
    this.previous = this.current = this.next = undefined;
    return all;
  }
}
