/**
 * `netmend doctor routes` against the real kernel: for every check a namespace where the problem
 * is reproduced (the check fails), a healthy one, and one fixed by hand (the check passes again).
 * `ip route get` confirms each broken scenario really is broken before the doctor is asked.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, uniqueName } from './harness.js';
import { doctorJson, type DoctorCheckJson, type DoctorRun as DoctorJsonRun } from './doctor-json.js';

const skipLab = labUnavailable();

interface DoctorRun extends DoctorJsonRun {
  status(id: string): string | undefined;
  check(id: string): DoctorCheckJson;
}

async function doctor(lab: Lab, ns: string, extra: string[] = []): Promise<DoctorRun> {
  const run = await doctorJson(lab, ns, ['doctor', 'routes', ...extra]);
  const check = (id: string) => {
    const found = run.byId[id];
    if (!found) throw new Error(`no result for ${id}: ${run.stdout}`);
    return found;
  };
  return { ...run, status: (id) => run.byId[id]?.status, check };
}

interface MeshHost {
  ns: string;
  lan: string;
  tun: string;
  lan4: string;
  lan6: string;
  gateway: string;
}

interface MeshHostOptions {
  /** Let the kernel give the tunnel its fe80 address and route (tailscaled's default). */
  linkLocal?: boolean;
  /** Tailscale rule base (5200, 1300 under mwan3), or null for no rules at all. */
  ruleBase?: number | null;
  tunName?: string;
}

/**
 * A host with a LAN on a veth (10.77.0.4/24, 2001:db8:77::4/64, default via 10.77.0.1 which
 * answers in the peer namespace) and a TUN held open as tailscaled holds tailscale0, with its
 * rules and table 52 holding a peer and the mesh's ULA.
 */
async function meshHost(lab: Lab, options: MeshHostOptions = {}): Promise<MeshHost> {
  const { host: ns, hostIf: lan } = await lab.linkedPair(
    { label: 'dr', ifPrefix: 'lan', addresses: ['10.77.0.4/24', '2001:db8:77::4/64'] },
    { label: 'dp', ifPrefix: 'lanp', addresses: ['10.77.0.1/24'] },
    { gateway: '10.77.0.1' },
  );
  await lab.waitForLinkLocalRoute(ns, lan);
  if (!options.linkLocal) await lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.addr_gen_mode=1']);
  const tun = options.tunName ?? uniqueName('tailscale');
  await lab.tun(ns, tun, { addresses: ['100.100.1.2/32', 'fd7a:115c:a1e0::2/128'] });
  if (options.ruleBase !== null) await lab.tailscaleRules(ns, { base: options.ruleBase ?? 5200 });
  await lab.batch(ns, [
    `route add 100.64.0.5 dev ${tun} table 52`,
    `route add 100.100.100.100 dev ${tun} table 52`,
    `route add fd7a:115c:a1e0::/48 dev ${tun} table 52`,
  ]);
  return { ns, lan, tun, lan4: '10.77.0.0/24', lan6: '2001:db8:77::/64', gateway: '10.77.0.1' };
}

async function routeGetDev(lab: Lab, ns: string, ...args: string[]): Promise<string | undefined> {
  const out = await lab.ip(ns, 'route', 'get', ...args);
  return /\bdev (\S+)/.exec(out)?.[1];
}

