/**
 * The mesh device: one UDP socket, one TUN (or any packet sink), many peers. It moves packets
 * TUN -> encrypt -> UDP and UDP -> decrypt -> TUN, runs handshakes (queued, so "under load" can
 * be measured as wireguard-go does), and keeps every counter `wg show` and `node status` report.
 * Anything malformed, unauthenticated, replayed or out of place is dropped and counted; nothing
 * an attacker sends changes peer state unless it authenticates.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { AllowedIps, type Prefix } from './allowed-ips.js';
import { CookieChecker, sourceBytes } from './cookie.js';
import { clampPrivateKey, isZero, x25519PrivateKeyObject, x25519PublicKey } from './crypto.js';
import type { Keypair } from './keypairs.js';
import { Logger } from './log.js';
import {
  HANDSHAKE_QUEUE_SIZE, INITIATION_SIZE, MAX_PEERS, MAX_STAGED_PACKETS, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT,
  REJECT_AFTER_MESSAGES, REJECT_AFTER_MESSAGES_NUMBER, REJECT_AFTER_TIME_MS, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME_MS, REKEY_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS,
  RESPONSE_SIZE, COOKIE_REPLY_SIZE, TRANSPORT_MIN_SIZE, UNDER_LOAD_AFTER_TIME_MS, UNDER_LOAD_QUEUE_LENGTH,
} from './messages.js';
import { consumeInitiation, consumeResponse, createInitiation, createResponse, deriveKeypair, type LocalIdentity } from './noise.js';
import { formatEndpoint, normalizeEndpoint, Peer, type Endpoint } from './peer.js';
import { decryptTransport, encryptTransport } from './transport.js';

/** Where decrypted packets go: the TUN device, or a test's collector. */
export interface PacketSink {
  write(packets: Buffer[]): void;
}

/** Why packets were dropped; `node status --json` shows these. */
export interface DropCounters {
  malformed: number;
  unknownIndex: number;
  unauthenticated: number;
  replayed: number;
  expiredKeypair: number;
  sourceNotAllowed: number;
  noRoute: number;
  noEndpoint: number;
  handshakeRejected: number;
  badMac1: number;
  cookieRepliesSent: number;
  rateLimited: number;
  handshakeQueueFull: number;
  stagedOverflow: number;
}

function zeroDrops(): DropCounters {
  return {
    malformed: 0, unknownIndex: 0, unauthenticated: 0, replayed: 0, expiredKeypair: 0, sourceNotAllowed: 0, noRoute: 0, noEndpoint: 0,
    handshakeRejected: 0, badMac1: 0, cookieRepliesSent: 0, rateLimited: 0, handshakeQueueFull: 0, stagedOverflow: 0,
  };
}

type IndexEntry = { peer: Peer; keypair?: Keypair };

/**
 * Endpoints are always numeric, so resolution is the identity. The default (dns.lookup) defers
 * every datagram to the next tick and re-parses the address; profiling put it in the send path.
 */
const numericLookup = ((address: string, _options: unknown, callback: (error: null, address: string, family: number) => void) => {
  callback(null, address, address.includes(':') ? 6 : 4);
}) as unknown as dgram.SocketOptions['lookup'];

interface QueuedHandshake {
  msg: Buffer;
  endpoint: Endpoint;
}

const RATE_PER_SECOND = 20;
const HANDSHAKES_PER_TURN = 16;
const RATE_BURST = 5;

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

export interface DeviceOptions {
  name: string;
  mtu?: number;
  sink?: PacketSink;
  logger?: Logger;
}

export class Device {
  readonly name: string;
  mtu: number;
  sink?: PacketSink;
  readonly log: Logger;
  readonly peers = new Map<string, Peer>();
  readonly allowedIps = new AllowedIps<Peer>();
  readonly drops = zeroDrops();
  identity?: LocalIdentity;
  private privateKeyRaw?: Buffer;
  /** Port asked for (0 = any); `port` is what the socket got. */
  listenPort = 0;
  port = 0;
  fwmark = 0;
  private socket?: dgram.Socket;
  private socketIsV6 = false;
  private readonly indexTable = new Map<number, IndexEntry>();
  private readonly cookieChecker = new CookieChecker();
  private readonly rateLimiter = new HandshakeRateLimiter();
  private handshakeQueue: QueuedHandshake[] = [];
  private handshakeDrainScheduled = false;
  private lastUnderLoad = -Infinity;
  private sinkQueue: Buffer[] = [];
  private sinkFlushScheduled = false;
  private closed = false;
  sendErrors = 0;
  private lastSocketErrorLog = -Infinity;

