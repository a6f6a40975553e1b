/**
 * forward.mesh-to-lan and forward.mesh-port on the forwarding lab's router, firewalled the way
 * ufw and Docker leave iptables (INPUT and FORWARD policy DROP, established and LAN → mesh
 * accepted), with real traffic from the mesh peer: a ping and a TCP connection to the LAN client
 * (the peer routes 192.168.50.0/24 into the tunnel; no SNAT, the client's default gateway is the
 * router, so the client sees the peer's own address), and the peer's packets to the router's
 * WireGuard port from a port the router has not talked to (a NAT rebinding, a roaming peer).
 * Healthy, broken, the reply's way dropped, fixed by hand, fixed by netmend (`--masquerade
 * --from-mesh --allow-port`), undone; then `netmend doctor` on the healthy router with its mesh: green.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { tree, withoutJournal } from './fix-fixtures.js';
import { echoServer, forwardLab, iptables, iptablesSave, pings, tcpSeenAs, type ForwardLab } from './forward-lab.js';
import { labUnavailable } from './harness.js';
import { b64, pingUntilReply, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

/** The peer's WireGuard socket moves to a new port: to the router, a new flow (ct state new). */
async function peerRebinds(f: ForwardLab, port: number): Promise<void> {
  const moved = await f.lab.exec(f.peer, 'wg', ['set', f.peerNode.iface, 'listen-port', String(port)]);
  assert.equal(moved.code, 0, moved.stderr);
}

