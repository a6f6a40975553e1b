/**
 * Handshakes (reference §3, §4): sending initiations, answering them, consuming responses and
 * cookie replies. Received handshake messages are queued and handled a bounded number per
 * event-loop turn, so transport packets keep flowing during a flood and the queue's length is
 * a real backlog, which is what "under load" measures, as in wireguard-go.
 */
import { CookieChecker, CookieGenerator, sourceBytes } from './cookie.js';
import { newEphemeral } from './crypto.js';
import type { Device } from './device.js';
import {
  HANDSHAKE_QUEUE_SIZE, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, REKEY_TIMEOUT_MS, UNDER_LOAD_AFTER_TIME_MS, UNDER_LOAD_QUEUE_LENGTH,
} from './messages.js';
import { consumeInitiation, consumeResponse, createInitiation, createResponse, deriveKeypair, Handshake, type LocalIdentity } from './noise.js';
import { formatEndpoint, type Endpoint, type Peer } from './peer.js';

interface QueuedHandshake {
  msg: Buffer;
  endpoint: Endpoint;
}

const RATE_PER_SECOND = 20;
/** Peers whose next handshake messages are prepared per event-loop turn. */
const PREPARES_PER_TURN = 16;
/**
 * After a handshake message of ours left, its answer is on its way: the next one is prepared a
 * little later, not in the same loop turn, where it would delay that answer.
 */
const PREPARE_AFTER_USE_MS = 20;
const RATE_BURST = 5;
const HANDSHAKES_PER_TURN = 16;

/** Handshakes per source IP under load: 20/s with a burst of 5 (wireguard-go ratelimiter). */
class HandshakeRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  allow(address: string, now: number): boolean {
    if (now - this.lastSweep > 1000) {
      for (const [key, bucket] of this.buckets) if (now - bucket.at > 1000) this.buckets.delete(key);
      this.lastSweep = now;
    }
    let bucket = this.buckets.get(address);
    if (!bucket) {
      bucket = { tokens: RATE_BURST, at: now };
      this.buckets.set(address, bucket);
    }
    bucket.tokens = Math.min(RATE_BURST, bucket.tokens + ((now - bucket.at) / 1000) * RATE_PER_SECOND);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

export class Handshakes {
  readonly cookieChecker = new CookieChecker();
  private readonly rateLimiter = new HandshakeRateLimiter();
  private queue: QueuedHandshake[] = [];
  private drainScheduled = false;
  private lastUnderLoad = -Infinity;
  private readonly toPrepare = new Set<Peer>();

  constructor(private readonly device: Device) {}

  /**
   * After this event-loop turn (off the packet path), computes what the peer's next initiation
   * and response can have ready: the DHs that do not need the other side's ephemeral. Asked for
   * when a peer appears or our key changes, and after each initiation or response sent.
   */
  prepareSoon(peer: Peer, afterMs = 0): void {
    if (afterMs > 0) {
      setTimeout(() => this.prepareSoon(peer), afterMs).unref();
      return;
    }
    this.toPrepare.add(peer);
    if (this.toPrepare.size === 1) setImmediate(() => this.prepareWaiting());
  }

  private prepareWaiting(): void {
    let done = 0;
    for (const peer of this.toPrepare) {
      if (done === PREPARES_PER_TURN) break;
      this.toPrepare.delete(peer);
      if (!peer.removed && !this.device.isClosed && peer.handshake.prepare()) done += 1;
    }
    if (this.toPrepare.size > 0) setImmediate(() => this.prepareWaiting());
  }

