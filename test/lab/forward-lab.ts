/**
 * The forwarding lab: a LAN client, a router running netmend and a mesh peer (wireguard-go) with a
 * network behind it (10.77.0.0/24) and an internet stand-in, in three namespaces:
 *
 *   client 192.168.50.2 ─ lan ─ 192.168.50.1 router 198.18.0.1 ─ wan ─ 198.18.0.2 peer
 *                                      wg 10.9.0.1  ═══ tunnel ═══  wg 10.9.0.2
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

export async function forwardLab(t: TestContext, options: { peerAllows?: string[] } = {}): Promise<ForwardLab> {
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
  await lab.ip(router, 'addr', 'add', '198.18.0.1/24', 'dev', wanIf);
  await lab.ip(peer, 'addr', 'add', '198.18.0.2/24', 'dev', peerWan);
  await lab.ip(router, 'route', 'add', 'default', 'via', '198.18.0.2');
  await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // The network behind the peer, and the internet stand-in, are its own addresses.
  await lab.ip(peer, 'addr', 'add', '10.77.0.1/24', 'dev', 'lo');

  const port = 44100 + (process.pid % 400) * 2;
  const routerNode = newNode('wireguard-go', router, '10.9.0.1', port);
  const peerNode = newNode('wireguard-go', peer, '10.9.0.2', port + 1);
  await startNode(lab, peerNode, [{ node: routerNode, allowedIps: options.peerAllows ?? ['10.9.0.1/32'], endpoint: `198.18.0.1:${port}` }]);
  await startNode(lab, routerNode, [{ node: peerNode, allowedIps: ['10.9.0.2/32', '10.77.0.0/24'], endpoint: `198.18.0.2:${port + 1}`, persistentKeepalive: 1 }]);
  await lab.ip(router, 'route', 'add', '10.77.0.0/24', 'dev', routerNode.iface);
  await waitFor(async () => (await lab.exec(router, 'ping', ['-c', '1', '-W', '1', '10.9.0.2'])).code === 0, 30_000, 'the tunnel');

  const tcpPort = 8000 + (process.pid % 1000);
  const server = lab.spawn(peer, 'python3', ['-c', ECHO_SERVER, String(tcpPort)]);
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (chunk) => { if (String(chunk).includes('ready')) resolve(); });
    server.once('exit', (code) => reject(new Error(`echo server exited ${code}`)));
  });
  const root = lab.tmpdir();
  return {
    lab, client, router, peer, lanIf, wanIf, routerNode, peerNode, root, tcpPort,
    netmend: (args) => lab.netmend(router, args, { env: { SSH_CONNECTION: '' }, timeoutMs: 90_000 }),
  };
}

/** Ping from the LAN client: true when answered. */
export async function pings(f: ForwardLab, address: string): Promise<boolean> {
  return (await f.lab.exec(f.client, 'ping', ['-c', '1', '-W', '2', address])).code === 0;
}

/** A TCP connection from the LAN client; the address the server saw, or undefined when it failed. */
export async function tcpSeenAs(f: ForwardLab, address: string): Promise<string | undefined> {
  const result = await f.lab.exec(f.client, 'python3', ['-c', TCP_CLIENT, address, String(f.tcpPort)]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export async function ruleset(f: ForwardLab): Promise<string> {
  return (await f.lab.exec(f.router, 'nft', ['list', 'ruleset'])).stdout;
}

export function rootPath(f: ForwardLab, path: string): string {
  return join(f.root, path);
}
