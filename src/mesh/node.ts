/**
 * `netmend node up`: a wg-quick config becomes a running node. Order matters for a clean
 * failure: everything that can be refused (config, UDP port, UAPI socket already served) is
 * checked before the TUN link exists, and whatever was created is removed again on any error
 * and on shutdown (the link, and with it its addresses and routes; the socket; the pid file).
 */
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckCouldNotRunError, InputError } from '../errors.js';
import { parsePrefix } from './allowed-ips.js';
import type { MeshConfig } from './config.js';
import { Device } from './device.js';
import { Logger, type LogLevel } from './log.js';
import { normalizeEndpoint } from './peer.js';
import { UAPI_DIR, UapiServer } from './uapi.js';

/** Where `node up` writes IFACE.pid so `node down IFACE` can find it (NETMEND_RUN_DIR overrides). */
export function runDir(): string {
  return process.env.NETMEND_RUN_DIR || '/run/netmend';
}

export function pidFileOf(iface: string): string {
  return join(runDir(), `${iface}.pid`);
}

export interface RunningNode {
  device: Device;
  uapi: UapiServer;
  /** Removes interface, routes, socket and pid file; idempotent. */
  shutdown(): Promise<void>;
  /** Resolves once the node shut down, whoever asked (signal, `ip link del`, socket removed). */
  stopped: Promise<string>;
}

export interface StartOptions {
  logLevel?: LogLevel;
  uapiDir?: string;
}

async function resolveEndpoint(host: string, port: number, file: string) {
  try {
    const { address } = await lookup(host.replace(/^\[|\]$/g, ''));
    return normalizeEndpoint(address, port);
  } catch (error) {
    throw new InputError(`${file}: cannot resolve endpoint host '${host}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Brings the node up; resolves once packets flow. */
export async function startNode(config: MeshConfig, options: StartOptions = {}): Promise<RunningNode> {
  const log = new Logger(options.logLevel ?? 'info', `${config.iface}: `);
  for (const warning of config.warnings) log.info(`warning: ${warning}`);

  const device = new Device({ name: config.iface, mtu: config.interface.mtu, logger: log });
  device.setPrivateKey(config.interface.privateKey);
  if (config.interface.fwmark) {
    device.fwmark = config.interface.fwmark;
    log.info('warning: FwMark is recorded but not applied to the UDP socket (Node cannot set SO_MARK)');
  }
  if (config.interface.dns.length > 0) log.info(`warning: DNS = ${config.interface.dns.join(', ')} is not applied by netmend node; configure the resolver separately`);

  const endpoints = await Promise.all(config.peers.map((peer) => (peer.endpoint ? resolveEndpoint(peer.endpoint.host, peer.endpoint.port, config.file) : undefined)));
  const routes: string[] = [];
  config.peers.forEach((peerConfig, i) => {
    const peer = device.addPeer(peerConfig.publicKey);
    if (!peer) {
      log.info('warning: a [Peer] has this node\'s own public key; ignored');
      return;
    }
    if (peerConfig.presharedKey) device.setPresharedKey(peer, peerConfig.presharedKey);
    if (endpoints[i]) device.setEndpoint(peer, endpoints[i]);
    for (const cidr of peerConfig.allowedIps) {
      device.addAllowedIp(peer, parsePrefix(cidr));
      routes.push(cidr);
    }
    if (peerConfig.persistentKeepalive) peer.timers.persistentKeepaliveSeconds = peerConfig.persistentKeepalive;
  });

  const uapi = new UapiServer(device, options.uapiDir ?? UAPI_DIR);
  let tunClose: (() => void) | undefined;
  let linkCreated = false;
  let pidFile: string | undefined;
  let down = false;
  let watch: NodeJS.Timeout | undefined;
  let markStopped: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => { markStopped = resolve; });

  const shutdown = async (why = 'shutdown requested') => {
    if (down) return;
    down = true;
    if (watch) clearInterval(watch);
    device.close();
    uapi.close();
    tunClose?.();
    if (linkCreated) {
      const { deleteLink } = await import('../netlink/configure.js');
      try { await deleteLink(config.iface); } catch (error) { log.error(`could not delete ${config.iface}: ${(error as Error).message}`); }
    }
    if (pidFile) {
      try {
        if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
      } catch { /* already gone */ }
    }
    markStopped(why);
  };

  try {
    try {
      await device.setListenPort(config.interface.listenPort ?? 0);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CheckCouldNotRunError(`cannot listen on UDP port ${config.interface.listenPort ?? 0}: ${code ?? (error as Error).message}`,
        code === 'EADDRINUSE' ? 'another WireGuard node uses that ListenPort; pick another one' : undefined);
    }
    try {
      await uapi.listen();
    } catch (error) {
      throw new CheckCouldNotRunError(`cannot serve the control socket: ${(error as Error).message}`,
        `stop the other node first (\`netmend node down ${config.iface}\`)`);
    }

    const { openTun } = await import('./tun.js');
    const tun = openTun(config.iface);
    linkCreated = true;
    tunClose = () => tun.close();
    device.sink = tun;
    tun.onPackets((packets) => device.sendPackets(packets));

    const { setLinkUp, addAddress, addRoute } = await import('../netlink/configure.js');
    await setLinkUp(config.iface, config.interface.mtu);
    for (const address of config.interface.addresses) await addAddress(config.iface, address);
    for (const cidr of routes) {
      if (/\/0$/.test(cidr)) {
        log.info(`warning: not routing ${cidr} through ${config.iface}: a default route needs policy routing (as wg-quick's fwmark table), which netmend node does not install`);
        continue;
      }
      await addRoute(config.iface, cidr);
    }

    mkdirSync(runDir(), { recursive: true, mode: 0o755 });
    pidFile = pidFileOf(config.iface);
    writeFileSync(pidFile, `${process.pid}\n`);
    device.start();
    // As wireguard-go: deleting the interface (`ip link del`, wg-quick down) or the control
    // socket stops the node. sysfs shows the node's own network namespace.
    watch = setInterval(() => {
      if (!existsSync(`/sys/class/net/${config.iface}`)) {
        linkCreated = false;
        log.info(`${config.iface} was deleted: shutting down`);
        void shutdown('interface deleted');
      } else if (!existsSync(uapi.path)) {
        log.info(`${uapi.path} was removed: shutting down`);
        void shutdown('control socket removed');
      }
    }, 1000);
    watch.unref();
    log.info(`up: listening on UDP ${device.port}, ${device.peers.size} peer(s), control socket ${uapi.path}`);
  } catch (error) {
    await shutdown();
    throw error;
  }
  return { device, uapi, shutdown: () => shutdown(), stopped };
}
