/**
 * The forwarding lab: a LAN client, a router running netmend and a mesh peer (wireguard-go) with a
 * network behind it (10.77.0.0/24) and an internet stand-in, in three namespaces:
 *
 *   client 192.168.50.2 ─ lan ─ 192.168.50.1 router 198.18.0.1 ─ wan ─ 198.18.0.2 peer
 *                                      wg 10.9.0.1  ═══ tunnel ═══  wg 10.9.0.2
 *
 * (`wan` moves the WAN elsewhere, e.g. into an ISP's CGNAT range 100.64.0.0/10.)
 *
 * The peer accepts from the router only 10.9.0.1/32 (its AllowedIPs), as a WireGuard peer does:
 * a LAN source that is not masqueraded is dropped there. Real traffic: ping and a TCP connection
 * to a server on the peer that answers with the address it saw.
 */
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Lab, uniqueName } from './harness.js';
import { newNode, startNode, waitFor, type Node } from './mesh-interop-lab.js';

export interface ForwardLab {
  lab: Lab;
  client: string;
  router: string;
  peer: string;
  /** The peer's end of the WAN veth (the ISP side). */
  peerWan: string;
  lanIf: string;
  wanIf: string;
  routerNode: Node;
  peerNode: Node;
  root: string;
  tcpPort: number;
  netmend(args: string[]): ReturnType<Lab['netmend']>;
}

/** A TCP server that writes the client's address and closes. */
const ECHO_SERVER = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16); print('ready', flush=True)
while True:
    c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()
`;

const TCP_CLIENT = `
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); print(c.recv(100).decode().strip())
except Exception as e:
    print('error', e); sys.exit(1)