test('forward.mesh-to-lan and forward.mesh-port: healthy, broken, reply dropped, fixed by hand, fixed by netmend, undone; doctor green', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t, { peerAllows: ['10.9.0.1/32', '192.168.50.0/24'] });
  const wg = f.routerNode.iface;
  const lanPort = f.tcpPort + 1;
  await echoServer(f.lab, f.client, lanPort);
  await f.lab.ip(f.peer, 'route', 'add', '192.168.50.0/24', 'dev', f.peerNode.iface);
  // Only the peer starts conversations: the router waits to be reached on its port.
  await f.lab.exec(f.router, 'wg', ['set', wg, 'peer', b64(f.peerNode.publicKey), 'persistent-keepalive', '0']);
  const doctor = async () => (await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg, '--check', 'forward.mesh-to-lan', '--check', 'forward.mesh-port'])).byId;
  const peerReachesLan = async () => (await pings(f, '192.168.50.2', f.peer)) && (await tcpSeenAs(f, '192.168.50.2', f.peer, lanPort)) === '10.9.0.2';

  // Healthy: no firewall.
  const healthy = await doctor();
  assert.equal(healthy['forward.mesh-to-lan'].status, 'pass', JSON.stringify(healthy['forward.mesh-to-lan'], null, 2));
  assert.match(healthy['forward.mesh-to-lan'].summary, /no SNAT: LAN hosts must route 10\.9\.0\.2 back through this router/);
  assert.equal(healthy['forward.mesh-port'].status, 'pass');
  assert.equal(await peerReachesLan(), true, 'the peer reaches the LAN and the client sees 10.9.0.2');

  // Broken: policies drop; the mesh port is not accepted and nothing lets the mesh into the LAN.
  const firewall = [
    '-P INPUT DROP', '-P FORWARD DROP', '-A INPUT -i lo -j ACCEPT', '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', `-A INPUT -i ${wg} -j ACCEPT`,
    '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', `-A FORWARD -i ${f.lanIf} -o ${wg} -j ACCEPT`,
    `-t nat -A POSTROUTING -o ${f.wanIf} -j MASQUERADE`,
  ];
  await iptables(f, firewall);
  const broken = await doctor();
  const port = broken['forward.mesh-port'];
  assert.equal(port.status, 'fail', JSON.stringify(port, null, 2));
  assert.match(port.summary, new RegExp(`^udp ${f.routerNode.port} \\(${wg}\\) from the WAN ${f.wanIf} is dropped by ip filter INPUT policy: peers behind NAT cannot reach this router directly`));
  assert.equal(port.fix!.command, `netmend fix forwarding --tunnel ${wg} --allow-port`);
  const meshToLan = broken['forward.mesh-to-lan'];
  assert.equal(meshToLan.status, 'warn', 'plain WireGuard: netmend infers the subnet router from forwarding, so it warns');
  assert.match(meshToLan.summary, new RegExp(`^mesh peer 10\\.9\\.0\\.2 \\(${wg}\\) → 192\\.168\\.50\\.2 \\(192\\.168\\.50\\.0/24 on ${f.lanIf}, icmp\\) is dropped by ip filter FORWARD policy`));
  assert.match(meshToLan.fix!.command, /--from-mesh$/);
  await peerRebinds(f, f.peerNode.port + 100);
  assert.equal(await pings(f, '10.9.0.1', f.peer), false, 'the peer\'s packets from its new port are dropped by input');

  // The port fixed by hand; the mesh still cannot enter the LAN.
  await iptables(f, [`-I INPUT 1 -i ${f.wanIf} -p udp --dport ${f.routerNode.port} -j ACCEPT`]);
  assert.equal((await doctor())['forward.mesh-port'].status, 'pass');
  assert.equal(await pingUntilReply(f.lab, f.peer, '10.9.0.1', 20_000), true, 'accepted: the peer reaches the router from its new port');
  assert.equal(await pings(f, '192.168.50.2', f.peer), false, 'forward drops the mesh → LAN traffic');

  // Forwarded, but the reply's way is dropped (no established accept, no LAN → mesh accept for it).
  await iptables(f, [`-I FORWARD 1 -i ${wg} -o ${f.lanIf} -j ACCEPT`, '-D FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', `-D FORWARD -i ${f.lanIf} -o ${wg} -j ACCEPT`]);
  const oneWay = (await doctor())['forward.mesh-to-lan'];
  assert.equal(oneWay.status, 'warn', JSON.stringify(oneWay, null, 2));
  assert.match(oneWay.summary, /is forwarded \(no SNAT: .*\), but the reply does not get back: dropped at forward by ip filter FORWARD policy/);
  assert.ok(oneWay.evidence.some((line) => line.startsWith(`reply: icmp 192.168.50.2 → 10.9.0.2 arriving on ${f.lanIf}`)), oneWay.evidence.join('\n'));
  assert.equal(await pings(f, '192.168.50.2', f.peer), false, 'the request gets in, the reply does not get out');

  // Fixed by hand: the replies accepted again.
  await iptables(f, ['-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']);
  const byHand = (await doctor())['forward.mesh-to-lan'];
  assert.equal(byHand.status, 'pass', JSON.stringify(byHand, null, 2));
  assert.equal(await peerReachesLan(), true);

  // Broken again, the peer on yet another port; fixed by netmend.
  await iptables(f, ['-F INPUT', '-F FORWARD', '-t nat -F POSTROUTING', ...firewall.filter((rule) => !rule.startsWith('-P'))]);
  await peerRebinds(f, f.peerNode.port + 200);
  assert.equal(await pings(f, '10.9.0.1', f.peer), false);
  const before = await iptablesSave(f);
  const filesBefore = tree(f.root);
  const applied = await f.netmend(['fix', 'forwarding', '--tunnel', wg, '--masquerade', '--from-mesh', '--allow-port', '--root', f.root, '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /forward\.mesh-to-lan: pass/);
  assert.match(applied.stdout, /forward\.mesh-port: pass: accepted from the WAN/);
  assert.equal(await pingUntilReply(f.lab, f.peer, '10.9.0.1', 20_000), true);
  assert.equal(await peerReachesLan(), true);

  // The healthy router with its mesh: every topic of the doctor green (the tunnel without its
  // fe80::/64 route, as `netmend fix link-local` leaves it).
  await f.lab.exec(f.router, 'sysctl', ['-qw', `net.ipv6.conf.${wg}.addr_gen_mode=1`]);
  await f.lab.ip(f.router, '-6', 'addr', 'flush', 'dev', wg, 'scope', 'link');
  await f.lab.exec(f.router, 'ip', ['-6', 'route', 'del', 'fe80::/64', 'dev', wg]);
  const all = await doctorJson(f.lab, f.router, ['doctor', '--iface', wg]);
  assert.deepEqual(all.document.checks.filter((c) => ['warn', 'fail', 'error'].includes(c.status)).map((c) => `${c.id}: ${c.status}: ${c.summary}`), []);
  assert.equal(all.code, 0);
  assert.ok(all.document.checks.filter((c) => c.status === 'pass').length >= 8, JSON.stringify(all.document.summary));

  const undo = await f.netmend(['fix', 'undo', '--root', f.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(await iptablesSave(f), before, 'undo restores iptables-save exactly');
  assert.deepEqual(withoutJournal(tree(f.root)), withoutJournal(filesBefore));
  assert.equal(await pings(f, '192.168.50.2', f.peer), false, 'undone: the mesh is kept out of the LAN again');
});