  constructor(options: DeviceOptions) {
    this.name = options.name;
    this.mtu = options.mtu ?? 1420;
    this.sink = options.sink;
    this.log = options.logger ?? new Logger('info', `${options.name}: `);
  }

  // ---- configuration (used by the config loader and by UAPI `set`) ----

  get privateKey(): Buffer | undefined {
    return this.privateKeyRaw;
  }

  setPrivateKey(key: Buffer | undefined): void {
    const clamped = key && !isZero(key) ? clampPrivateKey(key) : undefined;
    if (clamped && this.privateKeyRaw?.equals(clamped)) return;
    this.privateKeyRaw?.fill(0);
    this.privateKeyRaw = clamped;
    if (clamped) {
      const privateKey = x25519PrivateKeyObject(clamped);
      this.identity = { privateKey, publicKey: x25519PublicKey(privateKey) };
    } else {
      this.identity = undefined;
    }
    this.cookieChecker.init(this.identity?.publicKey);
    for (const peer of [...this.peers.values()]) {
      if (this.identity && peer.publicKey.equals(this.identity.publicKey)) {
        this.removePeer(peer);
        continue;
      }
      this.expireSessions(peer);
      peer.handshake.precompute(this.identity);
    }
  }

  /** Binds (or rebinds) the UDP socket. Port 0 picks a free port. */
  async setListenPort(port: number): Promise<void> {
    this.listenPort = port;
    if (this.socket && this.port === port && port !== 0) return;
    await this.bind(port);
  }