`;

export interface WanAddresses {
  /** The router's WAN address and the gateway (the peer's side), both in one /24. */
  router: string;
  gateway: string;
}

export const DEFAULT_WAN: WanAddresses = { router: '198.18.0.1', gateway: '198.18.0.2' };

export async function forwardLab(t: TestContext, options: { peerAllows?: string[]; wan?: WanAddresses } = {}): Promise<ForwardLab> {
  const wan = options.wan ?? DEFAULT_WAN;
  const lab = Lab.forTest(t);
  const client = await lab.netns('fc');
  const router = await lab.netns('fr');
  const peer = await lab.netns('fp');
  const lanIf = uniqueName('nmfl');
  const wanIf = uniqueName('nmfw');
  await lab.veth(client, uniqueName('nmfc'), router, lanIf);
  const clientIf = (await lab.ip(client, '-o', 'link', 'show')).match(/\d+: (nmfc[^@:]+)/)![1];
  await lab.ip(client, 'addr', 'add', '192.168.50.2/24', 'dev', clientIf);
  await lab.ip(client, 'route', 'add', 'default', 'via', '192.168.50.1');
  await lab.ip(router, 'addr', 'add', '192.168.50.1/24', 'dev', lanIf);
  const peerWan = uniqueName('nmfx');
  await lab.veth(router, wanIf, peer, peerWan);
  await lab.ip(router, 'addr', 'add', `${wan.router}/24`, 'dev', wanIf);
  await lab.ip(peer, 'addr', 'add', `${wan.gateway}/24`, 'dev', peerWan);
  await lab.ip(router, 'route', 'add', 'default', 'via', wan.gateway);
  await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // The network behind the peer, and the internet stand-in, are its own addresses.
  await lab.ip(peer, 'addr', 'add', '10.77.0.1/24', 'dev', 'lo');

  const port = 44100 + (process.pid % 400) * 2;
  const routerNode = newNode('wireguard-go', router, '10.9.0.1', port);
  const peerNode = newNode('wireguard-go', peer, '10.9.0.2', port + 1);
  await startNode(lab, peerNode, [{ node: routerNode, allowedIps: options.peerAllows ?? ['10.9.0.1/32'], endpoint: `${wan.router}:${port}` }]);
  await startNode(lab, routerNode, [{ node: peerNode, allowedIps: ['10.9.0.2/32', '10.77.0.0/24'], endpoint: `${wan.gateway}:${port + 1}`, persistentKeepalive: 1 }]);
  await lab.ip(router, 'route', 'add', '10.77.0.0/24', 'dev', routerNode.iface);
  await waitFor(async () => (await lab.exec(router, 'ping', ['-c', '1', '-W', '1', '10.9.0.2'])).code === 0, 30_000, 'the tunnel');

  const tcpPort = 8000 + (process.pid % 1000);
  await echoServer(lab, peer, tcpPort);
  const root = lab.tmpdir();
  return {
    lab, client, router, peer, peerWan, lanIf, wanIf, routerNode, peerNode, root, tcpPort,
    netmend: (args) => lab.netmend(router, args, { env: { SSH_CONNECTION: '' }, timeoutMs: 90_000 }),
  };
}

/** A TCP server in ns on port that tells each client the address it saw; resolves once it listens. */
export async function echoServer(lab: Lab, ns: string, port: number): Promise<void> {
  const server = lab.spawn(ns, 'python3', ['-c', ECHO_SERVER, String(port)]);
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (chunk) => { if (String(chunk).includes('ready')) resolve(); });
    server.once('exit', (code) => reject(new Error(`echo server exited ${code}`)));
  });
}

/** Ping (from the LAN client unless `from` says otherwise): true when answered. */
export async function pings(f: ForwardLab, address: string, from = f.client): Promise<boolean> {
  return (await f.lab.exec(from, 'ping', ['-c', '1', '-W', '2', address])).code === 0;
}

/** A TCP connection (from the LAN client unless `from` says otherwise) to an echo server; the address the server saw, or undefined when it failed. */
export async function tcpSeenAs(f: ForwardLab, address: string, from = f.client, port = f.tcpPort): Promise<string | undefined> {
  const result = await f.lab.exec(from, 'python3', ['-c', TCP_CLIENT, address, String(port)]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** iptables in the router namespace, one rule or command per string; throws naming the one that failed. */
export async function iptables(f: ForwardLab, commands: string[], tool = 'iptables'): Promise<void> {
  for (const command of commands) {
    const result = await f.lab.exec(f.router, tool, ['-w', ...command.split(' ')]);
    if (result.code !== 0) throw new Error(`${tool} ${command}: ${result.stderr}`);
  }
}

/**
 * The chains tailscaled's iptables runner installs (util/linuxfw/iptables_runner.go addBase4 and
 * addSNATRule), with the lab's tunnel standing in for tailscale0: ts-input drops 100.64.0.0/10
 * sources on other interfaces (v1.98's node attribute disable-linux-cgnat-drop-rule makes that
 * a RETURN), ts-forward marks the tunnel's traffic 0x40000 and ts-postrouting masquerades it.
 */
export async function tailscaleChains(f: ForwardLab, options: { cgnat?: 'DROP' | 'RETURN'; dropPolicies?: boolean } = {}): Promise<void> {
  const wg = f.routerNode.iface;
  await iptables(f, [
    ...(options.dropPolicies === false ? [] : ['-P FORWARD DROP', '-P INPUT DROP', '-A INPUT -i lo -j ACCEPT', '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']),
    '-N ts-input', '-N ts-forward', '-t nat -N ts-postrouting',
    '-I INPUT 1 -j ts-input', '-I FORWARD 1 -j ts-forward', '-t nat -I POSTROUTING 1 -j ts-postrouting',
    `-A ts-input -i lo -s 10.9.0.1 -j ACCEPT`,
    `-A ts-input ! -i ${wg} -s 100.115.92.0/23 -j RETURN`,
    `-A ts-input ! -i ${wg} -s 100.64.0.0/10 -j ${options.cgnat ?? 'DROP'}`,
    `-A ts-input -i ${wg} -j ACCEPT`,
    `-A ts-forward -i ${wg} -j MARK --set-xmark 0x40000/0xff0000`,
    '-A ts-forward -m mark --mark 0x40000/0xff0000 -j ACCEPT',
    `-A ts-forward -s 100.64.0.0/10 -o ${wg} -j DROP`,
    `-A ts-forward -o ${wg} -j ACCEPT`,
    '-t nat -A ts-postrouting -m mark --mark 0x40000/0xff0000 -j MASQUERADE',
  ]);
}

/** iptables-save of the router without comments and counters, to compare before and after. */
export async function iptablesSave(f: ForwardLab, tool = 'iptables-save'): Promise<string> {
  const out = (await f.lab.exec(f.router, tool)).stdout;
  return out.split('\n').filter((line) => !line.startsWith('#')).map((line) => line.replace(/\[\d+:\d+\]/, '')).join('\n');
}

export async function ruleset(f: ForwardLab): Promise<string> {
  return (await f.lab.exec(f.router, 'nft', ['list', 'ruleset'])).stdout;
}

export function rootPath(f: ForwardLab, path: string): string {
  return join(f.root, path);
}
