/**
 * fix forwarding on OpenWrt: the forwarding lab's router with an OpenWrt root (openwrt_release,
 * the stock firewall, a network config naming the lab's LAN and WAN devices) and a `fw4` on PATH
 * that renders /etc/config/firewall into fw4's `inet fw4` table and loads it into the router's
 * namespace (test/lab/fw4.ts). Broken: the stock zones leave the tunnel in no zone, so LAN →
 * mesh is rejected and the mesh port is closed on the WAN. `netmend fix forwarding --masquerade
 * --from-mesh --allow-port --apply` writes the zone, the forwardings and the port rule and runs
 * `fw4 reload`; the kernel then carries real traffic both ways and the peer reaches the port from
 * a new source port. Undo restores the file byte for byte and `fw4 reload` the old ruleset.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { echoServer, forwardLab, pings, ruleset, tcpSeenAs } from './forward-lab.js';
import { labUnavailable, projectRoot } from './harness.js';
import { b64, pingUntilReply, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

test('fix forwarding on OpenWrt: the UCI zone, forwardings and port rule, rendered by a fw4 stand-in into the kernel, carry real traffic', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t, { peerAllows: ['10.9.0.1/32', '192.168.50.0/24'] });
  const wg = f.routerNode.iface;
  await f.lab.ip(f.peer, 'route', 'add', '192.168.50.0/24', 'dev', f.peerNode.iface);
  const lanPort = f.tcpPort + 1;
  await echoServer(f.lab, f.client, lanPort);

  const root = f.root;
  mkdirSync(join(root, 'etc/config'), { recursive: true });
  writeFileSync(join(root, 'etc/openwrt_release'), "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.5'\n");
  const stock = join(projectRoot, 'test/openwrt/fixtures/config/firewall');
  copyFileSync(stock, join(root, 'etc/config/firewall'));
  writeFileSync(join(root, 'etc/config/network'), `config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\nconfig interface 'lan'\n\toption device '${f.lanIf}'\n\toption proto 'static'\n\toption ipaddr '192.168.50.1'\n\toption netmask '255.255.255.0'\n\nconfig interface 'wan'\n\toption device '${f.wanIf}'\n\toption proto 'static'\n`);
  const bin = f.lab.tmpdir();
  writeFileSync(join(bin, 'fw4'), `#!/bin/sh\nexec "${process.execPath}" "${join(projectRoot, 'dist/test/lab/fw4.js')}" "$@"\n`);
  chmodSync(join(bin, 'fw4'), 0o755);
  const env = { SSH_CONNECTION: '', FW4_ROOT: root, PATH: `${bin}:${process.env.PATH}` };
  const fw4Reload = async () => {
    const reload = await f.lab.exec(f.router, join(bin, 'fw4'), ['reload'], { env: { ...process.env, ...env } });
    assert.equal(reload.code, 0, reload.stderr);
  };

  // The stock firewall: zones lan and wan only.
  await fw4Reload();
  assert.match(await ruleset(f), /table inet fw4 \{/);
  const broken = await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg], env);
  assert.equal(broken.byId['forward.lan-to-mesh'].status, 'fail', JSON.stringify(broken.byId['forward.lan-to-mesh'], null, 2));
  assert.match(broken.byId['forward.lan-to-mesh'].summary, /is rejected by inet fw4 handle_reject rule \d+/);
  assert.equal(broken.byId['forward.mesh-port'].status, 'fail');
  assert.match(broken.byId['forward.mesh-port'].summary, /is rejected by inet fw4 handle_reject/);
  assert.equal(await pings(f, '10.9.0.2'), false, 'fw4 rejects LAN → tunnel: the tunnel is in no zone');
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), undefined);

  const plan = await f.lab.netmend(f.router, ['fix', 'forwarding', '--masquerade', '--from-mesh', '--allow-port', '--root', root], { env, timeoutMs: 90_000 });
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /fix forwarding \(uci \(fw4\)\)/);
  assert.match(plan.stdout, /fw4 reload/);
  assert.equal(readFileSync(join(root, 'etc/config/firewall'), 'utf8'), readFileSync(stock, 'utf8'), 'the plan changes nothing');

  const applied = await f.lab.netmend(f.router, ['fix', 'forwarding', '--masquerade', '--from-mesh', '--allow-port', '--root', root, '--apply'], { env, timeoutMs: 90_000 });
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /forward\.lan-to-mesh: pass: .*masqueraded to 10\.9\.0\.1/);
  assert.match(applied.stdout, /forward\.mesh-to-lan: pass/);
  assert.match(applied.stdout, /forward\.mesh-port: pass/);
  const live = await ruleset(f);
  // What fw4 made of netmend's sections: the zone's chains, the forwardings, masquerade, the port.
  assert.match(live, new RegExp(`iifname "${f.lanIf}" jump forward_lan`));
  assert.match(live, /chain forward_lan \{\n\t\tjump accept_to_wan .*\n\t\tjump accept_to_nm_mesh /);
  assert.match(live, /chain forward_nm_mesh \{\n\t\tjump accept_to_lan /);
  assert.match(live, new RegExp(`oifname "${wg}" jump srcnat_nm_mesh`));
  assert.match(live, new RegExp(`chain input_wan \\{[^}]*udp dport ${f.routerNode.port} counter packets \\d+ bytes \\d+ accept comment "!fw4: Allow-netmend-mesh-port"`));

  // Real traffic: LAN → mesh masqueraded, mesh → LAN, and the port open to a peer on a new port.
  assert.equal(await pings(f, '10.9.0.2'), true);
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1', 'masqueraded by the nm_mesh zone');
  assert.equal(await pings(f, '192.168.50.2', f.peer), true, 'forwarding nm_mesh → lan');
  assert.equal(await tcpSeenAs(f, '192.168.50.2', f.peer, lanPort), '10.9.0.2');
  await f.lab.exec(f.router, 'wg', ['set', wg, 'peer', b64(f.peerNode.publicKey), 'persistent-keepalive', '0']);
  await f.lab.exec(f.peer, 'wg', ['set', f.peerNode.iface, 'listen-port', String(f.peerNode.port + 100)]);
  assert.equal(await pingUntilReply(f.lab, f.peer, '10.9.0.1', 20_000), true, 'the wan rule accepts the peer from its new port');

  const undo = await f.lab.netmend(f.router, ['fix', 'undo', '--root', root], { env, timeoutMs: 90_000 });
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(readFileSync(join(root, 'etc/config/firewall'), 'utf8'), readFileSync(stock, 'utf8'), 'undo restores the firewall config byte for byte');
  assert.doesNotMatch(await ruleset(f), /nm_mesh/, 'and fw4 reload renders the stock ruleset again');
  assert.equal(await pings(f, '10.9.0.2'), false);
});