  private async bind(port: number): Promise<void> {
    const old = this.socket;
    const open = (type: 'udp4' | 'udp6') => new Promise<dgram.Socket>((resolve, reject) => {
      const socket = dgram.createSocket({ type, ipv6Only: false, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20, lookup: numericLookup });
      socket.once('error', reject);
      socket.bind(port, () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
    let socket: dgram.Socket;
    try {
      socket = await open('udp6');
      this.socketIsV6 = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw error;
      socket = await open('udp4');
      this.socketIsV6 = false;
    }
    old?.close();
    this.socket = socket;
    for (const peer of this.peers.values()) if (peer.endpoint) peer.endpoint.socketAddress = undefined;
    this.port = socket.address().port;
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
    socket.on('error', (error) => this.noteSocketError(error));
    this.log.verbose(`listening on UDP port ${this.port}`);
  }

  /** Send errors (unreachable endpoint, no route) come per datagram: count them, log every 5 s at most. */
  private noteSocketError(error: Error): void {
    this.sendErrors += 1;
    const now = performance.now();
    if (now - this.lastSocketErrorLog < 5000) return;
    this.lastSocketErrorLog = now;
    this.log.error(`UDP socket: ${error.message} (${this.sendErrors} send error(s) so far)`);
  }

  addPeer(publicKey: Buffer): Peer | undefined {
    const key = publicKey.toString('hex');
    const existing = this.peers.get(key);
    if (existing) return existing;
    if (this.identity && publicKey.equals(this.identity.publicKey)) return undefined;
    if (this.peers.size >= MAX_PEERS) throw new Error('too many peers');
    const peer = new Peer(Buffer.from(publicKey), (p) => ({
      sendInitiation: (isRetry) => this.sendInitiation(p, isRetry),
      sendKeepalive: () => this.sendKeepalive(p),
      dropStaged: () => { p.staged = []; },
      clearEndpointSource: () => { /* no sticky source: dgram cannot pick the local address */ },
      zeroKeyMaterial: () => this.zeroKeyMaterial(p),
      log: (message) => this.log.verbose(`${p.label}: ${message}`),
    }));
    peer.handshake.precompute(this.identity);
    this.peers.set(key, peer);
    return peer;
  }

  findPeer(publicKey: Buffer): Peer | undefined {
    return this.peers.get(publicKey.toString('hex'));
  }

  removePeer(peer: Peer): void {
    peer.removed = true;
    peer.timers.stopAll();
    this.zeroKeyMaterial(peer);
    this.allowedIps.removePeer(peer);
    peer.staged = [];
    this.peers.delete(peer.publicKey.toString('hex'));
  }

  removeAllPeers(): void {
    for (const peer of [...this.peers.values()]) this.removePeer(peer);
  }

  setPresharedKey(peer: Peer, key: Buffer | undefined): void {
    peer.presharedKey = key ?? Buffer.alloc(32);
  }

  setEndpoint(peer: Peer, endpoint: Endpoint | undefined): void {
    peer.endpoint = endpoint;
  }

  setPersistentKeepalive(peer: Peer, seconds: number): void {
    const was = peer.timers.persistentKeepaliveSeconds;
    peer.timers.persistentKeepaliveSeconds = seconds;
    if (seconds === 0) peer.timers.persistentKeepalive.del();
    // Turning it on sends one at once, so a peer behind NAT becomes reachable immediately.
    if (seconds > 0 && was === 0 && this.socket) this.sendKeepalive(peer);
  }

  addAllowedIp(peer: Peer, prefix: Prefix): void {
    this.allowedIps.insert(prefix, peer);
  }

  removeAllowedIp(peer: Peer, prefix: Prefix): void {
    this.allowedIps.remove(prefix, peer);
  }

  clearAllowedIps(peer: Peer): void {
    this.allowedIps.removePeer(peer);
  }

  // ---- outbound: packets from the TUN ----

  /** IP packets read from the TUN: route each to its peer by destination, encrypt, send. */
  sendPackets(packets: Buffer[]): void {
    if (packets.length === 1) {
      const peer = this.allowedIps.lookupPacket(packets[0], 'destination');
      if (peer) this.sendToPeer(peer, packets);
      else this.drops.noRoute += 1;
      return;
    }
    const byPeer = new Map<Peer, Buffer[]>();
    for (const packet of packets) {
      const peer = this.allowedIps.lookupPacket(packet, 'destination');
      if (!peer) {
        this.drops.noRoute += 1;
        continue;
      }
      const list = byPeer.get(peer);
      if (list) list.push(packet);
      else byPeer.set(peer, [packet]);
    }
    for (const [peer, list] of byPeer) this.sendToPeer(peer, list);
  }

  private usableForSending(keypair: Keypair | undefined, now: number): keypair is Keypair {
    return keypair !== undefined && !keypair.wiped && keypair.sendCounter < REJECT_AFTER_MESSAGES_NUMBER && keypair.ageMs(now) < REJECT_AFTER_TIME_MS;
  }

  private stage(peer: Peer, packets: Buffer[]): void {
    for (const packet of packets) peer.staged.push(packet);
    if (peer.staged.length > MAX_STAGED_PACKETS) {
      this.drops.stagedOverflow += peer.staged.length - MAX_STAGED_PACKETS;
      peer.staged.splice(0, peer.staged.length - MAX_STAGED_PACKETS);
    }
  }

  /** Sends data packets (an empty buffer is a keepalive), staging them while there is no session. */
  private sendToPeer(peer: Peer, packets: Buffer[]): void {
    if (peer.removed) return;
    const now = performance.now();
    const keypair = peer.keypairs.current;
    if (!this.usableForSending(keypair, now)) {
      this.stage(peer, packets);
      this.sendInitiation(peer, false);
      return;
    }
    if (!peer.endpoint || !this.socket) {
      this.drops.noEndpoint += packets.length;
      return;
    }
    const staged = peer.staged;
    if (staged.length > 0) peer.staged = [];
    let sentData = false;
    const send = (packet: Buffer) => {
      const msg = encryptTransport(keypair, packet, this.mtu);
      this.socketSend(msg, peer.endpoint!);
      peer.txBytes += msg.length;
      if (packet.length > 0) sentData = true;
    };
    for (const packet of staged) send(packet);
    for (const packet of packets) send(packet);
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    if (sentData) peer.timers.dataSent();
    // Only the session's initiator rekeys on time, so the two sides never race (reference §8).
    if (keypair.sendCounter > REKEY_AFTER_MESSAGES || (keypair.isInitiator && keypair.ageMs(now) > REKEY_AFTER_TIME_MS)) {
      this.sendInitiation(peer, false);
    }
  }

  private sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) this.sendToPeer(peer, [Buffer.alloc(0)]);
    else this.sendToPeer(peer, []);
  }

  private socketSend(msg: Buffer, endpoint: Endpoint): void {
    if (endpoint.socketAddress === undefined) endpoint.socketAddress = this.socketIsV6 && endpoint.family === 4 ? `::ffff:${endpoint.address}` : endpoint.address;
    this.socket!.send(msg, endpoint.port, endpoint.socketAddress);
  }

  // ---- handshakes ----

  private newIndex(entry: IndexEntry): number {
    for (;;) {
      const index = randomInt(0x1_0000_0000);
      if (!this.indexTable.has(index)) {
        this.indexTable.set(index, entry);
        return index;
      }
    }
  }

  private releaseHandshakeIndex(peer: Peer): void {
    const index = peer.handshake.localIndex;
    const entry = this.indexTable.get(index);
    if (index !== 0 && entry && entry.peer === peer && !entry.keypair) this.indexTable.delete(index);
  }

  private releaseKeypairs(keypairs: Array<Keypair | undefined>): void {
    for (const keypair of keypairs) {
      if (!keypair) continue;
      keypair.wiped = true;
      const entry = this.indexTable.get(keypair.localIndex);
      if (entry?.keypair === keypair) this.indexTable.delete(keypair.localIndex);
    }
  }

  private sendInitiation(peer: Peer, isRetry: boolean): void {
    if (peer.removed || !this.identity || !this.socket) return;
    if (!isRetry) peer.timers.handshakeAttempts = 0;
    const now = performance.now();
    if (now - peer.lastSentHandshake < REKEY_TIMEOUT_MS) return;
    peer.lastSentHandshake = now;
    if (!peer.endpoint) {
      this.drops.noEndpoint += 1;
      this.log.verbose(`${peer.label}: no endpoint yet, cannot send a handshake initiation`);
      return;
    }
    this.releaseHandshakeIndex(peer);
    const index = this.newIndex({ peer });
    const msg = createInitiation(this.identity, peer.handshake, index);
    if (!msg) {
      this.indexTable.delete(index);
      this.log.verbose(`${peer.label}: public key is unusable (low order), not initiating`);
      return;
    }
    peer.cookieGenerator.addMacs(msg);
    this.log.verbose(`${peer.label}: sending handshake initiation to ${formatEndpoint(peer.endpoint)}`);
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    this.socketSend(msg, peer.endpoint);
    peer.txBytes += msg.length;
    peer.timers.handshakeInitiated();
  }

  private enqueueHandshake(msg: Buffer, endpoint: Endpoint): void {
    if (this.handshakeQueue.length >= HANDSHAKE_QUEUE_SIZE) {
      this.drops.handshakeQueueFull += 1;
      return;
    }
    this.handshakeQueue.push({ msg, endpoint });
    if (!this.handshakeDrainScheduled) {
      this.handshakeDrainScheduled = true;
      setImmediate(() => this.drainHandshakes());
    }
  }

  /**
   * Handles a bounded number of queued handshakes per event-loop turn, so transport packets keep
   * flowing during a flood and the queue's length is a real backlog, which is what "under load"
   * measures (reference §4).
   */
  private drainHandshakes(): void {
    this.handshakeDrainScheduled = false;
    const now = performance.now();
    if (this.handshakeQueue.length >= UNDER_LOAD_QUEUE_LENGTH) this.lastUnderLoad = now;
    const underLoad = now - this.lastUnderLoad < UNDER_LOAD_AFTER_TIME_MS;
    const batch = this.handshakeQueue.splice(0, HANDSHAKES_PER_TURN);
    if (this.handshakeQueue.length > 0) {
      this.handshakeDrainScheduled = true;
      setImmediate(() => this.drainHandshakes());
    }
    for (const item of batch) {
      if (this.closed) return;
      try {
        this.handleHandshake(item.msg, item.endpoint, underLoad);
      } catch (error) {
        this.drops.malformed += 1;
        this.log.error(`dropped a handshake message that raised: ${(error as Error).message}`);
      }
    }
  }

  private rejectHandshake(message: 'initiation' | 'response', endpoint: Endpoint, error: string): void {
    this.drops.handshakeRejected += 1;
    this.log.verbose(`dropped a handshake ${message} from ${formatEndpoint(endpoint)}: ${error}`);
  }

  /** An authenticated handshake message: the peer roams to where it came from, and its timers hear of it. */
  private acceptHandshakeFrom(peer: Peer, endpoint: Endpoint, length: number): void {
    peer.endpoint = endpoint;
    peer.rxBytes += length;
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
  }

  /** Under load: demand mac2 (send a cookie), then rate-limit per source IP. Returns false to drop. */
  private passesLoadChecks(msg: Buffer, endpoint: Endpoint, underLoad: boolean): boolean {
    if (!this.cookieChecker.checkMac1(msg)) {
      this.drops.badMac1 += 1;
      return false;
    }
    if (!underLoad) return true;
    const source = sourceBytes(endpoint.address, endpoint.port);
    if (!this.cookieChecker.checkMac2(msg, source)) {
      const reply = this.cookieChecker.createReply(msg, msg.readUInt32LE(4), source);
      this.socketSend(reply, endpoint);
      this.drops.cookieRepliesSent += 1;
      return false;
    }
    if (!this.rateLimiter.allow(endpoint.address, performance.now())) {
      this.drops.rateLimited += 1;
      return false;
    }
    return true;
  }

  private handleHandshake(msg: Buffer, endpoint: Endpoint, underLoad: boolean): void {
    if (!this.identity) return;
    const type = msg.readUInt32LE(0);
    if (type === MESSAGE_COOKIE_REPLY) {
      const entry = this.indexTable.get(msg.readUInt32LE(4));
      if (!entry || !entry.peer.cookieGenerator.consumeReply(msg)) this.drops.unauthenticated += 1;
      else this.log.verbose(`${entry.peer.label}: received a cookie reply (peer is under load)`);
      return;
    }
    if (!this.passesLoadChecks(msg, endpoint, underLoad)) return;
    const now = performance.now();

    if (type === MESSAGE_INITIATION) {
      const result = consumeInitiation(this.identity, msg, (key) => {
        const peer = this.findPeer(key);
        return peer && !peer.removed ? { peer, handshake: peer.handshake } : undefined;
      }, now);
      if ('error' in result) {
        this.rejectHandshake('initiation', endpoint, result.error);
        return;
      }
      const peer = result.peer;
      this.acceptHandshakeFrom(peer, endpoint, msg.length);
      this.log.verbose(`${peer.label}: received handshake initiation from ${formatEndpoint(endpoint)}`);
      this.sendResponse(peer, now);
      return;
    }

    // MESSAGE_RESPONSE
    const result = consumeResponse(this.identity, msg, (index) => {
      const entry = this.indexTable.get(index);
      return entry && !entry.keypair && !entry.peer.removed ? { peer: entry.peer, handshake: entry.peer.handshake } : undefined;
    });
    if ('error' in result) {
      this.rejectHandshake('response', endpoint, result.error);
      return;
    }
    const peer = result.peer;
    this.acceptHandshakeFrom(peer, endpoint, msg.length);
    const keypair = deriveKeypair(peer.handshake, now);
    if (!keypair) return;
    this.installKeypair(peer, keypair);
    this.log.verbose(`${peer.label}: received handshake response, session established (initiator)`);
    peer.timers.sessionDerived();
    peer.timers.handshakeComplete();
    // Confirm the session to the responder at once: staged data, or a keepalive.
    this.sendKeepalive(peer);
  }

  private sendResponse(peer: Peer, now: number): void {
    if (!this.identity) return;
    this.releaseHandshakeIndex(peer);
    const index = this.newIndex({ peer });
    const msg = createResponse(peer.handshake, index);
    if (!msg) {
      this.indexTable.delete(index);
      return;
    }
    peer.cookieGenerator.addMacs(msg);
    const keypair = deriveKeypair(peer.handshake, now);
    if (!keypair) {
      this.indexTable.delete(index);
      return;
    }
    this.installKeypair(peer, keypair);
    peer.lastSentHandshake = now;
    peer.timers.sessionDerived();
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    this.socketSend(msg, peer.endpoint!);
    peer.txBytes += msg.length;
    this.log.verbose(`${peer.label}: sent handshake response`);
  }

  private installKeypair(peer: Peer, keypair: Keypair): void {
    this.indexTable.set(keypair.localIndex, { peer, keypair });
    this.releaseKeypairs(peer.keypairs.install(keypair));
  }

  private expireSessions(peer: Peer): void {
    this.releaseHandshakeIndex(peer);
    peer.handshake.clear();
    this.releaseKeypairs(peer.keypairs.clear());
  }

  private zeroKeyMaterial(peer: Peer): void {
    this.log.verbose(`${peer.label}: removing all keys (no handshake for ${(REJECT_AFTER_TIME_MS * 3) / 1000} seconds)`);
    this.expireSessions(peer);
  }

  // ---- inbound: datagrams from the UDP socket ----

  /** One datagram from the network. Never throws: bad input is counted and dropped. */
  receive(msg: Buffer, address: string, port: number): void {
    if (this.closed) return;
    try {
      const type = msg.length >= 4 ? msg.readUInt32LE(0) : 0;
      if (type === MESSAGE_TRANSPORT && msg.length >= TRANSPORT_MIN_SIZE) {
        this.receiveTransport(msg, address, port);
        return;
      }
      if ((type === MESSAGE_INITIATION && msg.length === INITIATION_SIZE)
        || (type === MESSAGE_RESPONSE && msg.length === RESPONSE_SIZE)
        || (type === MESSAGE_COOKIE_REPLY && msg.length === COOKIE_REPLY_SIZE)) {
        this.enqueueHandshake(msg, normalizeEndpoint(address, port));
        return;
      }
      this.drops.malformed += 1;
    } catch (error) {
      this.drops.malformed += 1;
      this.log.error(`dropped a datagram that raised: ${(error as Error).message}`);
    }
  }

  private receiveTransport(msg: Buffer, address: string, port: number): void {
    const entry = this.indexTable.get(msg.readUInt32LE(4));
    const keypair = entry?.keypair;
    if (!entry || !keypair) {
      this.drops.unknownIndex += 1;
      return;
    }
    const peer = entry.peer;
    const now = performance.now();
    if (keypair.wiped || keypair.ageMs(now) >= REJECT_AFTER_TIME_MS) {
      this.drops.expiredKeypair += 1;
      return;
    }
    const plain = decryptTransport(keypair, msg);
    if (!plain) {
      this.drops.unauthenticated += 1;
      return;
    }
    if (!keypair.replay.validate(msg.readBigUInt64LE(8), REJECT_AFTER_MESSAGES)) {
      this.drops.replayed += 1;
      return;
    }
    // Authenticated: the packet's source is where the peer is now (roaming).
    const endpoint = peer.endpoint;
    if (!endpoint || endpoint.port !== port || (endpoint.address !== address && `::ffff:${endpoint.address}` !== address)) {
      peer.endpoint = normalizeEndpoint(address, port);
    }
    if (peer.keypairs.next === keypair) {
      this.releaseKeypairs([peer.keypairs.confirmNext(keypair)]);
      peer.timers.handshakeComplete();
      this.log.verbose(`${peer.label}: session confirmed (responder)`);
      if (peer.staged.length > 0) this.sendToPeer(peer, []);
    }
    const current = peer.keypairs.current;
    if (current && current.isInitiator && !current.rekeyOnReceiveTriggered
      && current.ageMs(now) > REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS) {
      current.rekeyOnReceiveTriggered = true;
      this.sendInitiation(peer, false);
    }
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
    peer.rxBytes += msg.length;
    if (plain.length === 0) return; // keepalive
    peer.timers.dataReceived();

    const version = plain[0] >> 4;
    let length: number;
    if (version === 4 && plain.length >= 20) length = plain.readUInt16BE(2);
    else if (version === 6 && plain.length >= 40) length = plain.readUInt16BE(4) + 40;
    else {
      this.drops.malformed += 1;
      return;
    }
    if (length > plain.length || length < (version === 4 ? 20 : 40)) {
      this.drops.malformed += 1;
      return;
    }
    const packet = length === plain.length ? plain : plain.subarray(0, length);
    if (this.allowedIps.lookupPacket(packet, 'source') !== peer) {
      this.drops.sourceNotAllowed += 1;
      return;
    }
    this.sinkQueue.push(packet);
    if (!this.sinkFlushScheduled) {
      this.sinkFlushScheduled = true;
      setImmediate(() => this.flushSink());
    }
  }

  private flushSink(): void {
    this.sinkFlushScheduled = false;
    const packets = this.sinkQueue;
    this.sinkQueue = [];
    if (!this.closed && this.sink && packets.length > 0) this.sink.write(packets);
  }

  // ---- lifecycle ----

  /** Starts every peer with a persistent keepalive, as wireguard-go does on up. */
  start(): void {
    for (const peer of this.peers.values()) {
      if (peer.timers.persistentKeepaliveSeconds > 0) this.sendKeepalive(peer);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) {
      peer.timers.stopAll();
      this.expireSessions(peer);
    }
    this.privateKeyRaw?.fill(0);
    this.socket?.close();
    this.socket = undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Counters for status output: current session age etc. are derived on demand. */
  peerSummary(peer: Peer): { hasSession: boolean; sessionAgeMs?: number } {
    const current = peer.keypairs.current;
    const now = performance.now();
    return this.usableForSending(current, now) ? { hasSession: true, sessionAgeMs: current.ageMs(now) } : { hasSession: false };
  }
}