  sendInitiation(peer: Peer, isRetry: boolean): void {
    const device = this.device;
    if (peer.removed || !device.identity || !device.canSend) return;
    if (!isRetry) peer.timers.handshakeAttempts = 0;
    const now = performance.now();
    if (now - peer.lastSentHandshake < REKEY_TIMEOUT_MS) return;
    peer.lastSentHandshake = now;
    if (!peer.endpoint) {
      device.drops.noEndpoint += 1;
      device.log.verbose(`${peer.label}: no endpoint yet, cannot send a handshake initiation`);
      return;
    }
    device.releaseHandshakeIndex(peer);
    const index = device.newIndex({ peer });
    const msg = createInitiation(device.identity, peer.handshake, index);
    if (!msg) {
      device.forgetIndex(index);
      device.log.verbose(`${peer.label}: public key is unusable (low order), not initiating`);
      return;
    }
    peer.cookieGenerator.addMacs(msg);
    device.log.verbose(`${peer.label}: sending handshake initiation to ${formatEndpoint(peer.endpoint)}`);
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    device.sendDatagram(peer, msg);
    peer.txBytes += msg.length;
    peer.timers.handshakeInitiated();
    this.prepareSoon(peer, PREPARE_AFTER_USE_MS);
  }

  enqueue(msg: Buffer, endpoint: Endpoint): void {
    if (this.queue.length >= HANDSHAKE_QUEUE_SIZE) {
      this.device.drops.handshakeQueueFull += 1;
      return;
    }
    this.queue.push({ msg, endpoint });
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.drainScheduled = false;
    const now = performance.now();
    if (this.queue.length >= UNDER_LOAD_QUEUE_LENGTH) this.lastUnderLoad = now;
    const underLoad = now - this.lastUnderLoad < UNDER_LOAD_AFTER_TIME_MS;
    const batch = this.queue.splice(0, HANDSHAKES_PER_TURN);
    if (this.queue.length > 0) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
    for (const item of batch) {
      if (this.device.isClosed) return;
      try {
        this.handle(item.msg, item.endpoint, underLoad);
      } catch (error) {
        this.device.drops.malformed += 1;
        this.device.log.error(`dropped a handshake message that raised: ${(error as Error).message}`);
      }
    }
  }

  private reject(message: 'initiation' | 'response', endpoint: Endpoint, error: string): void {
    this.device.drops.handshakeRejected += 1;
    this.device.log.verbose(`dropped a handshake ${message} from ${formatEndpoint(endpoint)}: ${error}`);
  }

  /** An authenticated handshake message: the peer roams to where it came from, and its timers hear of it. */
  private acceptFrom(peer: Peer, endpoint: Endpoint, length: number): void {
    this.device.moveEndpoint(peer, endpoint);
    peer.rxBytes += length;
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
  }

  /** Under load: demand mac2 (send a cookie), then rate-limit per source IP. Returns false to drop. */
  private passesLoadChecks(msg: Buffer, endpoint: Endpoint, underLoad: boolean): boolean {
    const drops = this.device.drops;
    if (!this.cookieChecker.checkMac1(msg)) {
      drops.badMac1 += 1;
      return false;
    }
    if (!underLoad) return true;
    const source = sourceBytes(endpoint.address, endpoint.port);
    if (!this.cookieChecker.checkMac2(msg, source)) {
      const reply = this.cookieChecker.createReply(msg, msg.readUInt32LE(4), source);
      this.device.sendDatagramTo(endpoint, reply);
      drops.cookieRepliesSent += 1;
      return false;
    }
    if (!this.rateLimiter.allow(endpoint.address, performance.now())) {
      drops.rateLimited += 1;
      return false;
    }
    return true;
  }

