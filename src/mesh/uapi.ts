/**
 * The cross-platform WireGuard control socket (reference §10) at /var/run/wireguard/IFACE.sock,
 * so Debian's `wg show`, `wg showconf`, `wg set` and `wg setconf` drive this node unchanged.
 * Requests are `get=1` or `set=1` followed by key=value lines and an empty line; every reply
 * ends with `errno=N` and an empty line. Many requests may share one connection.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { loadAddon, type ControlHandle, type NativeAddon } from './addon.js';
import { join } from 'node:path';
import { parsePrefix, formatPrefix } from './allowed-ips.js';
import { Device } from './device.js';
import { Logger } from './log.js';
import { formatEndpoint, parseEndpoint, type Peer } from './peer.js';

export const UAPI_DIR = '/var/run/wireguard';

const EINVAL = 22;
const EIO = 5;
const EPROTO = 71;
const EADDRINUSE = 98;

class UapiError extends Error {
  constructor(readonly errno: number, message: string) {
    super(message);
  }
}

function parseKeyHex(value: string, what: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new UapiError(EINVAL, `${what} is not 64 hex digits`);
  return Buffer.from(value, 'hex');
}

function parseUint(value: string, max: number, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UapiError(EINVAL, `${what} '${value}' is not a number in 0-${max}`);
  return Number(value);
}

/** The `get=1` reply body (without errno). */
export function uapiGet(device: Device): string {
  const lines: string[] = [];
  if (device.privateKey) lines.push(`private_key=${device.privateKey.toString('hex')}`);
  if (device.port) lines.push(`listen_port=${device.port}`);
  if (device.fwmark) lines.push(`fwmark=${device.fwmark}`);
  for (const peer of device.peers.values()) {
    lines.push(`public_key=${peer.publicKey.toString('hex')}`);
    lines.push(`preshared_key=${peer.presharedKey.toString('hex')}`);
    lines.push('protocol_version=1');
    if (peer.endpoint) lines.push(`endpoint=${formatEndpoint(peer.endpoint)}`);
    const last = peer.timers.lastHandshakeWallMs;
    lines.push(`last_handshake_time_sec=${Math.floor(last / 1000)}`);
    lines.push(`last_handshake_time_nsec=${(last % 1000) * 1_000_000}`);
    lines.push(`tx_bytes=${peer.txBytes}`);
    lines.push(`rx_bytes=${peer.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${peer.timers.persistentKeepaliveSeconds}`);
    for (const prefix of device.allowedIps.prefixesOf(peer)) lines.push(`allowed_ip=${formatPrefix(prefix)}`);
  }
  return lines.map((line) => `${line}\n`).join('');
}

/** Applies one `set=1` request's lines in order; throws UapiError at the first bad line. */
export function uapiSet(device: Device, lines: string[]): void {
  let peer: Peer | undefined;
  let inPeerSection = false;
  /** Lines for a peer we must ignore (our own key, or update_only on a peer that did not exist). */
  let ignoringPeer = false;
  let peerCreated = false;
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new UapiError(EPROTO, `line without '=': ${line}`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      inPeerSection = true;
      const publicKey = parseKeyHex(value, 'public_key');
      ignoringPeer = device.identity !== undefined && publicKey.equals(device.identity.publicKey);
      if (ignoringPeer) {
        peer = undefined;
        continue;
      }
      const existing = device.findPeer(publicKey);
      peerCreated = existing === undefined;
      peer = existing ?? device.addPeer(publicKey);
      continue;
    }
    if (!inPeerSection) {
      switch (key) {
        case 'private_key':
          device.setPrivateKey(parseKeyHex(value, 'private_key'));
          break;
        case 'listen_port':
          try {
            device.setListenPort(parseUint(value, 65535, 'listen_port'));
          } catch (error) {
            if (error instanceof UapiError) throw error;
            const code = (error as NodeJS.ErrnoException).code;
            throw new UapiError(code === 'EADDRINUSE' ? EADDRINUSE : EIO, `cannot listen on port ${value}: ${(error as Error).message}`);
          }
          break;
        case 'fwmark': {
          const mark = parseUint(value, 0xffffffff, 'fwmark');
          try {
            device.setFwmark(mark);
          } catch (error) {
            throw new UapiError(EADDRINUSE, `cannot set fwmark ${value}: ${(error as Error).message}`);
          }
          break;
        }
        case 'replace_peers':
          if (value !== 'true') throw new UapiError(EINVAL, 'replace_peers must be true');
          device.removeAllPeers();
          break;
        default:
          throw new UapiError(EINVAL, `unknown device key ${key}`);
      }
      continue;
    }
    if (ignoringPeer || !peer) {
      // Still validate the syntax the way wireguard-go does not need to: ignore quietly.
      continue;
    }
    switch (key) {
      case 'update_only':
        if (value !== 'true') throw new UapiError(EINVAL, 'update_only must be true');
        if (peerCreated) {
          device.removePeer(peer);
          ignoringPeer = true;
          peer = undefined;
        }
        break;
      case 'remove':
        if (value !== 'true') throw new UapiError(EINVAL, 'remove must be true');
        device.removePeer(peer);
        ignoringPeer = true;
        peer = undefined;
        break;
      case 'preshared_key':
        device.setPresharedKey(peer, parseKeyHex(value, 'preshared_key'));
        break;
      case 'endpoint': {
        const endpoint = parseEndpoint(value);
        if (!endpoint) throw new UapiError(EINVAL, `endpoint '${value}' is not IP:port`);
        device.setEndpoint(peer, endpoint);
        break;
      }
      case 'persistent_keepalive_interval':
        device.setPersistentKeepalive(peer, parseUint(value, 65535, 'persistent_keepalive_interval'));
        break;
      case 'replace_allowed_ips':
        if (value !== 'true') throw new UapiError(EINVAL, 'replace_allowed_ips must be true');
        device.clearAllowedIps(peer);
        break;
      case 'allowed_ip': {
        const remove = value.startsWith('-');
        let prefix;
        try {
          prefix = parsePrefix(remove ? value.slice(1) : value);
        } catch {
          throw new UapiError(EINVAL, `allowed_ip '${value}' is not a prefix`);
        }
        if (remove) device.removeAllowedIp(peer, prefix);
        else device.addAllowedIp(peer, prefix);
        break;
      }
      case 'protocol_version':
        if (value !== '1') throw new UapiError(EINVAL, `protocol_version ${value} is not supported`);
        break;
      default:
        throw new UapiError(EINVAL, `unknown peer key ${key}`);
    }
  }
}

