/**
 * `netmend node up`: a wg-quick config becomes a running node. Order matters for a clean
 * failure: everything that can be refused (config, UDP port, UAPI socket already served) is
 * checked before the TUN link exists, and whatever was created is removed again on any error
 * and on shutdown (the link, and with it its addresses and routes; the socket; the pid file).
 */
import { lookup } from 'node:dns/promises';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckCouldNotRunError, InputError } from '../errors.js';
import { parsePrefix } from './allowed-ips.js';
import type { MeshConfig } from './config.js';
import { Device } from './device.js';
import { Logger, type LogLevel } from './log.js';
import { normalizeEndpoint } from './peer.js';
import { applyDns, type AppliedDns } from './dns.js';
import { startEngine, type Engine } from './engine.js';
import { installFullTunnel, pickTable, type FullTunnel } from './full-tunnel.js';
import type { UapiServer } from './uapi.js';

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

  const defaultFamilies = [...new Set(routes.filter((cidr) => /\/0$/.test(cidr)).map((cidr) => (cidr.includes(':') ? 6 : 4) as 4 | 6))];
  let fullTunnel: FullTunnel | undefined;
  let dns: AppliedDns | undefined;
  let engine: Engine | undefined;
  let pidFile: string | undefined;
  let markStopped: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => { markStopped = resolve; });
  const shutdown = async (why = 'shutdown requested') => {
    await dns?.remove();
    dns = undefined;
    await fullTunnel?.remove();
    fullTunnel = undefined;
    engine?.shutdown(why);
    device.close();
    if (pidFile) {
      try {
        if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
      } catch { /* already gone */ }
      pidFile = undefined;
    }
    markStopped(why);
  };

  try {
    try {
      // A full tunnel needs the node's own datagrams marked, or they would loop into it.
      const mark = defaultFamilies.length > 0 ? await pickTable(config.interface.fwmark) : config.interface.fwmark;
      if (mark) device.setFwmark(mark);
      device.setListenPort(config.interface.listenPort ?? 0);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPERM') throw new CheckCouldNotRunError(`cannot set FwMark ${config.interface.fwmark} on the UDP sockets: EPERM`, 'SO_MARK needs CAP_NET_ADMIN: run as root');
      throw new CheckCouldNotRunError(`cannot listen on UDP port ${config.interface.listenPort ?? 0}: ${code ?? (error as Error).message}`,
        code === 'EADDRINUSE' ? 'another WireGuard node uses that ListenPort; pick another one' : undefined);
    }
    engine = await startEngine(device, { mtu: config.interface.mtu, uapiDir: options.uapiDir });
    void engine.stopped.then((why) => shutdown(why));

    const { setLinkUp, addAddress, addRoute } = await import('../netlink/configure.js');
    await setLinkUp(config.iface, config.interface.mtu);
    for (const address of config.interface.addresses) await addAddress(config.iface, address);
    for (const cidr of routes) if (!/\/0$/.test(cidr)) await addRoute(config.iface, cidr);
    if (defaultFamilies.length > 0) {
      fullTunnel = await installFullTunnel(config.iface, defaultFamilies, device.fwmark);
      log.info(`full tunnel: default route in table ${fullTunnel.table}, rules \`not fwmark ${fullTunnel.table}\` and \`suppress_prefixlength 0\``);
    }

    if (config.interface.dns.length > 0) {
      dns = await applyDns(config.iface, config.interface.dns);
      if (dns) log.info(`DNS = ${config.interface.dns.join(', ')} applied through ${dns.method}`);
      else log.info(`warning: DNS = ${config.interface.dns.join(', ')} is not applied: neither systemd-resolved nor resolvconf is available`);
    }

    mkdirSync(runDir(), { recursive: true, mode: 0o755 });
    pidFile = pidFileOf(config.iface);
    writeFileSync(pidFile, `${process.pid}\n`);
    device.start();
    log.info(`up: listening on UDP ${device.port}, ${device.peers.size} peer(s), control socket ${engine.uapi.path}`);
  } catch (error) {
    await shutdown();
    throw error;
  }
  return { device, uapi: engine.uapi, shutdown: () => shutdown(), stopped };
}
