import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { netmend } from '../lab/harness.js';
import { bodyAfterSettings, installerScript, launcherBody, openwrtDir } from '../../src/openwrt/script.js';
import { parseFacts, refusalReason } from '../../src/openwrt/remote.js';

test('the installer embeds the launcher and init script byte for byte (shell specials such as $$ intact)', () => {
  const script = installerScript();
  const launcher = bodyAfterSettings(readFileSync(join(openwrtDir, 'launcher.sh'), 'utf8'), 'launcher.sh');
  const init = bodyAfterSettings(readFileSync(join(openwrtDir, 'tailscale.init'), 'utf8'), 'tailscale.init');
  assert.ok(script.includes(`\n${init}\n`), 'tailscale.init is not embedded verbatim');
  assert.ok(script.includes(`\n${launcherBody()}\n`), 'launcher.sh is not embedded');
  // The launcher is verbatim apart from the download functions, which both scripts get once.
  const fetchFunctions = readFileSync(join(openwrtDir, 'fetch.sh'), 'utf8').replace(/^# shellcheck shell=sh\n/, '').trim();
  assert.equal(launcherBody(), launcher.replace('# @@FETCH_FUNCTIONS@@', fetchFunctions));
  assert.equal(script.split('\nfetch() {\n').length - 1, 2, 'fetch() in the installer and in the launcher');
  assert.ok(script.includes('echo "$$" > "$lock_dir/pid"'));
  assert.doesNotMatch(script, /@@(LAUNCHER_BODY|INIT_BODY|FETCH_FUNCTIONS)@@/);
});

test('`netmend openwrt script` prints the assembled installer', async () => {
  const result = await netmend(['openwrt', 'script']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, installerScript().replace(/\n?$/, '\n'));
  assert.match(result.stdout, /^#!\/bin\/sh\n/);
});

test('router facts: a router that cannot run the build is refused with the reason', () => {
  const healthy = parseFacts('arch=mipsle\npackage_arch=mipsel_24kc\nmem_available_kb=90000\ntmp_free_kb=120000\nflash_free_kb=900\nfirewall=fw4\nopenwrt=yes\ninstalled_version=\n');
  assert.equal(refusalReason(healthy), undefined);
  assert.match(refusalReason({ ...healthy, memAvailableKb: 40_000 }) ?? '', /40000 KB MemAvailable/);
  assert.match(refusalReason({ ...healthy, tmpFreeKb: 20_000 }) ?? '', /\/tmp has 20000 KB free/);
  assert.match(refusalReason({ ...healthy, flashFreeKb: 10 }) ?? '', /flash has 10 KB free/);
  assert.match(refusalReason({ ...healthy, arch: '' }) ?? '', /no tailscale build/);
  assert.match(refusalReason({ ...healthy, openwrt: false }) ?? '', /not OpenWrt/);
  assert.throws(() => parseFacts('sh: syntax error'), /did not answer/);
});

test('the installer\'s --lan-rule priorities come from the doctor\'s bypass logic (5205; 1305 ahead of mwan3\'s 1370)', async () => {
  const { routesChecks } = await import('../../src/doctor/checks/routes/index.js');
  const subnetShadows = routesChecks.find((check) => check.id === 'routes.subnet-shadows-lan')!;
  const script = installerScript();
  for (const [base, variable] of [[5200, 'lan_rule_priority_plain'], [1300, 'lan_rule_priority_mwan3']] as const) {
    // A host whose table 52 shadows its LAN, with tailscaled's rules at this base.
    const snapshot = {
      version: 1 as const, host: 'r', takenAt: '2026-01-01T00:00:00Z', source: 'file' as const,
      links: [
        { index: 1, name: 'lo', kind: 'loopback', flags: ['UP'], mtu: 65536, operstate: 'UNKNOWN', address: null },
        { index: 2, name: 'br-lan', kind: 'bridge', flags: ['UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01' },
        { index: 3, name: 'tailscale0', kind: 'tun', flags: ['UP'], mtu: 1280, operstate: 'UNKNOWN', address: null },
      ],
      addresses: [{ ifindex: 2, dev: 'br-lan', family: 4 as const, local: '192.168.1.1', prefixlen: 24, scope: 'global', flags: [] }],
      routes: [
        { family: 4 as const, table: 255, type: 'local' as const, dst: '192.168.1.1/32', dev: 'br-lan', metric: 0, protocol: 'kernel', scope: 'host', flags: [], prefsrc: '192.168.1.1' },
        { family: 4 as const, table: 254, type: 'unicast' as const, dst: '192.168.1.0/24', dev: 'br-lan', metric: 0, protocol: 'kernel', scope: 'link', flags: [], prefsrc: '192.168.1.1' },
        { family: 4 as const, table: 52, type: 'unicast' as const, dst: '192.168.1.0/24', dev: 'tailscale0', metric: 0, protocol: 'static', scope: 'link', flags: [] },
      ],
      rules: [
        { family: 4 as const, priority: 0, not: false, action: 'lookup' as const, table: 255 },
        { family: 4 as const, priority: base + 70, not: false, action: 'lookup' as const, table: 52 },
        { family: 4 as const, priority: 32766, not: false, action: 'lookup' as const, table: 254 },
      ],
      sysctls: { interfaces: {} },
    };
    const result = subnetShadows.run({ snapshot, facts: {}, gatherErrors: {} }, { ifaces: [], domains: ['ts.net'], names: [] });
    assert.equal(result.status, 'fail');
    const doctorPriority = /lookup main priority (\d+)/.exec(result.fix!.explanation)![1];
    assert.match(script, new RegExp(`^${variable}=${doctorPriority}$`, 'm'));
  }
});
