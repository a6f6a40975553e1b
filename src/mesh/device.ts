/**
 * The mesh device: one UDP bind (native, src/mesh/bind.ts), one TUN (or any packet sink), many
 * peers. This file holds the configuration (what UAPI `set` and a config file change), the index
 * table shared by handshakes and sessions, and the lifecycle. The paths live beside it, one file
 * per concern: send.ts (TUN -> peers), receive.ts (network -> TUN), handshakes.ts, timers.ts.
 */
import { randomFillSync } from 'node:crypto';
import { AllowedIps, type Prefix } from './allowed-ips.js';
import { NativeEndpoint, receiveKeys, UdpBind, type BindStats } from './bind.js';
import { clampPrivateKey, isZero, x25519PublicKey } from './crypto.js';
import { Handshakes, warmUpHandshakeCode } from './handshakes.js';
import type { Keypair } from './keypairs.js';
import { Logger } from './log.js';
import { MAX_PEERS, REJECT_AFTER_TIME_MS } from './messages.js';
import type { LocalIdentity } from './noise.js';
import { Peer, type Endpoint } from './peer.js';
import { InboundPath } from './receive.js';
import { OutboundPath, usableForSending } from './send.js';

/** Where decrypted packets go: the TUN device, or a test's collector. */
export interface PacketSink {
  write(packets: Buffer[]): void;
}

/** Why packets were dropped; `node status` shows these. */
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

export type IndexEntry = { peer: Peer; keypair?: Keypair };

export interface DeviceOptions {
  name: string;
  mtu?: number;
  sink?: PacketSink;
  logger?: Logger;
}

/**
 * Session indexes come from a pool of CSPRNG output, one fill per 64: an index is drawn between a
 * packet's arrival and the handshake message it causes, where randomInt's own machinery cost
 * more than the rest of the draw.
 */
const indexPool = new Uint32Array(64);
let indexPoolNext = indexPool.length;

function randomIndex(): number {
  if (indexPoolNext === indexPool.length) {
    randomFillSync(indexPool);
    indexPoolNext = 0;
  }
  const index = indexPool[indexPoolNext];
  indexPool[indexPoolNext++] = 0;
  return index;
}

/** Distinguishes devices of one process in the native receive-key table. */
let nextDeviceId = 1;

export class Device {
  readonly name: string;
  mtu: number;
  sink?: PacketSink;
  readonly log: Logger;
  readonly peers = new Map<string, Peer>();
  readonly allowedIps = new AllowedIps<Peer>();
  readonly drops = zeroDrops();
  readonly handshakes = new Handshakes(this);
  readonly outbound = new OutboundPath(this);
  readonly inbound = new InboundPath(this);
  identity?: LocalIdentity;
  private privateKeyRaw?: Buffer;
  /** Port asked for (0 = any); `port` is what the sockets got (0 = no sockets). */
  listenPort = 0;
  port = 0;
  fwmark = 0;
  bind?: UdpBind;
  private readonly id = nextDeviceId++;
  private readonly indexTable = new Map<number, IndexEntry>();
  private closed = false;