let warmedUp = false;
const WARM_UP_ROUNDS = 8;

/**
 * A throwaway device (no sockets) configured the way `wg set` configures one, a few times, once
 * per process, in the background: the first real `wg set` otherwise runs this parsing and peer
 * set-up interpreted and cold, and wg waits for it (slower than wireguard-go's).
 */
function warmUpUapiCode(): void {
  if (warmedUp) return;
  warmedUp = true;
  const device = new Device({ name: 'uapi-warm-up', logger: new Logger('silent') });
  uapiSet(device, [`private_key=${randomBytes(32).toString('hex')}`]);
  const peer = randomBytes(32).toString('hex');
  let round = 0;
  const next = () => {
    uapiSet(device, [`public_key=${peer}`, 'endpoint=192.0.2.1:51820', 'replace_allowed_ips=true', 'allowed_ip=192.0.2.2/32', 'allowed_ip=fd00::2/128']);
    uapiGet(device);
    uapiSet(device, [`public_key=${peer}`, 'remove=true']);
    if (++round < WARM_UP_ROUNDS) setImmediate(next).unref();
    else device.close();
  };
  setImmediate(next).unref();
}

export class UapiServer {
  private handle?: ControlHandle;
  private native?: NativeAddon;
  readonly path: string;

  constructor(private readonly device: Device, dir = UAPI_DIR) {
    this.path = join(dir, `${device.name}.sock`);
  }

  /** Listens; refuses when another live process already serves this interface's socket. */
  async listen(): Promise<void> {
    const dir = this.path.slice(0, this.path.lastIndexOf('/'));
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (existsSync(this.path)) {
      if (await isServed(this.path)) throw new Error(`${this.path} is served by another process (is ${this.device.name} already up?)`);
      unlinkSync(this.path);
    }
    // The transport is native (native/control.c): node:net's stream objects made every `wg`
    // command wait a few hundred microseconds longer than wireguard-go's.
    const native = loadAddon();
    this.handle = native.controlListen(this.path, (connection, text) => this.onRequest(connection, text));
    this.native = native;
    chmodSync(this.path, 0o600);
    warmUpUapiCode();
  }

  /** Stops serving; removes the socket file only if this server created it (never another node's). */
  close(): void {
    if (!this.handle) return;
    this.native!.controlClose(this.handle);
    this.handle = undefined;
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }

  /** Answered at once: every request is synchronous work, so replies leave in request order. */
  private onRequest(connection: number, text: string): void {
    const reply = this.answer(text.split('\n'));
    if (this.handle) this.native!.controlReply(this.handle, connection, reply);
  }

  private answer(request: string[]): string {
    const [operation, ...lines] = request;
    if (operation === 'get=1') {
      if (lines.length > 0) return `errno=${-EINVAL}\n\n`;
      return `${uapiGet(this.device)}errno=0\n\n`;
    }
    if (operation === 'set=1') {
      try {
        uapiSet(this.device, lines);
        return 'errno=0\n\n';
      } catch (error) {
        const errno = error instanceof UapiError ? error.errno : EIO;
        this.device.log.info(`UAPI set refused: ${(error as Error).message}`);
        return `errno=${-errno}\n\n`;
      }
    }
    if (operation === NETMEND_STATS_REQUEST) {
      // netmend's own extension for `node status`: drop counters. wg never sends it.
      const lines = Object.entries(this.device.drops).map(([name, count]) => `${name}=${count}\n`).join('');
      return `${lines}errno=0\n\n`;
    }
    return `errno=${-EINVAL}\n\n`;
  }
}

/** The request `node status` adds to `get=1`; other implementations close the connection on it. */
export const NETMEND_STATS_REQUEST = 'netmend_drops=1';

/** True when something accepts connections on the Unix socket at path. */
export function isServed(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}

/**
 * A UAPI client: sends one request and returns the reply's key=value lines and errno. With
 * `timeoutMs`, a daemon that accepts but never answers (stopped, wedged) is given up on.
 */
export async function uapiRequest(path: string, request: string, timeoutMs?: number): Promise<{ lines: string[]; errno: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let data = '';
    socket.setEncoding('utf8');
    socket.once('error', reject);
    if (timeoutMs !== undefined) {
      socket.setTimeout(timeoutMs, () => {
        socket.destroy();
        reject(Object.assign(new Error(`${path}: no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
    }
    socket.on('connect', () => socket.write(request.endsWith('\n\n') ? request : `${request}\n\n`));
    socket.on('data', (chunk: string) => {
      data += chunk;
      const match = /(?:^|\n)errno=(-?\d+)\n\n/.exec(data);
      if (match) {
        socket.destroy();
        const body = data.slice(0, match.index).split('\n').filter((line) => line !== '');
        resolve({ lines: body, errno: Number(match[1]) });
      }
    });
    socket.on('end', () => reject(new Error(`${path}: connection closed before errno`)));
  });
}
