/**
 * forward.exit-node-lan with an exit node in use on the router: the wireguard-go peer is the exit
 * node, with an internet stand-in (203.0.113.10, its own namespace) behind it; the router sends
 * its own internet traffic into the tunnel the way tailscaled does (default route in table 52,
 * rules 5210-5270, the tunnel's UDP marked 0x80000 so it keeps leaving by the WAN). The peer's
 * namespace is also the ISP side of the WAN, so a leak reaches the stand-in too, seen as the
 * router's WAN address instead of the exit node's:
 *
 *   client ─ lan ─ router ─ wan ─ peer (ISP + exit node, masquerades tunnel traffic) ─ internet 203.0.113.10
 *                     wg ═══ tunnel ═══ wg
 *
 * Scenarios with real traffic: leak (the LAN bypasses the exit node by a rule of the user's),
 * black hole (into the tunnel unmasqueraded: the exit node drops the LAN source), fixed by hand
 * (the user's masquerade), fixed by netmend (`fix forwarding --masquerade`), undone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { tree, withoutJournal } from './fix-fixtures.js';
import { echoServer, forwardLab, pings, ruleset, tcpSeenAs, type ForwardLab } from './forward-lab.js';
import { labUnavailable, uniqueName } from './harness.js';
import { b64, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();
const INTERNET = '203.0.113.10';
const EXIT_NODE_PUBLIC = '203.0.113.1';

async function nft(f: ForwardLab, ns: string, text: string): Promise<void> {
  const result = await f.lab.exec(ns, 'nft', ['-f', '-'], { input: text });
  assert.equal(result.code, 0, `nft -f: ${result.stderr}\n${text}`);
}

/** The internet stand-in behind the peer, and the peer as an exit node masquerading what comes out of the tunnel. */
async function exitNode(f: ForwardLab): Promise<void> {
  const internet = await f.lab.netns('fi');
  const peerSide = uniqueName('nmfe');
  const internetSide = uniqueName('nmfn');
  await f.lab.veth(f.peer, peerSide, internet, internetSide);
  await f.lab.ip(f.peer, 'addr', 'add', `${EXIT_NODE_PUBLIC}/24`, 'dev', peerSide);
  await f.lab.ip(internet, 'addr', 'add', `${INTERNET}/24`, 'dev', internetSide);
  await f.lab.ip(internet, 'route', 'add', 'default', 'via', EXIT_NODE_PUBLIC);
  await f.lab.exec(f.peer, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await nft(f, f.peer, `table ip exitnode {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  iifname "${f.peerNode.iface}" oifname "${peerSide}" masquerade\n }\n}\n`);
  await echoServer(f.lab, internet, f.tcpPort);

  // The router: an ordinary WAN masquerade, and its own internet traffic through the exit node.
  const wg = f.routerNode.iface;
  await nft(f, f.router, `table ip wannat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${f.wanIf}" masquerade\n }\n}\n`);
  const set = await f.lab.exec(f.router, 'wg', ['set', wg, 'fwmark', '0x80000', 'peer', b64(f.peerNode.publicKey), 'allowed-ips', '10.9.0.2/32,10.77.0.0/24,0.0.0.0/0']);
  assert.equal(set.code, 0, set.stderr);
  await f.lab.tailscaleRules(f.router, { families: [4] });
  await f.lab.batch(f.router, [
    `route add default dev ${wg} table 52`,
    'route add throw 192.168.50.0/24 table 52',
    'route add throw 198.18.0.0/24 table 52',
  ]);
  const routerSees = await f.lab.exec(f.router, 'python3', ['-c', 'import socket,sys\nc=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5);print(c.recv(100).decode().strip())', INTERNET, String(f.tcpPort)]);
  assert.equal(routerSees.stdout.trim(), EXIT_NODE_PUBLIC, `the router itself reaches the internet through the exit node: ${routerSees.stderr}`);
}

test('forward.exit-node-lan: leak and black hole found, fixed by hand and by netmend, with real traffic to an internet stand-in', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t);
  const wg = f.routerNode.iface;
  await exitNode(f);
  const doctor = async () => (await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg, '--check', 'forward.exit-node-lan'])).byId['forward.exit-node-lan'];

  // Leak: a rule of the user's sends the LAN by the main table, out of the WAN.
  await f.lab.ip(f.router, 'rule', 'add', 'pref', '5000', 'from', '192.168.50.0/24', 'lookup', 'main');
  const leak = await doctor();
  assert.equal(leak.status, 'fail', JSON.stringify(leak, null, 2));
  assert.match(leak.summary, new RegExp(`^leak: LAN clients' internet traffic \\(192\\.168\\.50\\.2 → 1\\.1\\.1\\.1\\) leaves by ${f.wanIf}, not through the exit node`));
  assert.ok(leak.evidence.some((line) => line.includes(`routing: 1.1.1.1 from 192.168.50.2 via 198.18.0.2 dev ${f.wanIf}`)), leak.evidence.join('\n'));
  assert.equal(await tcpSeenAs(f, INTERNET), '198.18.0.1', 'the stand-in sees the router\'s WAN address: the LAN leaked past the exit node');
  await f.lab.ip(f.router, 'rule', 'del', 'pref', '5000');

  // Black hole: into the tunnel with the LAN source; the exit node accepts only 10.9.0.1 from the router.
  const hole = await doctor();
  assert.equal(hole.status, 'warn', JSON.stringify(hole, null, 2));
  assert.match(hole.summary, new RegExp(`^black hole: internet traffic of 192\\.168\\.50\\.2 \\(${f.lanIf}\\) → 1\\.1\\.1\\.1 \\(icmp\\) leaves ${wg} with source 192\\.168\\.50\\.2, not masqueraded`));
  assert.match(hole.fix!.command, new RegExp(`netmend fix forwarding --lan ${f.lanIf} --tunnel ${wg} --masquerade`));
  assert.equal(await pings(f, INTERNET), false);
  assert.equal(await tcpSeenAs(f, INTERNET), undefined, 'the exit node drops the unmasqueraded LAN source');

  // Fixed by hand: the user's masquerade on the tunnel.
  await nft(f, f.router, `table ip handnat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${wg}" masquerade\n }\n}\n`);
  const byHand = await doctor();
  assert.equal(byHand.status, 'pass', JSON.stringify(byHand, null, 2));
  assert.match(byHand.summary, /reach the internet through the exit node, masqueraded to 10\.9\.0\.1 on /);
  assert.equal(await pings(f, INTERNET), true);
  assert.equal(await tcpSeenAs(f, INTERNET), EXIT_NODE_PUBLIC, 'through the tunnel: the stand-in sees the exit node');
  await f.lab.exec(f.router, 'nft', ['delete', 'table', 'ip', 'handnat']);

  // Fixed by netmend; its verification includes the exit node check.
  const before = await ruleset(f);
  const filesBefore = tree(f.root);
  const applied = await f.netmend(['fix', 'forwarding', '--masquerade', '--tunnel', wg, '--root', f.root, '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /forward\.exit-node-lan: pass: LAN clients .* reach the internet through the exit node/);
  assert.equal(await pings(f, INTERNET), true);
  assert.equal(await tcpSeenAs(f, INTERNET), EXIT_NODE_PUBLIC);
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1', 'the mesh subnet still works');
  const all = await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg]);
  assert.deepEqual(all.document.checks.filter((c) => ['warn', 'fail', 'error'].includes(c.status)).map((c) => `${c.id}: ${c.summary}`), []);

  const undo = await f.netmend(['fix', 'undo', '--root', f.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(await ruleset(f), before);
  assert.deepEqual(withoutJournal(tree(f.root)), filesBefore);
  assert.equal(await tcpSeenAs(f, INTERNET), undefined, 'undone: the black hole is back');
});
