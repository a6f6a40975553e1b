/**
 * forward.cgnat-drop: tailscaled's drop of 100.64.0.0/10 sources arriving on other interfaces
 * than its tunnel (ts-input, reproduced from its iptables runner with the lab's wireguard-go
 * tunnel standing in for tailscale0) meets a WAN inside an ISP's CGNAT range: the router is
 * 100.72.10.2, its gateway and resolver 100.72.10.1, which is also where the mesh peer's packets
 * come from. Real packets: DNS answers from the ISP resolver (dnsmasq), pings both ways, the
 * tunnel itself. Broken (DROP), healthy (tailscaled v1.98 with the node attribute
 * disable-linux-cgnat-drop-rule: the DROP is a RETURN), fixed by hand (the older tailscaled's
 * other way out: --netfilter-mode=nodivert, no jumps into its chains).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorJson } from './doctor-json.js';
import { forwardLab, iptables, pings, tailscaleChains, type ForwardLab } from './forward-lab.js';
import { labUnavailable } from './harness.js';
import { pingUntilReply, waitFor, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();
const ROUTER = '100.72.10.2';
const ISP = '100.72.10.1';

async function resolves(f: ForwardLab): Promise<boolean> {
  const result = await f.lab.exec(f.router, 'dig', ['+short', '+time=2', '+tries=1', `@${ISP}`, 'isp.example']);
  return result.code === 0 && result.stdout.trim() === '192.0.2.7';
}

/** Packets the DROP rule of ts-input has counted. */
async function cgnatDrops(f: ForwardLab): Promise<number> {
  const listing = (await f.lab.exec(f.router, 'iptables', ['-w', '-L', 'ts-input', '-v', '-n', '-x'])).stdout;
  const line = listing.split('\n').find((l) => /\sDROP\s.*100\.64\.0\.0\/10/.test(l));
  return line ? Number(line.trim().split(/\s+/)[0]) : 0;
}

test('forward.cgnat-drop: tailscaled\'s 100.64.0.0/10 drop kills an ISP CGNAT WAN (DNS, pings, the tunnel); the node attribute and nodivert both work', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t, { wan: { router: ROUTER, gateway: ISP } });
  const wg = f.routerNode.iface;
  f.lab.spawn(f.peer, 'dnsmasq', ['-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${ISP}`, '--address=/isp.example/192.0.2.7', '--log-facility=-']).stdout?.resume();
  await waitFor(() => resolves(f), 20_000, 'the ISP resolver');
  const check = async () => (await doctorJson(f.lab, f.router, ['doctor', 'forward', '--iface', wg, '--check', 'forward.cgnat-drop'])).byId['forward.cgnat-drop'];
  const worksAgain = async () => {
    assert.equal(await pingUntilReply(f.lab, f.router, '10.9.0.2', 30_000), true, 'the tunnel to the peer behind the same CGNAT');
    assert.equal(await resolves(f), true, 'DNS answers from the ISP resolver');
    assert.equal(await pings(f, ISP, f.router), true);
    assert.equal(await pings(f, ROUTER, f.peer), true, 'the ISP gateway reaches the router');
  };

  // Broken: tailscaled's chains before v1.98 (or without the node attribute).
  await tailscaleChains(f, { cgnat: 'DROP', dropPolicies: false });
  const broken = await check();
  assert.equal(broken.status, 'fail', JSON.stringify(broken, null, 2));
  assert.match(broken.summary, new RegExp(`^the WAN ${f.wanIf} is behind ISP CGNAT \\(${ROUTER} via ${ISP}\\); \`ip filter ts-input rule \\d+: .*100\\.64\\.0\\.0/10.*\` kills replies from the ISP gateway/resolver ${ISP} to this router \\(DNS\\); pings from the ISP gateway ${ISP}; direct mesh connections from peers behind the same CGNAT \\(udp ${f.routerNode.port} from ${ISP}\\)`));
  assert.ok(broken.evidence.some((line) => /ip filter INPUT rule \d+: .*jump ts-input/.test(line)), broken.evidence.join('\n'));
  assert.match(broken.fix!.command, /disable-linux-cgnat-drop-rule/);
  assert.match(broken.fix!.explanation, /--netfilter-mode=nodivert/);
  assert.equal(await resolves(f), false, 'DNS answers from 100.72.10.1 are dropped');
  assert.equal(await pings(f, ISP, f.router), false);
  assert.equal(await pings(f, ROUTER, f.peer), false);
  assert.equal(await pings(f, '10.9.0.2', f.router), false, 'the tunnel dies: the peer\'s packets come from 100.72.10.1');
  assert.ok(await cgnatDrops(f) > 0, 'real packets from the CGNAT gateway hit the drop');

  // Healthy: tailscaled v1.98 with the node attribute renders the rule as RETURN.
  await iptables(f, [`-R ts-input 3 ! -i ${wg} -s 100.64.0.0/10 -j RETURN`]);
  const healthy = await check();
  assert.equal(healthy.status, 'pass', JSON.stringify(healthy, null, 2));
  assert.match(healthy.summary, new RegExp(`the WAN ${f.wanIf} is behind ISP CGNAT \\(${ROUTER}\\), and no 100\\.64\\.0\\.0/10 drop hits its traffic`));
  await worksAgain();

  // Fixed by hand on an older tailscaled: nodivert leaves its chains in place but never jumps to them.
  await iptables(f, [`-R ts-input 3 ! -i ${wg} -s 100.64.0.0/10 -j DROP`]);
  assert.equal((await check()).status, 'fail', 'broken again');
  await iptables(f, ['-D INPUT -j ts-input', '-D FORWARD -j ts-forward', '-t nat -D POSTROUTING -j ts-postrouting']);
  const nodivert = await check();
  assert.equal(nodivert.status, 'pass', JSON.stringify(nodivert, null, 2));
  await worksAgain();
});
