/** A peer: its handshake, sessions, endpoint, staged packets, counters and timers. */
import { CookieGenerator } from './cookie.js';
import type { NativeEndpoint } from './bind.js';
import { KeypairSlots } from './keypairs.js';
import { peerLabel } from './log.js';
import { Handshake } from './noise.js';
import { PeerTimers, type TimerActions } from './timers.js';

export interface Endpoint {
  /** Numeric address as shown to users (IPv4 dotted, IPv6 without brackets). */
  address: string;
  port: number;
  family: 4 | 6;
  /** The address as 4 or 16 bytes, when already known (received datagrams carry it). */
  addressBytes?: Buffer;
  /** The local address (and interface) the peer last reached us on: replies leave from it. */
  source?: { address: Buffer; ifindex: number };
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.family === 6 ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/** Parses `IP:port` / `[IPv6]:port` (numeric, as UAPI carries it); undefined when malformed. */
export function parseEndpoint(text: string): Endpoint | undefined {
  const v6 = /^\[([0-9A-Fa-f:.]+)(?:%[\w.-]+)?\]:(\d{1,5})$/.exec(text);
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  const match = v6 ?? v4;
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  if (v4) {
    // The bytes come with it: the native endpoint needs them, and a general parser is slow cold.
    const octets = match[1].split('.').map(Number);
    if (octets.some((octet) => octet > 255)) return undefined;
    return { address: octets.join('.'), port, family: 4, addressBytes: Buffer.from(octets) };
  }
  return normalizeEndpoint(match[1], port);
}

/** An address from a socket (v4 may arrive mapped as ::ffff:a.b.c.d) as an endpoint. */
export function normalizeEndpoint(address: string, port: number): Endpoint {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], port, family: 4 };
  return { address, port, family: address.includes(':') ? 6 : 4 };
}

export class Peer {
  readonly handshake: Handshake;
  readonly cookieGenerator: CookieGenerator;
  readonly keypairs = new KeypairSlots();
  readonly timers: PeerTimers;
  readonly label: string;
  endpoint?: Endpoint;
  /** The endpoint as the native writer sees it (created with the first endpoint). */
  nativeEndpoint?: NativeEndpoint;
  /** Packets waiting for a session (oldest dropped beyond MAX_STAGED_PACKETS). */
  staged: Buffer[] = [];
  rxBytes = 0;
  txBytes = 0;
  /** Monotonic ms of the last initiation or response we sent (one per REKEY_TIMEOUT). */
  lastSentHandshake = -Infinity;
  removed = false;

  constructor(readonly publicKey: Buffer, actions: (peer: Peer) => TimerActions) {
    this.handshake = new Handshake(publicKey);
    this.cookieGenerator = new CookieGenerator(publicKey);
    this.label = peerLabel(publicKey);
    this.timers = new PeerTimers(actions(this));
  }

  get presharedKey(): Buffer {
    return this.handshake.presharedKey;
  }

  set presharedKey(key: Buffer) {
    this.handshake.presharedKey = Buffer.from(key);
  }
}