test('doctor routes on the real kernel', { skip: skipLab, concurrency: 1 }, async (t) => {
  await t.test('a host without any tunnel: everything skips or passes, exit 0', async (t) => {
    const lab = Lab.forTest(t);
    const { host: ns } = await lab.linkedPair({ label: 'dn', ifPrefix: 'lan', addresses: ['10.77.0.4/24'] }, { label: 'dp', ifPrefix: 'lanp' }, { gateway: '10.77.0.1' });
    const run = await doctor(lab, ns);
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.document.checks.length, 8);
    for (const check of run.document.checks) assert.ok(check.status === 'skip' || check.status === 'pass', `${check.id}: ${check.status} ${check.summary}`);
    assert.equal(run.document.summary.fail + run.document.summary.warn + run.document.summary.error, 0);
    // The report says once that there is no mesh, instead of once per check.
    const human = await lab.netmend(ns, ['doctor', 'routes']);
    assert.equal(human.code, 0, human.stdout);
    const headlines = human.stdout.split('\n').filter((line) => line.includes('no mesh VPN found'));
    assert.deepEqual(headlines, ['– no mesh VPN found: no tunnel interface (tun/wireguard kind or a known mesh name such as tailscale0 or wg0; name an unusual one with --iface); 7 checks skipped'], human.stdout);
    assert.doesNotMatch(human.stdout, /^– routes\.(subnet-shadows-lan|rule-order)/m);
  });

  await t.test('a healthy Tailscale host passes every check; the JSON document has the documented shape', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    const run = await doctor(lab, host.ns);
    assert.equal(run.code, 0, run.stdout);
    assert.deepEqual(Object.keys(run.document), ['version', 'host', 'checks', 'summary']);
    assert.equal(run.document.version, 1);
    assert.deepEqual(Object.keys(run.document.summary), ['pass', 'warn', 'fail', 'skip', 'error', 'info']);
    for (const check of run.document.checks) {
      assert.deepEqual(Object.keys(check), ['id', 'status', 'summary', 'evidence', 'fix']);
      assert.ok(check.status === 'pass' || check.status === 'skip', `${check.id}: ${check.status} ${check.summary}`);
    }
    assert.equal(run.status('routes.rule-order'), 'pass');
    assert.match(run.check('routes.rule-order').summary, /table 52 at 5270/);
    assert.equal(run.status('routes.subnet-shadows-lan'), 'pass');
  });

  await t.test('routes.tunnel-link-local: the kernel\'s fe80::/64 on a held-open TUN fails; removed by hand it passes', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab, { linkLocal: true });
    await lab.waitForLinkLocalRoute(host.ns, host.tun);
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.tunnel-link-local');
    assert.equal(check.status, 'fail', check.summary);
    assert.equal(broken.code, 1);
    assert.ok(check.evidence.includes(`fe80::/64 dev ${host.tun} proto kernel metric 256 pref medium`), check.evidence.join('\n'));
    assert.ok(check.evidence.includes(`fe80::/64 dev ${host.lan} proto kernel metric 256 pref medium`), check.evidence.join('\n'));
    assert.equal(check.fix?.command, `netmend fix link-local --iface ${host.tun}`);

    await lab.ip(host.ns, 'link', 'set', host.tun, 'addrgenmode', 'none');
    await lab.ip(host.ns, '-6', 'addr', 'flush', 'dev', host.tun, 'scope', 'link');
    await lab.ip(host.ns, '-6', 'route', 'flush', 'dev', host.tun, 'table', 'main', 'proto', 'kernel');
    const fixed = await doctor(lab, host.ns);
    assert.equal(fixed.status('routes.tunnel-link-local'), 'pass', fixed.check('routes.tunnel-link-local').summary);
  });

  await t.test('routes.subnet-shadows-lan: table 52 routes over the connected LAN (IPv4 and IPv6); a rule at 5205 fixes it', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'route', 'add', host.lan4, 'dev', host.tun, 'table', '52');
    await lab.ip(host.ns, '-6', 'route', 'add', host.lan6, 'dev', host.tun, 'table', '52');
    assert.equal(await routeGetDev(lab, host.ns, '10.77.0.1'), host.tun, 'the kernel hairpins the LAN through the tunnel');
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.subnet-shadows-lan');
    assert.equal(check.status, 'fail', check.summary);
    assert.equal(broken.code, 1);
    assert.match(check.summary, /10\.77\.0\.0\/24/);
    assert.match(check.summary, /2001:db8:77::\/64/);
    assert.ok(check.evidence.includes('  rule:  5270: from all lookup 52'), check.evidence.join('\n'));
    assert.ok(check.evidence.some((line) => line === `  route: 10.77.0.0/24 dev ${host.tun} table 52 scope link`), check.evidence.join('\n'));
    assert.ok(check.evidence.some((line) => line.startsWith(`  should use: 10.77.0.0/24 dev ${host.lan} proto kernel scope link src 10.77.0.4`)), check.evidence.join('\n'));
    assert.equal(check.fix?.command, 'netmend fix subnet-routes');
    assert.equal(broken.status('routes.exit-node-captures-lan'), 'pass', 'a subnet route is not an exit node');

    await lab.ip(host.ns, 'rule', 'add', 'to', host.lan4, 'lookup', 'main', 'priority', '5205');
    const half = await doctor(lab, host.ns);
    assert.equal(half.status('routes.subnet-shadows-lan'), 'fail', 'IPv6 is still shadowed');
    assert.doesNotMatch(half.check('routes.subnet-shadows-lan').summary, /10\.77\.0\.0/);
    await lab.ip(host.ns, '-6', 'rule', 'add', 'to', host.lan6, 'lookup', 'main', 'priority', '5205');
    assert.equal(await routeGetDev(lab, host.ns, '10.77.0.1'), host.lan);
    const fixed = await doctor(lab, host.ns);
    assert.equal(fixed.status('routes.subnet-shadows-lan'), 'pass', fixed.check('routes.subnet-shadows-lan').summary);
    assert.equal(fixed.code, 0, JSON.stringify(fixed.document.checks.filter((c) => c.status === 'fail')));
  });

  await t.test('routes.subnet-shadows-lan: a mesh route for half of the LAN is found too', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'route', 'add', '10.77.0.128/25', 'dev', host.tun, 'table', '52');
    assert.equal(await routeGetDev(lab, host.ns, '10.77.0.129'), host.tun);
    const run = await doctor(lab, host.ns, ['--check', 'routes.subnet-shadows-lan']);
    assert.equal(run.document.checks.length, 1);
    assert.equal(run.status('routes.subnet-shadows-lan'), 'fail');
    assert.ok(run.check('routes.subnet-shadows-lan').evidence.some((line) => line.startsWith('10.77.0.129 (in 10.77.0.0/24')));
  });

  await t.test('routes.exit-node-captures-lan: a default in table 52 takes the LAN and the gateway; throw routes or a 5205 rule keep them', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'route', 'add', 'default', 'dev', host.tun, 'table', '52');
    assert.equal(await routeGetDev(lab, host.ns, '10.77.0.1'), host.tun);
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.exit-node-captures-lan');
    assert.equal(check.status, 'fail', check.summary);
    assert.match(check.summary, /10\.77\.0\.0\/24/);
    assert.match(check.summary, /gateway 10\.77\.0\.1/);
    assert.ok(check.evidence.some((line) => line === `  route: default dev ${host.tun} table 52 scope link`), check.evidence.join('\n'));
    assert.equal(broken.status('routes.subnet-shadows-lan'), 'pass', 'the default route is the exit-node check\'s finding');

    // Healthy: Tailscale throws the LAN back to main when LAN access is allowed.
    await lab.ip(host.ns, 'route', 'add', 'throw', host.lan4, 'table', '52');
    await lab.ip(host.ns, '-6', 'route', 'add', 'default', 'dev', host.tun, 'table', '52');
    await lab.ip(host.ns, '-6', 'route', 'add', 'throw', host.lan6, 'table', '52');
    const healthy = await doctor(lab, host.ns);
    assert.equal(healthy.status('routes.exit-node-captures-lan'), 'pass', healthy.check('routes.exit-node-captures-lan').summary);
    assert.equal(healthy.status('routes.rule-order'), 'pass', healthy.check('routes.rule-order').summary);

    // Fixed by hand: without the throw routes, a rule ahead of 5270.
    await lab.ip(host.ns, 'route', 'del', 'throw', host.lan4, 'table', '52');
    await lab.ip(host.ns, '-6', 'route', 'del', 'throw', host.lan6, 'table', '52');
    assert.equal((await doctor(lab, host.ns)).status('routes.exit-node-captures-lan'), 'fail');
    await lab.ip(host.ns, 'rule', 'add', 'to', host.lan4, 'lookup', 'main', 'priority', '5205');
    await lab.ip(host.ns, '-6', 'rule', 'add', 'to', host.lan6, 'lookup', 'main', 'priority', '5205');
    const fixed = await doctor(lab, host.ns);
    assert.equal(fixed.status('routes.exit-node-captures-lan'), 'pass', fixed.check('routes.exit-node-captures-lan').summary);
  });

  await t.test('routes.overlapping-advertised: two tunnels for nested prefixes warn; a CGNAT WAN address fails; fixed by hand both pass', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    const wg = uniqueName('wg');
    await lab.tun(host.ns, wg);
    await lab.ip(host.ns, 'route', 'add', '10.20.0.0/16', 'dev', host.tun, 'table', '52');
    await lab.ip(host.ns, 'route', 'add', '10.20.1.0/24', 'dev', wg, 'table', '52');
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.overlapping-advertised');
    assert.equal(check.status, 'warn', check.summary);
    assert.equal(broken.code, 0, 'warnings alone do not fail');
    assert.match(check.summary, new RegExp(`10\\.20\\.1\\.0/24 dev ${wg} inside 10\\.20\\.0\\.0/16 dev ${host.tun}`));
    assert.equal((await doctor(lab, host.ns, ['--fail-on', 'warn'])).code, 1, '--fail-on warn counts warnings');
    await lab.ip(host.ns, 'route', 'del', '10.20.1.0/24', 'dev', wg, 'table', '52');
    assert.equal((await doctor(lab, host.ns)).status('routes.overlapping-advertised'), 'pass');

    // An ISP carrier-grade NAT address on the uplink, while the mesh numbers itself from 100.64.0.0/10.
    await lab.ip(host.ns, 'addr', 'add', '100.72.9.4/24', 'dev', host.lan);
    const latent = await doctor(lab, host.ns);
    assert.equal(latent.status('routes.overlapping-advertised'), 'warn', 'reachable while no peer address falls inside the WAN subnet');
    assert.equal(latent.check('routes.overlapping-advertised').fix?.command, 'netmend fix subnet-routes --lan 100.72.9.0/24');
    // The fix puts the rule ahead of the mesh's lookup even though nothing is captured yet.
    const plan = await lab.netmend(host.ns, ['fix', 'subnet-routes', '--lan', '100.72.9.0/24', '--root', lab.tmpdir(), '--method', 'sysctl'], { env: { SSH_CONNECTION: '' } });
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /ip -4 rule add to 100\.72\.9\.0\/24 lookup main priority 5205/);
    // A peer given an address inside the WAN's subnet: its /32 is routed whatever --accept-routes says.
    await lab.ip(host.ns, 'route', 'add', '100.72.9.1', 'dev', host.tun, 'table', '52');
    const cgnat = await doctor(lab, host.ns);
    assert.equal(cgnat.status('routes.overlapping-advertised'), 'fail', cgnat.check('routes.overlapping-advertised').summary);
    assert.ok(cgnat.check('routes.overlapping-advertised').evidence.includes(`${host.lan} inet 100.72.9.4/24 scope global`));
    await lab.ip(host.ns, 'route', 'del', '100.72.9.1', 'dev', host.tun, 'table', '52');
    await lab.ip(host.ns, 'addr', 'del', '100.72.9.4/24', 'dev', host.lan);
    assert.equal((await doctor(lab, host.ns)).status('routes.overlapping-advertised'), 'pass');
  });

  await t.test('routes.forwarding-disabled: forwarding on but off on the tunnel fails; on everywhere passes', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    const off = await doctor(lab, host.ns);
    assert.equal(off.status('routes.forwarding-disabled'), 'skip', 'no evidence that this host routes for others');
    await lab.exec(host.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await lab.exec(host.ns, 'sysctl', ['-qw', `net.ipv4.conf.${host.tun}.forwarding=0`]);
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.forwarding-disabled');
    assert.equal(check.status, 'fail', check.summary);
    assert.ok(check.evidence.includes(`net.ipv4.conf.${host.tun}.forwarding = 0`), check.evidence.join('\n'));
    assert.equal(check.fix?.command, `sysctl -w net.ipv4.conf.${host.tun}.forwarding=1`);
    await lab.exec(host.ns, 'sysctl', ['-qw', `net.ipv4.conf.${host.tun}.forwarding=1`]);
    const v6off = await doctor(lab, host.ns);
    assert.equal(v6off.status('routes.forwarding-disabled'), 'warn', 'IPv6 forwarding is off while the mesh carries IPv6');
    await lab.exec(host.ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    const fixed = await doctor(lab, host.ns);
    assert.equal(fixed.status('routes.forwarding-disabled'), 'pass', fixed.check('routes.forwarding-disabled').summary);
  });

  await t.test('routes.rp-filter-strict: strict rp_filter on the uplink with an exit node fails; loose passes', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'route', 'add', 'default', 'dev', host.tun, 'table', '52');
    await lab.ip(host.ns, 'route', 'add', 'throw', host.lan4, 'table', '52');
    const healthy = await doctor(lab, host.ns);
    assert.equal(healthy.status('routes.rp-filter-strict'), 'pass', healthy.check('routes.rp-filter-strict').summary);
    await lab.exec(host.ns, 'sysctl', ['-qw', `net.ipv4.conf.${host.lan}.rp_filter=1`]);
    // The kernel's own reverse-path answer for a reply from the internet: back out of the tunnel.
    assert.equal(await routeGetDev(lab, host.ns, '198.51.100.1', 'from', '10.77.0.4'), host.tun);
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.rp-filter-strict');
    assert.equal(check.status, 'fail', check.summary);
    assert.ok(check.evidence.includes(`net.ipv4.conf.${host.lan}.rp_filter = 1`), check.evidence.join('\n'));
    assert.match(check.fix?.command ?? '', new RegExp(`net\\.ipv4\\.conf\\.${host.lan}\\.rp_filter=2`));
    await lab.exec(host.ns, 'sysctl', ['-qw', `net.ipv4.conf.${host.lan}.rp_filter=2`]);
    const fixed = await doctor(lab, host.ns);
    assert.equal(fixed.status('routes.rp-filter-strict'), 'pass', fixed.check('routes.rp-filter-strict').summary);
  });

  await t.test('routes.foreign-rules-at-risk: networkd with default ManageForeign* fails; a drop-in setting both to no passes', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    const root = lab.tmpdir();
    const notRunning = await doctor(lab, host.ns, ['--root', root]);
    assert.equal(notRunning.status('routes.foreign-rules-at-risk'), 'skip');
    assert.match(notRunning.check('routes.foreign-rules-at-risk').summary, /not running/);

    mkdirSync(join(root, 'run/systemd/netif'), { recursive: true });
    writeFileSync(join(root, 'run/systemd/netif/state'), 'OPER_STATE=routable\n');
    mkdirSync(join(root, 'etc/systemd/network'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/network/10-lan.network'), `[Match]\nName=${host.lan}\n\n[Network]\nAddress=10.77.0.4/24\n`);
    writeFileSync(join(root, 'etc/systemd/networkd.conf'), '[Network]\n#ManageForeignRoutingPolicyRules=yes\n#ManageForeignRoutes=yes\n');
    const broken = await doctor(lab, host.ns, ['--root', root]);
    const check = broken.check('routes.foreign-rules-at-risk');
    assert.equal(check.status, 'fail', check.summary);
    assert.ok(check.evidence.some((line) => /^ManageForeignRoutingPolicyRules=yes \(default/.test(line)), check.evidence.join('\n'));
    assert.ok(check.evidence.includes('5270: from all lookup 52'), check.evidence.join('\n'));
    assert.ok(check.evidence.includes(`100.64.0.5 dev ${host.tun} table 52 scope link`), check.evidence.join('\n'));

    // Only one of the two turned off, and a later drop-in turning it back on: still at risk.
    mkdirSync(join(root, 'etc/systemd/networkd.conf.d'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/networkd.conf.d/10-keep.conf'), '[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n');
    writeFileSync(join(root, 'etc/systemd/networkd.conf.d/20-vendor.conf'), '[Network]\nManageForeignRoutes=yes\n');
    const partly = await doctor(lab, host.ns, ['--root', root]);
    assert.equal(partly.status('routes.foreign-rules-at-risk'), 'fail');
    assert.ok(partly.check('routes.foreign-rules-at-risk').evidence.includes('/etc/systemd/networkd.conf.d/20-vendor.conf:2: ManageForeignRoutes=yes'));
    assert.doesNotMatch(partly.check('routes.foreign-rules-at-risk').summary, /rule/);

    writeFileSync(join(root, 'etc/systemd/networkd.conf.d/20-vendor.conf'), '');
    const fixed = await doctor(lab, host.ns, ['--root', root]);
    assert.equal(fixed.status('routes.foreign-rules-at-risk'), 'pass', fixed.check('routes.foreign-rules-at-risk').summary);
  });

  await t.test('routes.rule-order: lookup 52 deleted fails; restored by hand passes', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'rule', 'del', 'priority', '5270');
    assert.equal(await routeGetDev(lab, host.ns, '100.64.0.5'), host.lan, 'peers now go out of the LAN');
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.rule-order');
    assert.equal(check.status, 'fail', check.summary);
    assert.match(check.summary, /no IPv4 rule looks up mesh table 52/);
    // tailscaled installs its rules only when it starts: the fix restarts it (down/up would not).
    assert.equal(check.fix?.command, 'systemctl restart tailscaled');
    assert.match(check.fix?.explanation ?? '', /`tailscale down && tailscale up` does not/);
    const openwrt = lab.tmpdir();
    mkdirSync(join(openwrt, 'etc'), { recursive: true });
    writeFileSync(join(openwrt, 'etc/openwrt_release'), "DISTRIB_ID='OpenWrt'\n");
    assert.equal((await doctor(lab, host.ns, ['--root', openwrt])).check('routes.rule-order').fix?.command, '/etc/init.d/tailscale restart');
    await lab.ip(host.ns, 'rule', 'add', 'priority', '5270', 'lookup', '52');
    assert.equal((await doctor(lab, host.ns)).status('routes.rule-order'), 'pass');
  });

  await t.test('routes.rule-order: lookup 52 shifted after main fails; mwan3\'s 1310-1370 layout passes', async (t) => {
    const lab = Lab.forTest(t);
    const shifted = await meshHost(lab, { ruleBase: null });
    await lab.ip(shifted.ns, 'rule', 'add', 'priority', '32770', 'lookup', '52');
    await lab.ip(shifted.ns, '-6', 'rule', 'add', 'priority', '5270', 'lookup', '52');
    const broken = await doctor(lab, shifted.ns);
    const check = broken.check('routes.rule-order');
    assert.equal(check.status, 'fail', check.summary);
    assert.ok(check.evidence.some((line) => line.includes('consulted only after main')), check.evidence.join('\n'));

    const mwan3 = await meshHost(lab, { ruleBase: 1300 });
    // mwan3's own rules sit above tailscaled's shifted ones.
    await lab.ip(mwan3.ns, 'rule', 'add', 'priority', '2001', 'iif', mwan3.lan, 'fwmark', '0x100/0x3f00', 'lookup', '1');
    await lab.ip(mwan3.ns, 'route', 'add', 'default', 'dev', mwan3.tun, 'table', '52');
    await lab.ip(mwan3.ns, 'route', 'add', 'throw', mwan3.lan4, 'table', '52');
    const run = await doctor(lab, mwan3.ns);
    assert.equal(run.status('routes.rule-order'), 'pass', run.check('routes.rule-order').summary);
    assert.match(run.check('routes.rule-order').summary, /table 52 at 1370/);
  });

  await t.test('routes.rule-order: with an exit node, a missing bypass loops the daemon\'s marked packets; UniFi\'s single rule and busybox masks pass', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'route', 'add', 'default', 'dev', host.tun, 'table', '52');
    await lab.ip(host.ns, 'route', 'add', 'throw', host.lan4, 'table', '52');
    await lab.ip(host.ns, 'rule', 'del', 'priority', '5210');
    await lab.ip(host.ns, 'rule', 'del', 'priority', '5250');
    assert.equal(await routeGetDev(lab, host.ns, '198.51.100.1', 'mark', '0x80000'), host.tun, 'marked packets loop into the tunnel');
    const broken = await doctor(lab, host.ns);
    const check = broken.check('routes.rule-order');
    assert.equal(check.status, 'fail', check.summary);
    assert.match(check.summary, /marks 0x80000 are routed back into the tunnel/);
    await lab.ip(host.ns, 'rule', 'add', 'priority', '5210', 'fwmark', '0x80000/0xff0000', 'lookup', 'main');
    assert.equal((await doctor(lab, host.ns)).status('routes.rule-order'), 'pass');

    // UniFi (UBNT): one rule, `not fwmark … lookup 52`.
    const ubnt = await meshHost(lab, { ruleBase: null });
    await lab.ip(ubnt.ns, 'rule', 'add', 'priority', '5270', 'not', 'fwmark', '0x80000/0xff0000', 'lookup', '52');
    await lab.ip(ubnt.ns, '-6', 'rule', 'add', 'priority', '5270', 'not', 'fwmark', '0x80000/0xff0000', 'lookup', '52');
    await lab.ip(ubnt.ns, 'route', 'add', 'default', 'dev', ubnt.tun, 'table', '52');
    await lab.ip(ubnt.ns, 'route', 'add', 'throw', ubnt.lan4, 'table', '52');
    const ubntRun = await doctor(lab, ubnt.ns);
    assert.equal(ubntRun.status('routes.rule-order'), 'pass', ubntRun.check('routes.rule-order').summary);
    assert.equal(ubntRun.status('routes.exit-node-captures-lan'), 'pass');

    // Busybox `ip` (tailscaled with TS_DEBUG_USE_IP_COMMAND) adds the marks without a mask.
    const busybox = await meshHost(lab, { ruleBase: null });
    for (const family of ['-4', '-6']) {
      await lab.ip(busybox.ns, family, 'rule', 'add', 'priority', '5210', 'fwmark', '0x80000', 'lookup', 'main');
      await lab.ip(busybox.ns, family, 'rule', 'add', 'priority', '5270', 'lookup', '52');
    }
    await lab.ip(busybox.ns, 'route', 'add', 'default', 'dev', busybox.tun, 'table', '52');
    await lab.ip(busybox.ns, 'route', 'add', 'throw', busybox.lan4, 'table', '52');
    const busyboxRun = await doctor(lab, busybox.ns);
    assert.equal(busyboxRun.status('routes.rule-order'), 'pass', busyboxRun.check('routes.rule-order').summary);
  });

  await t.test('routes.rule-order: the rule set installed twice (5200 and 1300 bases) warns', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.tailscaleRules(host.ns, { base: 1300, families: [4] });
    const run = await doctor(lab, host.ns);
    const check = run.check('routes.rule-order');
    assert.equal(check.status, 'warn', check.summary);
    assert.match(check.summary, /duplicated at 1370 and 5270|duplicated at 1310 and 5210/);
    await lab.ip(host.ns, 'rule', 'del', 'priority', '1310');
    await lab.ip(host.ns, 'rule', 'del', 'priority', '1330');
    await lab.ip(host.ns, 'rule', 'del', 'priority', '1350');
    await lab.ip(host.ns, 'rule', 'del', 'priority', '1370');
    assert.equal((await doctor(lab, host.ns)).status('routes.rule-order'), 'pass');
  });

  await t.test('human output: one line per check with its mark, evidence and fix only for problems, a summary line; no colour without a TTY', async (t) => {
    const lab = Lab.forTest(t);
    const host = await meshHost(lab);
    await lab.ip(host.ns, 'route', 'add', host.lan4, 'dev', host.tun, 'table', '52');
    const result = await lab.netmend(host.ns, ['doctor', 'routes']);
    assert.equal(result.code, 1);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^✓ routes\.tunnel-link-local\s+/);
    assert.ok(lines.some((line) => /^✗ routes\.subnet-shadows-lan\s+10\.77\.0\.0\/24/.test(line)), result.stdout);
    assert.ok(lines.includes('    fix: netmend fix subnet-routes'), result.stdout);
    assert.match(lines[lines.length - 1], /: 5 passed, 1 failed, 2 skipped\. Fix: netmend fix subnet-routes$/);
    assert.doesNotMatch(result.stdout, /\u001b\[/);
    assert.equal(result.stderr, '', 'no spinner without a TTY');
  });

  await t.test('--iface makes an unusually named tunnel count as the mesh', async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('di');
    const peer = await lab.netns('dp');
    const lan = uniqueName('lan');
    const odd = uniqueName('corp');
    await lab.veth(ns, lan, peer, uniqueName('lanp'));
    await lab.veth(ns, odd, peer, uniqueName('corpp'));
    await lab.ip(ns, 'addr', 'add', '10.77.0.4/24', 'dev', lan);
    await lab.ip(ns, 'rule', 'add', 'priority', '5270', 'lookup', '52');
    await lab.ip(ns, 'route', 'add', '10.77.0.0/24', 'dev', odd, 'table', '52');
    const unnamed = await doctor(lab, ns);
    assert.equal(unnamed.status('routes.subnet-shadows-lan'), 'skip', 'a veth with an ordinary name is not a tunnel');
    const named = await doctor(lab, ns, ['--iface', odd]);
    assert.equal(named.status('routes.subnet-shadows-lan'), 'fail', named.check('routes.subnet-shadows-lan').summary);
  });
});
