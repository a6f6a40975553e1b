/**
 * `netmend node status`: what the node's control socket reports (the same UAPI `wg show` reads),
 * turned into peers with public keys, endpoints, latest handshake and transfer. The private key
 * is read by the UAPI `get` but never leaves this module.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CheckCouldNotRunError, InputError } from '../errors.js';
import { NETMEND_STATS_REQUEST, UAPI_DIR, uapiRequest } from './uapi.js';

export interface PeerStatus {
  publicKey: string;
  presharedKey: boolean;
  endpoint?: string;
  allowedIps: string[];
  /** ISO time of the latest handshake; undefined when there was none. */
  latestHandshake?: string;
  latestHandshakeAgoSeconds?: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
}

/** Packets the node dropped, by reason (netmend's own nodes only; absent for wireguard-go). */
export interface DropStatus {
  /** Transport messages that failed authentication, and handshakes with a bad mac1. */
  badMac: number;
  replayed: number;
  /** Decrypted packets whose inner source is not in the sending peer's AllowedIPs. */
  noAllowedIp: number;
  /** Packets from the TUN with no peer for their destination. */
  noRoute: number;
  /** Every counter the node keeps. */
  all: Record<string, number>;
}

export interface InterfaceStatus {
  interface: string;
  publicKey?: string;
  listenPort?: number;
  fwmark?: number;
  peers: PeerStatus[];
  drops?: DropStatus;
}

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

export function parseUapiGet(iface: string, lines: string[], now = Date.now(), publicKeyOf?: (privateKey: Buffer) => Buffer): InterfaceStatus {
  // Declared in display order (JSON keeps insertion order; undefined fields are left out).
  const status: InterfaceStatus = { interface: iface, publicKey: undefined, listenPort: undefined, fwmark: undefined, peers: [] };
  let peer: PeerStatus | undefined;
  let sec = 0;
  let nsec = 0;
  const finishPeer = () => {
    if (peer && sec > 0) {
      const ms = sec * 1000 + Math.floor(nsec / 1e6);
      peer.latestHandshake = new Date(ms).toISOString();
      peer.latestHandshakeAgoSeconds = Math.max(0, Math.round((now - ms) / 1000));
    }
    sec = 0;
    nsec = 0;
  };
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      finishPeer();
      peer = { publicKey: hexToBase64(value), presharedKey: false, endpoint: undefined, allowedIps: [], latestHandshake: undefined, latestHandshakeAgoSeconds: undefined, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 };
      status.peers.push(peer);
      continue;
    }
    if (!peer) {
      if (key === 'private_key' && publicKeyOf) {
        const privateKey = Buffer.from(value, 'hex');
        status.publicKey = publicKeyOf(privateKey).toString('base64');
        privateKey.fill(0);
      } else if (key === 'listen_port') status.listenPort = Number(value);
      else if (key === 'fwmark') status.fwmark = Number(value);
      continue;
    }
    switch (key) {
      case 'preshared_key': peer.presharedKey = !/^0+$/.test(value); break;
      case 'endpoint': peer.endpoint = value; break;
      case 'allowed_ip': peer.allowedIps.push(value); break;
      case 'last_handshake_time_sec': sec = Number(value); break;
      case 'last_handshake_time_nsec': nsec = Number(value); break;
      case 'rx_bytes': peer.rxBytes = Number(value); break;
      case 'tx_bytes': peer.txBytes = Number(value); break;
      case 'persistent_keepalive_interval': peer.persistentKeepalive = Number(value); break;
      default: break;
    }
  }
  finishPeer();
  return status;
}

export function listInterfaces(dir = UAPI_DIR): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.sock')).map((name) => name.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

/** How long a daemon may take to answer `get=1` before it is taken for stopped or wedged. */
const UAPI_ANSWER_MS = 5000;

export async function readStatus(iface: string, dir = UAPI_DIR): Promise<InterfaceStatus> {
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(iface)) throw new InputError(`'${iface}' is not an interface name`);
  const path = join(dir, `${iface}.sock`);
  let reply;
  try {
    reply = await uapiRequest(path, 'get=1', UAPI_ANSWER_MS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') throw new CheckCouldNotRunError(`${path} accepted the connection but did not answer within ${UAPI_ANSWER_MS / 1000} s`, 'the daemon serving it is stopped or wedged: look at its process');
    if (code === 'ENOENT') throw new InputError(`no mesh node is running as ${iface} (${path} does not exist)`, 'start it with `netmend node up -c FILE`; `netmend node status` lists the running ones');
    throw new CheckCouldNotRunError(`cannot query ${path}: ${code ?? (error as Error).message}`, 'run as root');
  }
  if (reply.errno !== 0) throw new CheckCouldNotRunError(`${path} answered errno=${reply.errno}`);
  const { publicKeyOf } = await import('./keys.js');
  const status = parseUapiGet(iface, reply.lines, Date.now(), publicKeyOf);
  status.drops = await readDrops(path);
  return status;
}

async function readDrops(path: string): Promise<DropStatus | undefined> {
  let reply;
  try {
    reply = await uapiRequest(path, NETMEND_STATS_REQUEST, UAPI_ANSWER_MS);
  } catch {
    return undefined; // not a netmend node (wireguard-go closes the connection)
  }
  if (reply.errno !== 0) return undefined;
  const all: Record<string, number> = {};
  for (const line of reply.lines) {
    const eq = line.indexOf('=');
    if (eq > 0) all[line.slice(0, eq)] = Number(line.slice(eq + 1));
  }
  return {
    badMac: (all.unauthenticated ?? 0) + (all.badMac1 ?? 0),
    replayed: all.replayed ?? 0,
    noAllowedIp: all.sourceNotAllowed ?? 0,
    noRoute: all.noRoute ?? 0,
    all,
  };
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(2)} ${units[unit]}`;
}

function ago(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'} ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}, ${seconds % 60} seconds ago`;
  return `${Math.floor(minutes / 60)} hours, ${minutes % 60} minutes ago`;
}

/** Text in the shape of `wg show`. */
export function formatStatus(statuses: InterfaceStatus[]): string {
  const out: string[] = [];
  for (const status of statuses) {
    out.push(`interface: ${status.interface}`);
    if (status.publicKey) out.push(`  public key: ${status.publicKey}`);
    out.push('  private key: (hidden)');
    if (status.listenPort) out.push(`  listening port: ${status.listenPort}`);
    if (status.fwmark) out.push(`  fwmark: 0x${status.fwmark.toString(16)}`);
    if (status.drops) out.push(`  dropped: ${status.drops.badMac} bad MAC, ${status.drops.replayed} replayed, ${status.drops.noAllowedIp} not from an allowed IP, ${status.drops.noRoute} with no peer for the destination`);
    for (const peer of status.peers) {
      out.push('', `peer: ${peer.publicKey}`);
      if (peer.presharedKey) out.push('  preshared key: (hidden)');
      if (peer.endpoint) out.push(`  endpoint: ${peer.endpoint}`);
      out.push(`  allowed ips: ${peer.allowedIps.length > 0 ? peer.allowedIps.join(', ') : '(none)'}`);
      out.push(`  latest handshake: ${peer.latestHandshakeAgoSeconds !== undefined ? ago(peer.latestHandshakeAgoSeconds) : '(none)'}`);
      out.push(`  transfer: ${bytes(peer.rxBytes)} received, ${bytes(peer.txBytes)} sent`);
      if (peer.persistentKeepalive) out.push(`  persistent keepalive: every ${peer.persistentKeepalive} seconds`);
    }
    out.push('');
  }
  return out.join('\n');
}
