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
