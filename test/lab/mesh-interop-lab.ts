/**
 * Shared setup for the mesh interop tests: netmend nodes and wireguard-go peers in their own
 * namespaces, joined by veth, keys from netmend's own key module, unique interface names (UAPI
 * sockets in /var/run/wireguard are shared by every namespace).
 */
import { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, publicKeyOf } from '../../src/mesh/keys.js';
import { Lab, netmendBin, projectRoot, run, uniqueName } from './harness.js';

const netmendWgBin = join(projectRoot, 'bin', 'netmend-wg.js');

/**
 * `netmend`: `netmend node up -c FILE`. `wireguard-go` and `netmend-wg`: the program started as
 * `PROGRAM -f IFACE`, then configured the same way for both, with `ip` and `wg set`.
 */
export interface Node {
  kind: 'netmend' | 'wireguard-go' | 'netmend-wg';
  ns: string;
  iface: string;
  privateKey: Buffer;
  publicKey: Buffer;
  /** Tunnel address without prefix length. */
  address: string;
  port: number;
  process?: ChildProcess;
  log: string[];
  /** netmend only: NETMEND_RUN_DIR it was started with (its pid file lives there). */
  runDir?: string;
}

export interface PeerSpec {
  node: Node;
  endpoint?: string;
  allowedIps?: string[];
  publicKey?: Buffer;
  persistentKeepalive?: number;
  presharedKey?: Buffer;
}

export const b64 = (key: Buffer) => key.toString('base64');
const hostPrefix = (address: string) => (address.includes(':') ? `${address}/128` : `${address}/32`);
const subnetOf = (address: string) => (address.includes(':') ? `${address}/64` : `${address}/24`);

export function wireguardGoMissing(): string | undefined {
  for (const tool of ['/usr/bin/wireguard-go', '/usr/bin/wg']) if (!existsSync(tool)) return `${tool} is not installed`;
  return undefined;
}

