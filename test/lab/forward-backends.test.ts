/**
 * forward.firewall-backends on the forwarding lab's router, with real rules in both backends:
 * - iptables-legacy and nftables both active: the nftables table masquerades and accepts LAN →
 *   mesh, an iptables-legacy FORWARD rule drops the mesh subnet. `nft list ruleset` shows no
 *   drop, yet the TCP connection fails; the check names both halves, and lan-to-mesh names the
 *   legacy rule. Fixed by hand: the legacy rule moved out.
 * - rules left by a removed tailscaled (ts-* chains for a tailscale0 that does not exist, in
 *   iptables-nft): found; running the cleanup the check prints removes them (pass).
 * - healthy: tailscaled's chains for a tunnel that exists (the lab's wireguard-go tunnel standing
 *   in for tailscale0), one backend: pass.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { forwardLab, iptables, iptablesSave, ruleset, tailscaleChains, tcpSeenAs } from './forward-lab.js';
import { labUnavailable } from './harness.js';
import { wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

test('forward.firewall-backends: legacy + nftables halves, a removed tailscaled\'s chains, and a clean router', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t);
  const wg = f.routerNode.iface;
  const doctor = () => doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg]);

  // Both backends: each tool shows half of what the packet meets.
  const nat = await f.lab.exec(f.router, 'nft', ['-f', '-'], { input: `table inet userfw {\n chain forward {\n  type filter hook forward priority filter; policy accept;\n  iifname "${f.lanIf}" oifname "${wg}" accept\n }\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname "${wg}" masquerade\n }\n}\n` });
  assert.equal(nat.code, 0, nat.stderr);
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1', 'nftables alone: LAN → mesh works');
  await iptables(f, ['-A FORWARD -d 10.77.0.0/24 -j DROP'], 'iptables-legacy');
  assert.doesNotMatch(await ruleset(f), /drop/, '`nft list ruleset` shows no drop');
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), undefined, 'yet the legacy half drops the connection');
  const both = await doctor();
  const backends = both.byId['forward.firewall-backends'];
  assert.equal(backends.status, 'warn', JSON.stringify(backends, null, 2));
  assert.match(backends.summary, /^both iptables-legacy \(iptables-legacy ip filter\) and nftables \(inet userfw\) hold rules: a packet must pass both/);
  assert.ok(backends.evidence.includes('iptables-legacy: table filter (IPv4), 1 rules (iptables-legacy-save)'), backends.evidence.join('\n'));
  const lanToMesh = both.byId['forward.lan-to-mesh'];
  assert.equal(lanToMesh.status, 'fail', JSON.stringify(lanToMesh, null, 2));
  assert.match(lanToMesh.summary, /→ subnet 10\.77\.0\.1 \(10\.77\.0\.0\/24\) \(icmp\) is dropped by ip filter FORWARD rule 1/);
  assert.ok(lanToMesh.evidence.some((line) => line.includes('-A FORWARD -d 10.77.0.0/24 -j DROP (drop)')), lanToMesh.evidence.join('\n'));

  // Fixed by hand: the legacy rule moved to nftables' side (here: dropped, the nft table covers it).
  await iptables(f, ['-F FORWARD'], 'iptables-legacy');
  const one = await doctor();
  assert.equal(one.byId['forward.firewall-backends'].status, 'pass', JSON.stringify(one.byId['forward.firewall-backends'], null, 2));
  assert.equal(one.byId['forward.lan-to-mesh'].status, 'pass');
  assert.equal(await tcpSeenAs(f, '10.77.0.1'), '10.9.0.1');

  // A removed tailscaled's chains, still jumped to, for a tailscale0 that no longer exists.
  await iptables(f, [
    '-N ts-input', '-N ts-forward', '-I INPUT 1 -j ts-input', '-I FORWARD 1 -j ts-forward',
    '-A ts-input -i tailscale0 -j ACCEPT', '-A ts-input ! -i tailscale0 -s 100.64.0.0/10 -j DROP',
    '-A ts-forward -o tailscale0 -j ACCEPT',
    '-t nat -N ts-postrouting', '-t nat -I POSTROUTING 1 -j ts-postrouting', '-t nat -A ts-postrouting -m mark --mark 0x40000/0xff0000 -j MASQUERADE',
  ]);
  const removed = (await doctor()).byId['forward.firewall-backends'];
  assert.equal(removed.status, 'warn', JSON.stringify(removed, null, 2));
  assert.match(removed.summary, /^rules left by a mesh daemon that is gone: ip filter chain ts-input \(2 rules, for tailscale0, which does not exist\), ip filter chain ts-forward \(1 rules, .*ip nat chain ts-postrouting \(1 rules/);
  // The printed cleanup, run as printed, removes them.
  const cleanup = await f.lab.exec(f.router, 'sh', ['-c', removed.fix!.command]);
  assert.equal(cleanup.code, 0, `${removed.fix!.command}: ${cleanup.stderr}`);
  const after = await iptablesSave(f);
  assert.doesNotMatch(after, /ts-/, `the chains and the jumps to them are gone:\n${after}`);
  const clean = await doctor();
  assert.equal(clean.byId['forward.firewall-backends'].status, 'pass', JSON.stringify(clean.byId['forward.firewall-backends'], null, 2));

  // Healthy: tailscaled's chains for a tunnel that exists are not leftovers.
  await tailscaleChains(f, { dropPolicies: false });
  const live = (await doctor()).byId['forward.firewall-backends'];
  assert.equal(live.status, 'pass', JSON.stringify(live, null, 2));
  assert.match(live.summary, /^one firewall backend in use \((nftables|iptables-nft)( \+ (nftables|iptables-nft))?\), no leftovers/);
});