  private handle(msg: Buffer, endpoint: Endpoint, underLoad: boolean): void {
    const device = this.device;
    if (!device.identity) return;
    const type = msg.readUInt32LE(0);
    if (type === MESSAGE_COOKIE_REPLY) {
      const entry = device.lookupIndex(msg.readUInt32LE(4));
      if (!entry || !entry.peer.cookieGenerator.consumeReply(msg)) device.drops.unauthenticated += 1;
      else device.log.verbose(`${entry.peer.label}: received a cookie reply (peer is under load)`);
      return;
    }
    if (!this.passesLoadChecks(msg, endpoint, underLoad)) return;
    const now = performance.now();

    if (type === MESSAGE_INITIATION) {
      const result = consumeInitiation(device.identity, msg, (key) => {
        const peer = device.findPeer(key);
        return peer && !peer.removed ? { peer, handshake: peer.handshake } : undefined;
      }, now);
      if ('error' in result) {
        this.reject('initiation', endpoint, result.error);
        return;
      }
      const peer = result.peer;
      this.acceptFrom(peer, endpoint, msg.length);
      device.log.verbose(`${peer.label}: received handshake initiation from ${formatEndpoint(endpoint)}`);
      this.sendResponse(peer, now);
      return;
    }

    // MESSAGE_RESPONSE
    const result = consumeResponse(device.identity, msg, (index) => {
      const entry = device.lookupIndex(index);
      return entry && !entry.keypair && !entry.peer.removed ? { peer: entry.peer, handshake: entry.peer.handshake } : undefined;
    });
    if ('error' in result) {
      this.reject('response', endpoint, result.error);
      return;
    }
    const peer = result.peer;
    this.acceptFrom(peer, endpoint, msg.length);
    const keypair = deriveKeypair(peer.handshake, now);
    if (!keypair) return;
    device.installKeypair(peer, keypair);
    device.log.verbose(`${peer.label}: received handshake response, session established (initiator)`);
    peer.timers.sessionDerived();
    peer.timers.handshakeComplete();
    // Confirm the session to the responder at once: staged data, or a keepalive.
    device.outbound.sendKeepalive(peer);
  }

  private sendResponse(peer: Peer, now: number): void {
    const device = this.device;
    if (!device.identity) return;
    device.releaseHandshakeIndex(peer);
    const index = device.newIndex({ peer });
    const msg = createResponse(peer.handshake, index);
    if (!msg) {
      device.forgetIndex(index);
      return;
    }
    peer.cookieGenerator.addMacs(msg);
    const keypair = deriveKeypair(peer.handshake, now);
    if (!keypair) {
      device.forgetIndex(index);
      return;
    }
    device.installKeypair(peer, keypair);
    peer.lastSentHandshake = now;
    peer.timers.sessionDerived();
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    device.sendDatagram(peer, msg);
    peer.txBytes += msg.length;
    device.log.verbose(`${peer.label}: sent handshake response`);
    this.prepareSoon(peer, PREPARE_AFTER_USE_MS);
  }
}

let warmedUp = false;
const WARM_UP_ROUNDS = 6;

/**
 * A few complete handshakes between throwaway identities, once per process, one per event-loop
 * turn: the first real handshake otherwise pays for compiling this JavaScript (interpreted, then
 * baseline-compiled after a few calls) and for the first native and OpenSSL calls, which showed
 * as a slow first ping.
 */
export function warmUpHandshakeCode(): void {
  if (warmedUp) return;
  warmedUp = true;
  let round = 0;
  const next = () => {
    oneThrowawayHandshake();
    if (++round < WARM_UP_ROUNDS) setImmediate(next).unref();
  };
  next();
}

function oneThrowawayHandshake(): void {
  const identity = (): LocalIdentity => newEphemeral();
  const initiator = identity();
  const responder = identity();
  const onInitiator = new Handshake(responder.publicKey);
  onInitiator.setLocal(initiator);
  const onResponder = new Handshake(initiator.publicKey);
  onResponder.setLocal(responder);
  const checker = new CookieChecker();
  checker.init(responder.publicKey);
  const initiation = createInitiation(initiator, onInitiator, 1);
  if (!initiation) return;
  new CookieGenerator(responder.publicKey).addMacs(initiation);
  if (!checker.checkMac1(initiation)) return;
  const consumed = consumeInitiation(responder, initiation, () => ({ peer: 0, handshake: onResponder }), performance.now());
  if ('error' in consumed) return;
  const response = createResponse(onResponder, 2);
  if (!response) return;
  consumeResponse(initiator, response, () => ({ peer: 0, handshake: onInitiator }));
  deriveKeypair(onInitiator, 0)?.wipe();
  deriveKeypair(onResponder, 0)?.wipe();
}
