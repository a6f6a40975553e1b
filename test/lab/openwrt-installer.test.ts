/**
 * The OpenWrt installer (openwrt/install.sh + launcher + procd init) run for real under busybox
 * ash and dash, in a fake router root, against a local HTTP mirror. Router-only tools (uci,
 * procd's rc.common, opkg, logger, uclient-fetch) are stand-ins that record what they were asked.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Lab, run } from './harness.js';
import { fakeRouter, FakeRouterOptions, Mirror, Router, shells, treeOf } from '../openwrt/fixtures.js';

const VERSION = '1.90.8';

async function setup(t: import('node:test').TestContext, shell: (typeof shells)[number], options: FakeRouterOptions = {}, arch = 'arm64') {
  const lab = Lab.forTest(t);
  const mirror = await Mirror.start(lab);
  const digest = await mirror.addBuild(VERSION, arch);
  const router = await fakeRouter(lab, shell, options);
  return { lab, mirror, router, digest };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function tmpLeftovers(router: Router): string[] {
  return readdirSync(join(router.root, 'tmp'));
}

function procdFile(router: Router, name: string): string {
  return readFileSync(join(router.procdDir, name), 'utf8');
}

for (const shell of shells) {
  describe(`OpenWrt installer under ${shell}`, () => {
    test('install lays down launchers, init script and UCI; the first start downloads, verifies and execs tailscaled', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const result = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /installed tailscale 1\.90\.8 \(arm64\)/);

      // The launchers carry the pin; the init script is procd's.
      const launcher = router.read('usr/bin/tailscaled');
      assert.match(launcher, /^TS_VERSION='1\.90\.8'$/m);
      assert.match(launcher, /^TS_ARCH='arm64'$/m);
      assert.match(launcher, new RegExp(`^TS_BASE_URL='${mirror.baseUrl.replace(/[.]/g, '\\.')}'$`, 'm'));
      assert.equal(router.read('usr/bin/tailscale'), launcher);
      assert.match(router.read('etc/init.d/tailscale'), /^#!\/bin\/sh \/etc\/rc\.common\nNETMEND_ROOT=/);

      // UCI, in the layout uci itself writes.
      assert.ok(router.read('etc/config/network').endsWith("\nconfig interface 'tailscale'\n\toption proto 'none'\n\toption device 'tailscale0'\n\n"));
      const firewall = router.read('etc/config/firewall');
      assert.ok(firewall.includes("\nconfig zone 'tailscale'\n\toption name 'tailscale'\n\tlist network 'tailscale'\n\toption input 'ACCEPT'\n\toption output 'ACCEPT'\n\toption forward 'ACCEPT'\n\toption masq '1'\n\toption mtu_fix '1'\n"), firewall);
      assert.ok(firewall.includes("\nconfig forwarding 'tailscale_lan'\n\toption src 'tailscale'\n\toption dest 'lan'\n"));
      assert.ok(firewall.includes("\nconfig forwarding 'lan_tailscale'\n\toption src 'lan'\n\toption dest 'tailscale'\n"));
      const dhcp = router.read('etc/config/dhcp');
      assert.ok(dhcp.includes("\tlist server '/corp.example/10.20.0.53'\n\tlist server '/ts.net/100.100.100.100'\n\tlist rebind_domain 'ts.net'\n"), dhcp);
      assert.match(router.read('etc/sysupgrade.conf'), /^\/etc\/tailscale\/$/m);

      // Applied with reload, never restart.
      const calls = router.readLog('standInLog');
      for (const service of ['network', 'firewall', 'dnsmasq']) assert.match(calls, new RegExp(`^rc\\.common ${service} reload$`, 'm'));
      assert.doesNotMatch(calls, /^rc\.common (network|firewall|dnsmasq) restart$/m);

      // procd: respawn forever, explicit firewall mode (fw4 -> nftables), WAN-up trigger.
      const instance = procdFile(router, 'tailscale.instance');
      assert.match(instance, /^respawn_retry=0$/m);
      assert.match(instance, /^env=TS_DEBUG_FIREWALL_MODE=nftables$/m);
      assert.match(instance, new RegExp(`^command=${router.root}/usr/bin/tailscaled --port 41641 --state ${router.root}/etc/tailscale/tailscaled.state --statedir ${router.root}/etc/tailscale$`, 'm'));
      assert.match(procdFile(router, 'tailscale.triggers'), /^trigger interface\.\*\.up wan .*\/etc\/init\.d\/tailscale restart$/m);

      // First start: the daemon runs as the very PID procd started (the launcher exec'd).
      await waitFor('tailscaled to run', () => router.readLog('runLog').includes('tailscaled'));
      const [, pidText, firewallMode] = /^tailscaled (\d+) fw=(\S+) --port 41641/m.exec(router.readLog('runLog')) ?? [];
      assert.equal(firewallMode, 'nftables');
      assert.equal(Number(pidText), Number(procdFile(router, 'tailscale.pid').trim()));
      assert.ok(existsSync(join(router.root, `tmp/tailscale-${VERSION}/tailscaled`)));
      assert.deepEqual(readdirSync(join(router.root, `tmp/tailscale-${VERSION}`)).sort(), ['tailscale', 'tailscaled'], 'only the two binaries are unpacked');
      assert.deepEqual(tmpLeftovers(router), [`tailscale-${VERSION}`], 'no partial files or locks left in /tmp');
      assert.equal(mirror.requestsFor(`tailscale_${VERSION}_arm64.tgz`), 1);
      assert.match(router.readLog('syslog'), /checksum verified/);

      // Stopping kills exactly that PID and leaves no orphan.
      const stop = await router.sh(join(router.root, 'etc/rc.common'), [join(router.root, 'etc/init.d/tailscale'), 'stop']);
      assert.equal(stop.code, 0, stop.stderr);
      await waitFor('tailscaled to exit', () => !pidAlive(Number(pidText)), 5000);
      assert.match(router.readLog('runLog'), /^tailscaled \d+ fw=\S+ --cleanup$/m);
    });

    test('a tarball whose checksum does not match is refused and nothing runs', async (t) => {
      const { mirror, router } = await setup(t, shell);
      await mirror.addBuild(VERSION, 'arm64', { wrongDigest: true });
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start']);
      assert.equal(install.code, 0, install.stderr);
      const first = await router.sh(join(router.root, 'usr/bin/tailscale'), ['version']);
      assert.equal(first.code, 1);
      assert.match(first.stderr, /checksum mismatch/);
      assert.match(router.readLog('syslog'), /^daemon\.err netmend-tailscale: refusing tailscale 1\.90\.8: checksum mismatch/m);
      assert.equal(router.readLog('runLog'), '', 'no fixture binary ran');
      assert.deepEqual(tmpLeftovers(router), [], 'nothing half-written in /tmp');
    });

    test('a hash pinned at install time that the mirror does not publish is refused', async (t) => {
      const { mirror, router, digest } = await setup(t, shell);
      const wrong = digest.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      const refused = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--sha256', wrong]);
      assert.equal(refused.code, 3);
      assert.match(refused.stderr, /is not the pinned/);
      assert.ok(!existsSync(join(router.root, 'usr/bin/tailscaled')));

      const pinned = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--sha256', digest, '--no-start']);
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.match(router.read('usr/bin/tailscaled'), new RegExp(`^TS_PINNED_SHA256='${digest}'$`, 'm'));
      // The mirror later serves a different build under the same name: the pin catches it.
      await mirror.addBuild(VERSION, 'arm64', { wrongDigest: true });
      const other = await mirror.addBuild(VERSION, 'arm64');
      assert.notEqual(other, digest);
      const start = await router.sh(join(router.root, 'usr/bin/tailscale'), ['version']);
      assert.equal(start.code, 1);
      assert.match(router.readLog('syslog'), /not the one pinned at install time/);
      assert.equal(router.readLog('runLog'), '');
    });

    test('with the mirror down at first start the launcher retries, and starts once it is up', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start']);
      assert.equal(install.code, 0, install.stderr);
      await mirror.down();
      const launched = router.sh(join(router.root, 'usr/bin/tailscale'), ['version'], { TS_RETRY_DELAY: '1', TS_FETCH_TIMEOUT: '2' });
      await waitFor('a failed download attempt', () => /cannot download .* yet; retrying/.test(router.readLog('syslog')));
      assert.equal(router.readLog('runLog'), '');
      await mirror.up();
      const result = await launched;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^tailscale fixture 1\.90\.8 arm64: version$/m);
    });

    test('too little RAM: no download, a message in the system log', async (t) => {
      const { mirror, router } = await setup(t, shell, { memAvailableKb: 40_000 });
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start']);
      assert.equal(install.code, 0, install.stderr);
      const requestsBefore = mirror.requests.length;
      const start = await router.sh(join(router.root, 'usr/bin/tailscaled'), ['--version']);
      assert.equal(start.code, 1);
      assert.match(router.readLog('syslog'), /^daemon\.err netmend-tailscale: not downloading tailscale 1\.90\.8: MemAvailable is 40000 KB/m);
      assert.equal(mirror.requests.length, requestsBefore, 'no download attempted');
      assert.equal(router.readLog('runLog'), '');
      assert.deepEqual(tmpLeftovers(router), []);
    });

    test('stopping the service never downloads', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start']);
      assert.equal(install.code, 0, install.stderr);
      const requestsBefore = mirror.requests.length;
      const stop = await router.sh(join(router.root, 'etc/rc.common'), [join(router.root, 'etc/init.d/tailscale'), 'stop']);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(mirror.requests.length, requestsBefore);
      assert.doesNotMatch(router.readLog('standInLog').split('rc.common tailscale stop')[1] ?? '', /wget/);
      assert.deepEqual(tmpLeftovers(router), []);
    });

    test('a re-run changes nothing, and without --version keeps the pin', async (t) => {
      const { mirror, router } = await setup(t, shell);
      assert.equal((await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start'])).code, 0);
      const before = treeOf(router.root);
      const logBefore = router.readLog('standInLog').length;
      const again = await router.install([]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /tailscale 1\.90\.8 \(arm64\) is installed; nothing to change/);
      assert.deepEqual(treeOf(router.root), before);
      const newCalls = router.readLog('standInLog').slice(logBefore);
      assert.doesNotMatch(newCalls, /^uci .* (set|add_list|commit|delete) /m);
      assert.doesNotMatch(newCalls, /^rc\.common /m);
    });

    test('--version latest pins the newest build listed for this arch; a later --version changes it explicitly', async (t) => {
      const { mirror, router } = await setup(t, shell, { distribArch: 'mipsel_24kc', elf: 'le' }, 'mipsle');
      await mirror.addBuild('1.90.6', 'mipsle');
      // Per-arch lag: the index's newest version is not built for every arch yet.
      mirror.setIndex({ arm64: 'tailscale_1.92.0_arm64.tgz', mipsle: 'tailscale_1.90.6_mipsle.tgz', mips: 'tailscale_1.92.0_mips.tgz' }, '1.92.0');
      const latest = await router.install(['--version', 'latest', '--base-url', mirror.baseUrl, '--no-start']);
      assert.equal(latest.code, 0, latest.stderr);
      assert.match(latest.stdout, /latest stable build for mipsle: 1\.90\.6/);
      assert.match(router.read('usr/bin/tailscaled'), /^TS_VERSION='1\.90\.6'$/m);
      const change = await router.install(['--version', VERSION, '--no-start']);
      assert.equal(change.code, 0, change.stderr);
      assert.match(change.stdout, /changing the pinned version from 1\.90\.6 to 1\.90\.8/);
      assert.match(router.read('usr/bin/tailscaled'), /^TS_VERSION='1\.90\.8'$/m);
      const missing = await router.install(['--version', '1.2.3', '--no-start']);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /tailscale 1\.2\.3 has no build for mipsle/);
      assert.match(router.read('usr/bin/tailscaled'), /^TS_VERSION='1\.90\.8'$/m, 'a failed change keeps the pin');
    });

    test('--dry-run prints every change and changes nothing', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const before = treeOf(router.root);
      const result = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--dry-run', '--lan-rule', '192.168.1.0/24']);
      assert.equal(result.code, 0, result.stderr);
      for (const line of ['would write /usr/bin/tailscaled', 'would write /etc/init.d/tailscale', 'would uci set network.tailscale=interface',
        'would uci set network.tailscale_lan_rule=rule', "would uci add_list dhcp.@dnsmasq[0].server='/ts.net/100.100.100.100'", 'would run /etc/init.d/tailscale start']) {
        assert.ok(result.stdout.includes(line), `missing "${line}" in:\n${result.stdout}`);
      }
      assert.deepEqual(treeOf(router.root), before);
      assert.doesNotMatch(router.readLog('standInLog'), /^(uci .* (set|add_list|commit)|rc\.common) /m);
    });

    test('malformed flags are refused (exit 2) before anything is fetched or written', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const pristine = treeOf(router.root);
      const cases: Array<[string[], RegExp]> = [
        [['--version', VERSION, '--purge'], /--purge only goes with --uninstall/],
        [['--version', 'v1.90'], /--version 'v1\.90' is not a version number/],
        [['--version', VERSION, '--sha256', 'abc'], /--sha256 must be 64 hex digits/],
        [['--version', VERSION, '--lan-rule', 'banana'], /--lan-rule 'banana' is not an address prefix/],
        [['--version', VERSION, '--lan-rule', '192.168.1.0/33'], /is not an address prefix/],
        [['--version', VERSION, '--lan-rule', '192.168.300.0/24'], /is not an address prefix/],
        [['--version', VERSION, '--lan-rule', '192.168.1.0'], /is not an address prefix/],
        [['--version', VERSION, '--base-url', 'ftp://mirror/stable'], /is not an http\(s\) URL/],
      ];
      for (const [args, message] of cases) {
        const result = await router.install(args.includes('--base-url') ? args : [...args, '--base-url', mirror.baseUrl]);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, message);
        assert.deepEqual(treeOf(router.root), pristine, `${args.join(' ')} changed the router`);
      }
      assert.deepEqual(mirror.requests, [], 'nothing was fetched');
      assert.doesNotMatch(router.readLog('standInLog'), /^(wget|uci|rc\.common) /m);
      // The same prefixes in their right form are taken.
      const v6 = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start', '--lan-rule', 'fd00:1::/64']);
      assert.equal(v6.code, 0, v6.stderr);
      assert.ok(router.read('etc/config/network').includes("\nconfig rule6 'tailscale_lan_rule'\n\toption dest 'fd00:1::/64'\n"));
    });

    test('--lan-rule adds a policy rule ahead of the mesh rules', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const result = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start', '--lan-rule', '192.168.1.0/24']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(router.read('etc/config/network').includes("\nconfig rule 'tailscale_lan_rule'\n\toption dest '192.168.1.0/24'\n\toption lookup 'main'\n\toption priority '5205'\n"));
    });

    test('--lan-rule on a router with mwan3 goes ahead of tailscaled\'s 1370 rule, where the doctor puts it', async (t) => {
      const { mirror, router } = await setup(t, shell);
      // With mwan3, tailscaled's `lookup 52` sits at 1370: a rule at 5205 would never be reached.
      writeFileSync(join(router.root, 'etc/config/mwan3'), "config globals 'globals'\n\toption mmx_mask '0x3F00'\n");
      const check = await router.install(['--check']);
      assert.match(check.stdout, /^mwan3=yes$/m);
      const result = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start', '--lan-rule', '192.168.1.0/24']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(router.read('etc/config/network').includes("\nconfig rule 'tailscale_lan_rule'\n\toption dest '192.168.1.0/24'\n\toption lookup 'main'\n\toption priority '1305'\n"), router.read('etc/config/network'));
    });

    test('uninstall leaves the fake root as it was (state kept unless --purge)', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const pristine = treeOf(router.root);
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--lan-rule', '192.168.1.0/24', '--exit-node']);
      assert.equal(install.code, 0, install.stderr);
      await waitFor('tailscaled to run', () => router.readLog('runLog').includes('--port 41641'));
      writeFileSync(join(router.root, 'etc/tailscale/tailscaled.state'), '{"node":"state"}\n');
      const daemonPid = Number(procdFile(router, 'tailscale.pid').trim());

      const keep = await router.install(['--uninstall']);
      assert.equal(keep.code, 0, keep.stderr);
      assert.match(keep.stdout, /kept \/etc\/tailscale/);
      await waitFor('tailscaled to exit', () => !pidAlive(daemonPid), 5000);
      const expected = { ...pristine, 'etc/tailscale': 'dir 755', 'etc/tailscale/tailscaled.state': treeOf(router.root)['etc/tailscale/tailscaled.state'] };
      assert.deepEqual(treeOf(router.root), expected);

      // Reinstall then purge: exactly the pristine tree.
      assert.equal((await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start'])).code, 0);
      const purge = await router.install(['--uninstall', '--purge']);
      assert.equal(purge.code, 0, purge.stderr);
      assert.deepEqual(treeOf(router.root), pristine);
      assert.doesNotMatch(router.readLog('standInLog'), /^rc\.common network restart$/m);
    });

    test('--uninstall, then --uninstall --purge (as the first one suggests) removes the kept state', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const pristine = treeOf(router.root);
      assert.equal((await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start'])).code, 0);
      writeFileSync(join(router.root, 'etc/tailscale/tailscaled.state'), '{"node":"state"}\n');
      const keep = await router.install(['--uninstall']);
      assert.equal(keep.code, 0, keep.stderr);
      assert.match(keep.stdout, /kept \/etc\/tailscale \(node state; --purge removes it\)/);

      const dryRun = await router.install(['--uninstall', '--purge', '--dry-run']);
      assert.equal(dryRun.code, 0, dryRun.stderr);
      assert.match(dryRun.stdout, /would remove \/etc\/tailscale \(state\)/);
      assert.ok(existsSync(join(router.root, 'etc/tailscale/tailscaled.state')));

      const purge = await router.install(['--uninstall', '--purge']);
      assert.equal(purge.code, 0, purge.stderr);
      assert.match(purge.stdout, /removed \/etc\/tailscale \(state\)/);
      assert.deepEqual(treeOf(router.root), pristine);
    });

    test('--uninstall --purge leaves the state of a tailscale package installed since alone', async (t) => {
      const { mirror, router } = await setup(t, shell);
      assert.equal((await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start'])).code, 0);
      assert.equal((await router.install(['--uninstall'])).code, 0);
      mkdirSync(join(router.root, 'usr/sbin'), { recursive: true });
      writeFileSync(join(router.root, 'usr/sbin/tailscaled'), '#!/bin/sh\n', { mode: 0o755 });
      mkdirSync(join(router.root, 'etc/tailscale'), { recursive: true });
      writeFileSync(join(router.root, 'etc/tailscale/tailscaled.state'), '{"package":"state"}\n');
      const refused = await router.install(['--uninstall', '--purge']);
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /\/etc\/tailscale belongs to the tailscale installed at \/usr\/sbin\/tailscaled/);
      assert.equal(router.read('etc/tailscale/tailscaled.state'), '{"package":"state"}\n');
    });

    test('a build the mirror does not have (404) is told apart from a mirror that cannot be reached', async (t) => {
      const { mirror, router } = await setup(t, shell);
      const pristine = treeOf(router.root);
      const missing = await router.install(['--version', '1.2.3', '--base-url', mirror.baseUrl]);
      assert.equal(missing.code, 3, missing.stderr);
      assert.match(missing.stderr, /tailscale 1\.2\.3 has no build for arm64 at .*\(tailscale_1\.2\.3_arm64\.tgz\.sha256: HTTP 404\)/);

      await mirror.down();
      const unreachable = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl]);
      assert.equal(unreachable.code, 3, unreachable.stderr);
      assert.match(unreachable.stderr, /cannot reach the mirror for http:\/\/127\.0\.0\.1:\d+\/stable\/tailscale_1\.90\.8_arm64\.tgz\.sha256: Connection error: Connection failed/);
      assert.doesNotMatch(unreachable.stderr, /no build/);
      const latest = await router.install(['--version', 'latest', '--base-url', mirror.baseUrl]);
      assert.equal(latest.code, 3, latest.stderr);
      assert.match(latest.stderr, /cannot reach the mirror for .*\?mode=json: Connection error/);
      assert.deepEqual(treeOf(router.root), pristine);
    });

    test('the launcher gives up at once on a build the mirror does not have (404), without retrying', async (t) => {
      const { mirror, router } = await setup(t, shell);
      assert.equal((await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start'])).code, 0);
      mirror.files.delete(`tailscale_${VERSION}_arm64.tgz`);
      // A wait budget far beyond the test's own timeout: only not retrying lets this return.
      const start = await router.sh(join(router.root, 'usr/bin/tailscale'), ['version'], { TS_FETCH_WAIT: '100000', TS_RETRY_DELAY: '1' });
      assert.equal(start.code, 1, start.stderr);
      assert.match(router.readLog('syslog'), /^daemon\.err netmend-tailscale: the mirror has no tailscale 1\.90\.8 build for arm64: http:\S+tailscale_1\.90\.8_arm64\.tgz \(HTTP 404\)$/m);
      assert.doesNotMatch(router.readLog('syslog'), /retrying/);
      assert.equal(mirror.requestsFor(`tailscale_${VERSION}_arm64.tgz`), 1);
      assert.deepEqual(tmpLeftovers(router), []);
    });

    test('a busybox wget without -T (no FEATURE_WGET_TIMEOUT): installer and launcher bound downloads with timeout instead', async (t) => {
      const { mirror, router } = await setup(t, shell, { wget: 'busybox' });
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start']);
      assert.equal(install.code, 0, install.stderr);
      assert.equal(mirror.requestsFor(`tailscale_${VERSION}_arm64.tgz.sha256`), 1);

      // A mirror that accepts and never answers: busybox wget alone would wait forever.
      mirror.stalled.add(`tailscale_${VERSION}_arm64.tgz`);
      const stalled = await router.sh(join(router.root, 'usr/bin/tailscale'), ['version'], { TS_FETCH_TIMEOUT: '2', TS_FETCH_WAIT: '0' });
      assert.equal(stalled.code, 1, stalled.stderr);
      assert.match(router.readLog('syslog'), /cannot download http:\S+tailscale_1\.90\.8_arm64\.tgz: no answer within 2 s \(gave up/);
      assert.deepEqual(tmpLeftovers(router), []);

      mirror.stalled.clear();
      const started = await router.sh(join(router.root, 'usr/bin/tailscale'), ['version']);
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, /^tailscale fixture 1\.90\.8 arm64: version$/m);
      assert.doesNotMatch(router.readLog('standInLog'), /^wget /m, 'busybox wget did the downloads, not the stand-in');

      // Its error messages are told apart too.
      const missing = await router.install(['--version', '1.2.3', '--base-url', mirror.baseUrl]);
      assert.equal(missing.code, 3, missing.stderr);
      assert.match(missing.stderr, /has no build for arm64 at .*: HTTP 404\)/);
      await mirror.down();
      const unreachable = await router.install(['--version', '1.2.4', '--base-url', mirror.baseUrl]);
      assert.equal(unreachable.code, 3, unreachable.stderr);
      assert.match(unreachable.stderr, /cannot reach the mirror for .*: wget: can't connect to remote host \(127\.0\.0\.1\): Connection refused/);
    });

    test('concurrent first starts download once and all run', async (t) => {
      const { mirror, router } = await setup(t, shell);
      assert.equal((await router.install(['--version', VERSION, '--base-url', mirror.baseUrl, '--no-start'])).code, 0);
      const starts = await Promise.all([
        router.sh(join(router.root, 'usr/bin/tailscale'), ['version']),
        router.sh(join(router.root, 'usr/bin/tailscaled'), ['--version']),
        router.sh(join(router.root, 'usr/bin/tailscale'), ['status']),
        router.sh(join(router.root, 'usr/bin/tailscaled'), ['--version']),
      ]);
      for (const start of starts) assert.equal(start.code, 0, start.stderr);
      assert.match(starts[0].stdout, /tailscale fixture 1\.90\.8 arm64: version/);
      assert.match(starts[1].stdout, /tailscaled fixture 1\.90\.8 arm64: --version/);
      assert.equal(mirror.requestsFor(`tailscale_${VERSION}_arm64.tgz`), 1, mirror.requests.join('\n'));
      assert.deepEqual(tmpLeftovers(router), [`tailscale-${VERSION}`]);
    });

    // Architecture: DISTRIB_ARCH, then /etc/apk/arch, then opkg, then uname -m; byte order from ELF.
    const archCases: Array<{ name: string; options: FakeRouterOptions; env?: NodeJS.ProcessEnv; expected: string }> = [
      { name: 'aarch64 package arch', options: { distribArch: 'aarch64_cortex-a53' }, expected: 'arm64' },
      { name: 'arm package arch', options: { distribArch: 'arm_cortex-a7_neon-vfpv4' }, expected: 'arm' },
      { name: 'x86_64', options: { distribArch: 'x86_64' }, expected: 'amd64' },
      { name: 'i386_pentium4', options: { distribArch: 'i386_pentium4' }, expected: '386' },
      { name: 'i386_pentium-mmx (geode)', options: { distribArch: 'i386_pentium-mmx' }, expected: 'geode' },
      { name: 'riscv64', options: { distribArch: 'riscv64_riscv64' }, expected: 'riscv64' },
      { name: 'mipsel_24kc, little-endian ELF', options: { distribArch: 'mipsel_24kc', elf: 'le' }, expected: 'mipsle' },
      { name: 'mips_24kc, big-endian ELF', options: { distribArch: 'mips_24kc', elf: 'be' }, expected: 'mips' },
      { name: 'mips64el, little-endian ELF', options: { distribArch: 'mips64el_octeonplus', elf: 'le' }, expected: 'mips64le' },
      { name: 'double-quoted release file (fork)', options: { distribArch: 'mipsel_24kc', releaseQuotes: '"', elf: 'le' }, expected: 'mipsle' },
      { name: '/etc/apk/arch when DISTRIB_ARCH is missing', options: { distribArch: null, apkArch: 'aarch64_generic' }, expected: 'arm64' },
      { name: 'opkg when neither says', options: { distribArch: null }, env: { FAKE_OPKG_ARCH: 'arm_cortex-a9' }, expected: 'arm' },
      { name: 'uname -m mips + little-endian ELF (uname cannot tell)', options: { noRelease: true, elf: 'le' }, env: { FAKE_UNAME_M: 'mips' }, expected: 'mipsle' },
      { name: 'uname -m mips + big-endian ELF', options: { noRelease: true, elf: 'be' }, env: { FAKE_UNAME_M: 'mips' }, expected: 'mips' },
      { name: 'loongarch64: no build', options: { distribArch: 'loongarch64_generic' }, expected: '' },
    ];
    for (const archCase of archCases) {
      test(`architecture: ${archCase.name} -> ${archCase.expected || 'refused'}`, async (t) => {
        const lab = Lab.forTest(t);
        const router = await fakeRouter(lab, shell, archCase.options);
        const check = await router.install(['--check'], archCase.env);
        assert.equal(check.code, 0, check.stderr);
        assert.match(check.stdout, new RegExp(`^arch=${archCase.expected}$`, 'm'));
        if (archCase.expected === '') {
          const refused = await router.install(['--version', VERSION], archCase.env);
          assert.equal(refused.code, 3);
          assert.match(refused.stderr, /no tailscale build for this router's architecture \('loongarch64_generic'/);
        }
      });
    }

    test('an arch the installer detects is the one the launcher downloads (mipsle)', async (t) => {
      const { mirror, router } = await setup(t, shell, { distribArch: 'mipsel_24kc', elf: 'le', fw4: false }, 'mipsle');
      const install = await router.install(['--version', VERSION, '--base-url', mirror.baseUrl]);
      assert.equal(install.code, 0, install.stderr);
      await waitFor('tailscaled to run', () => router.readLog('runLog').includes('--port 41641'));
      assert.match(router.readLog('runLog'), /fw=iptables --port 41641/, 'fw3: iptables mode, said explicitly');
      assert.equal(mirror.requestsFor('tailscale_1.90.8_mipsle.tgz'), 1);
    });
  });
}

test('shellcheck -s sh is clean on every installer part and the assembled script; both shells parse it', async (t) => {
  const lab = Lab.forTest(t);
  const router = await fakeRouter(lab, 'dash');
  const { projectRoot } = await import('./harness.js');
  const parts = ['install.sh', 'launcher.sh', 'tailscale.init'].map((name) => join(projectRoot, 'openwrt', name));
  const check = await run('shellcheck', ['-s', 'sh', ...parts, router.script]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  for (const [file, args] of [['dash', ['-n', router.script]], ['busybox', ['sh', '-n', router.script]]] as const) {
    const parsed = await run(file, [...args]);
    assert.equal(parsed.code, 0, parsed.stderr);
  }
  // The init script as it lands on the router parses too.
  assert.equal((await router.install(['--version', VERSION, '--base-url', 'http://127.0.0.1:9/stable', '--no-start'])).code, 3);
});
