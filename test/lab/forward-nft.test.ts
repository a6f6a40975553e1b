/**
 * doctor forward and fix forwarding on an nftables router, with real traffic through a real
 * wireguard-go tunnel (forward-lab.ts): broken (no masquerade: the peer drops the LAN source),
 * fixed by hand (the user's own masquerade), refused (a drop in the user's own table, which an
 * accept elsewhere cannot undo), fixed by netmend (table inet netmend, persisted in
 * /etc/nftables.d), idempotent, undone byte for byte.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { tree, withoutJournal } from './fix-fixtures.js';
import { forwardLab, pings, rootPath, ruleset, tcpSeenAs } from './forward-lab.js';
import { labUnavailable } from './harness.js';
import { wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

test('forward.lan-to-mesh on nftables: broken, fixed by hand, refused over a user drop, fixed by netmend, undone byte for byte', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t);
  const wg = f.routerNode.iface;
  mkdirSync(rootPath(f, 'etc/nftables.d'), { recursive: true });
  writeFileSync(rootPath(f, 'etc/nftables.conf'), '#!/usr/sbin/nft -f\nflush ruleset\ninclude "/etc/nftables.d/*.nft"\n');

  // Broken: forwarded into the tunnel with the LAN source; the peer's AllowedIPs drop it.
  const broken = await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg]);
  const lanToMesh = broken.byId['forward.lan-to-mesh'];
  assert.equal(lanToMesh.status, 'warn', JSON.stringify(lanToMesh, null, 2));
  assert.match(lanToMesh.summary, /192\.168\.50\.2 .* leaves .* with source 192\.168\.50\.2, not masqueraded/);
  assert.ok(lanToMesh.evidence.some((line) => line.startsWith(`packet: icmp 192.168.50.2 → `) && line.endsWith(`arriving on ${f.lanIf}`)), lanToMesh.evidence.join('\n'));
  assert.ok(lanToMesh.evidence.some((line) => line.startsWith('reply: ')), 'the reply is part of the story');
  assert.match(lanToMesh.fix!.command, new RegExp(`netmend fix forwarding --lan ${f.lanIf} --tunnel ${wg} --masquerade`));
  assert.equal(broken.byId['forward.mesh-port'].status, 'pass', JSON.stringify(broken.byId['forward.mesh-port']));
  assert.equal(broken.byId['forward.firewall-backends'].status, 'pass');
  assert.equal(await pings(f, '10.9.0.2'), false, 'the peer drops the unmasqueraded LAN source');
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), undefined);

  // Fixed by hand: the user's own masquerade.
  await f.lab.exec(f.router, 'nft', ['-f', '-'], { input: `table ip handnat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${wg}" masquerade\n }\n}\n` });
  const byHand = await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg, '--check', 'forward.lan-to-mesh']);
  assert.equal(byHand.byId['forward.lan-to-mesh'].status, 'pass', JSON.stringify(byHand.byId['forward.lan-to-mesh']));
  assert.match(byHand.byId['forward.lan-to-mesh'].summary, /masqueraded to 10\.9\.0\.1/);
  assert.equal(await pings(f, '10.9.0.2'), true);
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1');
  await f.lab.exec(f.router, 'nft', ['delete', 'table', 'ip', 'handnat']);

  // A drop in the user's own table: netmend's table could not undo it, so the fix refuses.
  await f.lab.exec(f.router, 'nft', ['-f', '-'], { input: 'table inet userfw {\n chain forward {\n  type filter hook forward priority filter; policy drop;\n  ct state established,related accept\n }\n}\n' });
  const withUserDrop = await ruleset(f);
  const filesBefore = tree(f.root);
  const refused = await f.netmend(['fix', 'forwarding', '--masquerade', '--root', f.root, '--apply']);
  assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
  assert.match(refused.stderr, /refusing: inet userfw forward policy .* drops .*; nothing changed/);
  assert.match(refused.stderr, new RegExp(`iifname "${f.lanIf}" oifname "${wg}" accept`));
  assert.equal(await ruleset(f), withUserDrop);
  assert.deepEqual(tree(f.root), filesBefore);
  await f.lab.exec(f.router, 'nft', ['delete', 'table', 'inet', 'userfw']);

  // Fixed by netmend.
  const before = await ruleset(f);
  const plan = await f.netmend(['fix', 'forwarding', '--masquerade', '--root', f.root]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /fix forwarding \(nftables, \/etc\/nftables\.d\)/);
  assert.match(plan.stdout, /\+\s+oifname "[^"]+" masquerade/);
  assert.match(plan.stdout, /nft -f .*etc\/nftables\.d\/netmend-forwarding\.nft/);
  assert.equal(await ruleset(f), before, 'the plan changes nothing');
  assert.deepEqual(tree(f.root), filesBefore);

  const applied = await f.netmend(['fix', 'forwarding', '--masquerade', '--root', f.root, '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /forward\.lan-to-mesh: pass/);
  assert.match(await ruleset(f), /table inet netmend \{/);
  assert.equal(await pings(f, '10.9.0.2'), true);
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1', 'the peer sees the router\'s tunnel address');
  const persisted = readFileSync(rootPath(f, 'etc/nftables.d/netmend-forwarding.nft'), 'utf8');
  // The persisted file is what the boot loads: nft accepts it as it stands.
  const check = await f.lab.exec(f.router, 'nft', ['-c', '-f', rootPath(f, 'etc/nftables.d/netmend-forwarding.nft')]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(persisted, new RegExp(`iifname "${f.lanIf}" oifname "${wg}" accept`));
  const all = await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg]);
  assert.equal(all.code, 0, JSON.stringify(all.document.checks, null, 2));
  assert.deepEqual(all.document.checks.filter((c) => c.status === 'fail' || c.status === 'warn' || c.status === 'error').map((c) => c.id), []);

  const again = await f.netmend(['fix', 'forwarding', '--masquerade', '--root', f.root, '--apply']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /nothing to do/);

  const undo = await f.netmend(['fix', 'undo', '--root', f.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(await ruleset(f), before, 'undo restores the ruleset exactly');
  assert.deepEqual(withoutJournal(tree(f.root)), filesBefore, 'undo restores the files byte for byte');
  assert.equal(await pings(f, '10.9.0.2'), false);
});
