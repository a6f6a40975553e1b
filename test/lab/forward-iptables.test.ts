/**
 * fix forwarding on an iptables(-nft) router whose built-in chains drop by policy (as ufw and
 * Docker leave them) and that carries tailscaled's own chains, reproduced from its iptables
 * runner (ts-input, ts-forward with the 0x40000 subnet-route mark, ts-postrouting masquerading
 * that mark) on the real wireguard-go tunnel: mesh-port fails, LAN → mesh is unmasqueraded; the
 * fix adds NETMEND-* chains after tailscaled's jumps, and tailscaled's SNAT of mesh → LAN traffic
 * still happens (its counter moves). Undo restores iptables-save exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { tree, withoutJournal } from './fix-fixtures.js';
import { forwardLab, iptablesSave, pings, tailscaleChains, tcpSeenAs } from './forward-lab.js';
import { labUnavailable } from './harness.js';
import { wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

test('fix forwarding on iptables with tailscaled\'s chains: mesh-port and lan-to-mesh fixed, Tailscale\'s mark and SNAT intact, undo exact', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t);
  const wg = f.routerNode.iface;
  await tailscaleChains(f);

  const broken = await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg]);
  const port = broken.byId['forward.mesh-port'];
  assert.equal(port.status, 'fail', JSON.stringify(port, null, 2));
  assert.match(port.summary, new RegExp(`udp ${f.routerNode.port} \\(${wg}\\) from the WAN ${f.wanIf} is dropped by ip filter INPUT policy`));
  assert.ok(port.evidence.some((line) => /ip filter INPUT rule \d+: .*jump ts-input/.test(line)), port.evidence.join('\n'));
  assert.equal(broken.byId['forward.lan-to-mesh'].status, 'warn', JSON.stringify(broken.byId['forward.lan-to-mesh'], null, 2));
  assert.ok(broken.byId['forward.lan-to-mesh'].evidence.some((line) => /ip filter ts-forward rule \d+: oifname .* accept/.test(line)), broken.byId['forward.lan-to-mesh'].evidence.join('\n'));
  const meshToLan = broken.byId['forward.mesh-to-lan'];
  assert.equal(meshToLan.status, 'pass', JSON.stringify(meshToLan, null, 2));
  assert.match(meshToLan.summary, /SNAT on: it reaches the LAN from 192\.168\.50\.1/);
  assert.equal(broken.code, 1);
  assert.equal(await pings(f, '10.9.0.2'), false);

  const before = await iptablesSave(f);
  const filesBefore = tree(f.root);
  const applied = await f.netmend(['fix', 'forwarding', '--masquerade', '--allow-port', '--root', f.root, '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /fix forwarding \(iptables, netmend unit\)/);
  assert.match(applied.stdout, /forward\.lan-to-mesh: pass/);
  assert.match(applied.stdout, /forward\.mesh-port: pass/);
  const after = await iptablesSave(f);
  // tailscaled's jumps stay first; netmend's follow them.
  assert.match(after, /-A FORWARD -j ts-forward\n-A FORWARD -j NETMEND-FORWARD/);
  assert.match(after, /-A INPUT -j ts-input\n-A INPUT -j NETMEND-INPUT/);
  assert.match(after, /-A POSTROUTING -j ts-postrouting\n-A POSTROUTING -j NETMEND-POSTROUTING/);
  assert.equal(await pings(f, '10.9.0.2'), true);
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1');

  // Tailscale's subnet-router SNAT still works: the peer reaches the LAN, ts-postrouting masquerades it.
  await f.lab.exec(f.peer, 'wg', ['set', f.peerNode.iface, 'peer', Buffer.from(f.routerNode.publicKey).toString('base64'), 'allowed-ips', '10.9.0.1/32,192.168.50.0/24']);
  await f.lab.ip(f.peer, 'route', 'add', '192.168.50.0/24', 'dev', f.peerNode.iface);
  assert.equal((await f.lab.exec(f.peer, 'ping', ['-c', '1', '-W', '2', '192.168.50.2'])).code, 0, 'mesh → LAN still forwarded');
  const counters = (await f.lab.exec(f.router, 'iptables', ['-w', '-t', 'nat', '-L', 'ts-postrouting', '-v', '-n', '-x'])).stdout;
  assert.match(counters, /^\s*[1-9]\d*\s+\d+\s+MASQUERADE/m, counters);

  const undo = await f.netmend(['fix', 'undo', '--root', f.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(await iptablesSave(f), before, 'undo restores iptables-save exactly');
  assert.deepEqual(withoutJournal(tree(f.root)), withoutJournal(filesBefore), 'undo restores the files byte for byte');
});