export async function waitFor(predicate: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function newNode(kind: Node['kind'], ns: string, address: string, port: number): Node {
  const privateKey = generatePrivateKey();
  return { kind, ns, iface: uniqueName(kind === 'wireguard-go' ? 'nmg' : 'nmn'), privateKey, publicKey: publicKeyOf(privateKey), address, port, log: [] };
}

/**
 * Starts a node with its peers; resolves once its UAPI socket answers and the link is up.
 * `netmend`: an installed netmend executable to run instead of the checkout's (with `env` added).
 */
export async function startNode(lab: Lab, node: Node, peers: PeerSpec[], options: { runDir?: string; nodeArgs?: string[]; netmend?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  const socket = `/var/run/wireguard/${node.iface}.sock`;
  lab.onCleanup(async () => {
    if (node.process && node.process.exitCode === null && node.process.signalCode === null) {
      node.process.kill('SIGTERM');
      await Promise.race([new Promise((r) => node.process!.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
    }
    await run('ip', ['-n', node.ns, 'link', 'del', node.iface]);
  });
  if (node.kind === 'netmend') {
    const dir = lab.tmpdir();
    const file = join(dir, `${node.iface}.conf`);
    const lines = ['[Interface]', `PrivateKey = ${b64(node.privateKey)}`, `ListenPort = ${node.port}`, `Address = ${subnetOf(node.address)}`];
    for (const peer of peers) {
      lines.push('', '[Peer]', `PublicKey = ${b64(peer.publicKey ?? peer.node.publicKey)}`, `AllowedIPs = ${(peer.allowedIps ?? [hostPrefix(peer.node.address)]).join(', ')}`);
      if (peer.endpoint) lines.push(`Endpoint = ${peer.endpoint}`);
      if (peer.persistentKeepalive) lines.push(`PersistentKeepalive = ${peer.persistentKeepalive}`);
      if (peer.presharedKey) lines.push(`PresharedKey = ${b64(peer.presharedKey)}`);
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    chmodSync(file, 0o600);
    node.runDir = options.runDir ?? dir;
    const command = options.netmend ? [options.netmend] : [process.execPath, ...(options.nodeArgs ?? []), netmendBin];
    const child = lab.spawn(node.ns, command[0], [...command.slice(1), 'node', 'up', '-c', file, '--verbose'], {
      env: { ...process.env, ...options.env, NETMEND_RUN_DIR: node.runDir },
    });
    node.process = child;
    child.stderr?.on('data', (chunk) => node.log.push(String(chunk)));
    child.stdout?.on('data', (chunk) => node.log.push(String(chunk)));
    await waitFor(() => node.log.join('').includes(' up: ') || child.exitCode !== null, 30_000, `${node.iface} to come up`);
    if (child.exitCode !== null) throw new Error(`netmend node up exited ${child.exitCode}: ${node.log.join('')}`);
    return;
  }
  const [program, ...programArgs] = node.kind === 'netmend-wg' ? [process.execPath, netmendWgBin] : ['wireguard-go'];
  const child = lab.spawn(node.ns, program, [...programArgs, '-f', node.iface], { env: { ...process.env, LOG_LEVEL: 'verbose' } });
  node.process = child;
  child.stdout?.on('data', (chunk) => node.log.push(String(chunk)));
  child.stderr?.on('data', (chunk) => node.log.push(String(chunk)));
  // netmend-wg serves the socket a moment before its TUN exists (wireguard-go: the other way round).
  const ready = async () => existsSync(socket) && (await lab.exec(node.ns, 'ip', ['link', 'show', 'dev', node.iface])).code === 0;
  await waitFor(async () => child.exitCode !== null || await ready(), 30_000, `${node.kind} ${node.iface} socket and link`);
  if (child.exitCode !== null) throw new Error(`${node.kind} -f ${node.iface} exited ${child.exitCode}: ${node.log.join('')}`);
  const dir = lab.tmpdir();
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, `${b64(node.privateKey)}\n`, { mode: 0o600 });
  const args = ['set', node.iface, 'private-key', keyFile, 'listen-port', String(node.port)];
  for (const peer of peers) {
    args.push('peer', b64(peer.publicKey ?? peer.node.publicKey), 'allowed-ips', (peer.allowedIps ?? [hostPrefix(peer.node.address)]).join(','));
    if (peer.endpoint) args.push('endpoint', peer.endpoint);
    if (peer.persistentKeepalive) args.push('persistent-keepalive', String(peer.persistentKeepalive));
    if (peer.presharedKey) {
      const pskFile = join(dir, `psk-${b64(peer.node.publicKey).slice(0, 8).replace(/\//g, '_')}`);
      writeFileSync(pskFile, `${b64(peer.presharedKey)}\n`, { mode: 0o600 });
      args.push('preshared-key', pskFile);
    }
  }
  await lab.ip(node.ns, 'addr', 'add', subnetOf(node.address), ...(node.address.includes(':') ? ['nodad'] : []), 'dev', node.iface);
  const set = await lab.exec(node.ns, 'wg', args);
  if (set.code !== 0) throw new Error(`wg set failed: ${set.stderr}`);
  await lab.ip(node.ns, 'link', 'set', node.iface, 'up');
}

export async function ping(lab: Lab, ns: string, address: string, count = 3, timeoutSeconds = 10): Promise<{ ok: boolean; output: string }> {
  const result = await lab.exec(ns, 'ping', ['-c', String(count), '-W', String(timeoutSeconds), '-i', '0.2', address], { timeoutMs: (timeoutSeconds + count) * 1000 + 5000 });
  return { ok: result.code === 0, output: result.stdout + result.stderr };
}

/** Pings until one reply arrives (the first may be spent on the handshake). */
export async function pingUntilReply(lab: Lab, ns: string, address: string, timeoutMs = 20_000): Promise<boolean> {
  return (await pingRoundTrip(lab, ns, address, timeoutMs)) !== undefined;
}

/** Pings until a reply comes: its round trip in ms as ping reports it, undefined on timeout. */
export async function pingRoundTrip(lab: Lab, ns: string, address: string, timeoutMs = 20_000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await lab.exec(ns, 'ping', ['-c', '1', '-W', '2', address], { timeoutMs: 5000 });
    const time = /time=([\d.]+) ms/.exec(result.stdout);
    if (result.code === 0 && time) return Number(time[1]);
  }
  return undefined;
}

export interface IperfSummary {
  bytes: number;
  bits_per_second: number;
  retransmits?: number;
}

export interface IperfOptions {
  /** Parallel TCP streams (-P), 1 unless given. */
  streams?: number;
  /** The server sends and the client receives (-R). */
  reverse?: boolean;
  attempts?: number;
}

/**
 * One iperf3 TCP run from clientNs to a server on `address` in serverNs. The server is started
 * for one test (-1) and the client only once the kernel shows it listening. iperf3 3.12 exits 0
 * even when its JSON reports an `error` (no `end` figures then): such a run is retried with a
 * fresh server, up to `attempts` times, and a run that keeps failing throws iperf3's messages.
 * `sum_received` is what the receiving end counted, whichever way the data flowed.
 */
export async function iperf3(lab: Lab, serverNs: string, clientNs: string, address: string, seconds: number, options: IperfOptions = {}): Promise<{ sum_sent: IperfSummary; sum_received: IperfSummary }> {
  const attempts = options.attempts ?? 3;
  const clientArgs = ['-c', address, '-t', String(seconds), '-P', String(options.streams ?? 1), ...(options.reverse ? ['-R'] : []), '-J'];
  const errors: string[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const server = lab.spawn(serverNs, 'iperf3', ['-s', '-1', '-B', address]);
    try {
      await waitFor(async () => {
        if (server.exitCode !== null) throw new Error(`iperf3 -s exited with ${server.exitCode}`);
        return /LISTEN/.test((await lab.exec(serverNs, 'ss', ['-Htln', `src ${address}:5201`])).stdout);
      }, 30_000, `iperf3 -s listening on ${address}:5201`);
      const client = await lab.exec(clientNs, 'iperf3', clientArgs, { timeoutMs: (seconds + 60) * 1000 });
      let report: { error?: string; end?: { sum_sent?: IperfSummary; sum_received?: IperfSummary } };
      try {
        report = JSON.parse(client.stdout);
      } catch {
        errors.push(`attempt ${attempt}: exit ${client.code}, no JSON: ${(client.stderr + client.stdout).slice(0, 300)}`);
        continue;
      }
      const { sum_sent: sent, sum_received: received } = report.end ?? {};
      if (report.error || client.code !== 0 || !sent || !received) {
        errors.push(`attempt ${attempt}: ${report.error ?? `exit ${client.code} without end figures`}`);
        continue;
      }
      return { sum_sent: sent, sum_received: received };
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    }
  }
  throw new Error(`iperf3 to ${address} failed ${attempts} times: ${errors.join('; ')}`);
}

/** `wg show IFACE dump` (run in ns; the socket is found by name), parsed per peer. */
export async function wgDump(lab: Lab, ns: string, iface: string): Promise<Array<{ publicKey: string; endpoint: string; allowedIps: string; latestHandshake: number; rx: number; tx: number }>> {
  const result = await lab.exec(ns, 'wg', ['show', iface, 'dump']);
  if (result.code !== 0) throw new Error(`wg show ${iface} dump failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').slice(1).filter(Boolean).map((line) => {
    const [publicKey, , endpoint, allowedIps, latestHandshake, rx, tx] = line.split('\t');
    return { publicKey, endpoint, allowedIps, latestHandshake: Number(latestHandshake), rx: Number(rx), tx: Number(tx) };
  });
}

/** Two namespaces joined by veth: NET.1 (a) and NET.2 (b), NET = 10.231.0 unless given. */
export async function twoHosts(lab: Lab, net = '10.231.0'): Promise<{ nsA: string; nsB: string; vethA: string; vethB: string }> {
  const nsA = await lab.netns('a');
  const nsB = await lab.netns('b');
  const vethA = uniqueName('nmva');
  const vethB = uniqueName('nmvb');
  await lab.veth(nsA, vethA, nsB, vethB);
  await lab.ip(nsA, 'addr', 'add', `${net}.1/24`, 'dev', vethA);
  await lab.ip(nsB, 'addr', 'add', `${net}.2/24`, 'dev', vethB);
  return { nsA, nsB, vethA, vethB };
}

/**
 * netmend on 10.232.0.1 (nsA, `port`) initiating to wireguard-go on 10.232.0.2 (nsB, `port` + 1),
 * which is given no endpoint and learns netmend's from the handshake.
 */
export async function netmendInitiatesToWireguardGo(lab: Lab, nsA: string, nsB: string, port: number, netmendOptions: { netmend?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ mine: Node; theirs: Node }> {
  const mine = newNode('netmend', nsA, '10.232.0.1', port);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', port + 1);
  await startNode(lab, theirs, [{ node: mine }]);
  await startNode(lab, mine, [{ node: theirs, endpoint: `10.231.0.2:${port + 1}` }], netmendOptions);
  return { mine, theirs };
}

/**
 * For full-tunnel tests: nsA and nsB over veth (10.241.0.1/.2), a wireguard-go peer in nsB on
 * 10.242.0.2 (port `port` + 1) that accepts `mine` (10.242.0.1, fd42::1), and 10.99.0.1 behind it
 * (on nsB's lo), which nsA reaches only through a tunnel's default route.
 */
export async function wireguardGoPeerWithAddressBehind(lab: Lab, port: number): Promise<{ nsA: string; nsB: string; mine: Node; peer: Node }> {
  const { nsA, nsB } = await twoHosts(lab, '10.241.0');
  await lab.ip(nsB, 'addr', 'add', '10.99.0.1/32', 'dev', 'lo');
  const mine = newNode('netmend', nsA, '10.242.0.1', port);
  const peer = newNode('wireguard-go', nsB, '10.242.0.2', port + 1);
  await startNode(lab, peer, [{ node: mine, allowedIps: ['10.242.0.1/32', 'fd42::1/128'] }]);
  await lab.ip(nsB, 'addr', 'add', 'fd42::2/64', 'nodad', 'dev', peer.iface);
  return { nsA, nsB, mine, peer };
}