  constructor(options: DeviceOptions) {
    this.name = options.name;
    this.mtu = options.mtu ?? 1420;
    this.sink = options.sink;
    this.log = options.logger ?? new Logger('info', `${options.name}: `);
    // Needs no key: done while the program starts, not when the key arrives over UAPI with traffic behind it.
    setImmediate(warmUpHandshakeCode);
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
      this.identity = { privateKey: clamped, publicKey: x25519PublicKey(clamped) };
    } else {
      this.identity = undefined;
    }
    this.handshakes.cookieChecker.init(this.identity?.publicKey);
    for (const peer of [...this.peers.values()]) {
      if (this.identity && peer.publicKey.equals(this.identity.publicKey)) {
        this.removePeer(peer);
        continue;
      }
      this.expireSessions(peer);
      peer.handshake.setLocal(this.identity);
      this.handshakes.prepareSoon(peer);
    }
  }

  /** Opens (or reopens) the UDP sockets; port 0 picks a free port. On failure the device has none. */
  setListenPort(port: number): void {
    this.listenPort = port;
    if (this.bind && this.port === port && port !== 0) return;
    this.bind?.close();
    this.bind = undefined;
    this.port = 0;
    this.bind = new UdpBind(port, this.fwmark, this.id, (batch) => this.inbound.receiveBatch(batch));
    this.port = this.bind.port;
    this.clearSources();
    this.log.verbose(`listening on UDP port ${this.port}`);
  }

  /** SO_MARK on both sockets (0 = none), so policy routing can tell the node's own datagrams apart. */
  setFwmark(mark: number): void {
    if (mark === this.fwmark) return;
    this.bind?.setMark(mark);
    this.fwmark = mark;
    this.clearSources();
  }

  /** Forget every sticky source: after a rebind or a mark change the kernel picks again. */
  private clearSources(): void {
    for (const peer of this.peers.values()) this.clearSource(peer);
  }

  clearSource(peer: Peer): void {
    if (peer.endpoint?.source) peer.endpoint = { ...peer.endpoint, source: undefined };
    peer.nativeEndpoint?.clearSource();
  }

  get canSend(): boolean {
    return this.bind !== undefined && !this.closed;
  }

  addPeer(publicKey: Buffer): Peer | undefined {
    const key = publicKey.toString('hex');
    const existing = this.peers.get(key);
    if (existing) return existing;
    if (this.identity && publicKey.equals(this.identity.publicKey)) return undefined;
    if (this.peers.size >= MAX_PEERS) throw new Error('too many peers');
    const peer = new Peer(Buffer.from(publicKey), (p) => ({
      sendInitiation: (isRetry) => this.handshakes.sendInitiation(p, isRetry),
      sendKeepalive: () => this.outbound.sendKeepalive(p),
      dropStaged: () => { p.staged = []; },
      clearEndpointSource: () => this.clearSource(p),
      zeroKeyMaterial: () => this.zeroKeyMaterial(p),
      log: (message) => this.log.verbose(`${p.label}: ${message}`),
    }));
    peer.handshake.setLocal(this.identity);
    this.handshakes.prepareSoon(peer);
    this.peers.set(key, peer);
    return peer;
  }

  findPeer(publicKey: Buffer): Peer | undefined {
    return this.peers.get(publicKey.toString('hex'));
  }

  removePeer(peer: Peer): void {
    peer.removed = true;
    peer.timers.stopAll();
    this.expireSessions(peer);
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

  /** A configured endpoint (UAPI, config file): no sticky source until the peer is heard from there. */
  setEndpoint(peer: Peer, endpoint: Endpoint | undefined): void {
    if (!endpoint) {
      peer.endpoint = undefined;
      return;
    }
    this.moveEndpoint(peer, { ...endpoint, source: undefined });
  }

  /** The peer is now at `endpoint` (configured, or learnt from an authenticated packet). */
  moveEndpoint(peer: Peer, endpoint: Endpoint): void {
    peer.endpoint = endpoint;
    peer.nativeEndpoint ??= new NativeEndpoint();
    peer.nativeEndpoint.set(endpoint);
  }

  setPersistentKeepalive(peer: Peer, seconds: number): void {
    const was = peer.timers.persistentKeepaliveSeconds;
    peer.timers.persistentKeepaliveSeconds = seconds;
    if (seconds === 0) peer.timers.persistentKeepalive.del();
    // Turning it on sends one at once, so a peer behind NAT becomes reachable immediately.
    if (seconds > 0 && was === 0 && this.canSend) this.outbound.sendKeepalive(peer);
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

  // ---- the paths ----

  /** IP packets read from the TUN. */
  sendPackets(packets: Buffer[]): void {
    this.outbound.sendPackets(packets);
  }

  /** One datagram from the network, fed in directly. Never throws: bad input is counted and dropped. */
  receive(msg: Buffer, address: string, port: number): void {
    this.inbound.receive(msg, address, port);
  }

  sendDatagram(peer: Peer, msg: Buffer): void {
    if (peer.nativeEndpoint) this.bind?.sendRaw(peer.nativeEndpoint, msg);
  }

  /** A datagram to an address that is not (yet) a peer's endpoint: cookie replies. */
  sendDatagramTo(endpoint: Endpoint, msg: Buffer): void {
    if (!this.bind) return;
    const target = new NativeEndpoint();
    target.set(endpoint);
    this.bind.sendRaw(target, msg);
  }

  bindStats(): BindStats | undefined {
    return this.bind?.stats();
  }

  // ---- the index table: handshakes in progress and sessions, by our local index ----

  newIndex(entry: IndexEntry): number {
    for (;;) {
      const index = randomIndex();
      if (!this.indexTable.has(index)) {
        this.indexTable.set(index, entry);
        return index;
      }
    }
  }

  lookupIndex(index: number): IndexEntry | undefined {
    return this.indexTable.get(index);
  }

  forgetIndex(index: number): void {
    this.indexTable.delete(index);
  }

  releaseHandshakeIndex(peer: Peer): void {
    const index = peer.handshake.localIndex;
    const entry = this.indexTable.get(index);
    if (index !== 0 && entry && entry.peer === peer && !entry.keypair) this.indexTable.delete(index);
  }

  installKeypair(peer: Peer, keypair: Keypair): void {
    this.indexTable.set(keypair.localIndex, { peer, keypair });
    receiveKeys.add(this.id, keypair.localIndex, keypair.receiveKey);
    this.releaseKeypairs(peer.keypairs.install(keypair));
  }

  releaseKeypairs(keypairs: Array<Keypair | undefined>): void {
    for (const keypair of keypairs) {
      if (!keypair || keypair.wiped) continue;
      const entry = this.indexTable.get(keypair.localIndex);
      if (entry?.keypair === keypair) {
        this.indexTable.delete(keypair.localIndex);
        receiveKeys.remove(this.id, keypair.localIndex);
      }
      keypair.wipe();
    }
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

  // ---- lifecycle ----

  /** Starts every peer with a persistent keepalive, as wireguard-go does on up. */
  start(): void {
    for (const peer of this.peers.values()) {
      if (peer.timers.persistentKeepaliveSeconds > 0) this.outbound.sendKeepalive(peer);
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
    this.bind?.close();
    this.bind = undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Counters for status output: current session age etc. are derived on demand. */
  peerSummary(peer: Peer): { hasSession: boolean; sessionAgeMs?: number } {
    const current = peer.keypairs.current;
    const now = performance.now();
    return usableForSending(current, now) ? { hasSession: true, sessionAgeMs: current.ageMs(now) } : { hasSession: false };
  }
}
