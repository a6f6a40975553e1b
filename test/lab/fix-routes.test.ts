/**
 * `netmend fix subnet-routes` / `fix link-local` against the real kernel and the real
 * systemd-networkd, on the tailscaled-style scenario of lab.md: a host with a LAN on a veth, a
 * held-open tailscale0, tailscaled's rules 5210-5270 and a subnet route for its own LAN in table 52.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rules, routeGet, tailscaleScenario, tree, withoutJournal } from './fix-fixtures.js';
import { labUnavailable, netmendBin, uniqueName } from './harness.js';
import { startSshd } from './sshd.js';

const skip = labUnavailable();

test('fix subnet-routes: plan changes nothing; --apply reroutes the LAN (ip route get), doctor passes, idempotent, undo restores rules and files byte for byte', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  assert.match(await routeGet(s, '10.10.0.3'), /dev tailscale0 table 52/);
  assert.match(await routeGet(s, 'fd10:10::3'), /dev tailscale0 table 52/);
  const doctorBefore = await s.netmend(['doctor', 'routes']);
  assert.notEqual(doctorBefore.code, 0, `doctor should find the shadowed LAN first:\n${doctorBefore.stdout}`);
  const rulesBefore = await rules(s);
  const filesBefore = tree(s.root);

  const plan = await s.netmend(['fix', 'subnet-routes', '--root', s.root]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /ip -4 rule add to 10\.10\.0\.0\/24 lookup main priority 5205/);
  assert.match(plan.stdout, /ip -6 rule add to fd10:10::\/64 lookup main priority 5205/);
  assert.match(plan.stdout, /\+\+\+ b\/etc\/systemd\/network\/20-lan\.network\.d\/50-netmend-subnet-routes\.conf/);
  assert.match(plan.stdout, /\+Table=254/);
  assert.equal(await rules(s), rulesBefore, 'the plan must not change rules');
  assert.deepEqual(tree(s.root), filesBefore, 'the plan must not write files');

  const applied = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /routes\.subnet-shadows-lan: pass/);
  assert.match(await routeGet(s, '10.10.0.3'), new RegExp(`dev ${s.hostIf} src 10\\.10\\.0\\.4`));
  assert.match(await routeGet(s, 'fd10:10::3'), new RegExp(`dev ${s.hostIf}`));
  assert.match(await s.lab.ip(s.host, '-4', 'rule'), /^5205:\s+from all to 10\.10\.0\.0\/24 lookup main/m);
  assert.match(await s.lab.ip(s.host, '-6', 'rule'), /^5205:\s+from all to fd10:10::\/64 lookup main/m);
  const dropIn = readFileSync(join(s.root, 'etc/systemd/network/20-lan.network.d/50-netmend-subnet-routes.conf'), 'utf8');
  assert.match(dropIn, /\[RoutingPolicyRule\]\nTo=10\.10\.0\.0\/24\nTable=254\nPriority=5205\n/);
  assert.match(dropIn, /\[RoutingPolicyRule\]\nTo=fd10:10::\/64\nTable=254\nPriority=5205\n/);
  const doctorAfter = await s.netmend(['doctor', 'routes']);
  assert.match(doctorBefore.stdout, /^✗ routes\.subnet-shadows-lan/m, doctorBefore.stdout);
  assert.match(doctorAfter.stdout, /^✓ routes\.subnet-shadows-lan/m, doctorAfter.stdout);

  const rulesApplied = await rules(s);
  const filesApplied = withoutJournal(tree(s.root));
  const again = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /nothing to do/);
  assert.equal(await rules(s), rulesApplied);
  assert.deepEqual(withoutJournal(tree(s.root)), filesApplied);

  const list = await s.netmend(['fix', 'list', '--root', s.root]);
  assert.match(list.stdout, /subnet-routes/);
  assert.match(list.stdout, /applied/);

  const undo = await s.netmend(['fix', 'undo', '--root', s.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(await rules(s), rulesBefore, 'undo restores the rules exactly');
  assert.deepEqual(withoutJournal(tree(s.root)), filesBefore, 'undo restores the files byte for byte');
  assert.match(await routeGet(s, '10.10.0.3'), /dev tailscale0 table 52/);
  const undoAgain = await s.netmend(['fix', 'undo', '--root', s.root]);
  assert.equal(undoAgain.code, 0);
  assert.match(undoAgain.stdout, /nothing to undo/);
  assert.equal(await rules(s), rulesBefore);

  // A bypass rule added by hand fixes the LAN live only; the fix then adds just the persistent half.
  await s.lab.ip(s.host, '-4', 'rule', 'add', 'to', '10.10.0.0/24', 'lookup', 'main', 'priority', '5201');
  const persistOnly = await s.netmend(['fix', 'subnet-routes', '--root', s.root]);
  assert.equal(persistOnly.code, 0, persistOnly.stderr);
  assert.match(persistOnly.stdout, /\+To=10\.10\.0\.0\/24\n\+Table=254\n\+Priority=5201/);
  assert.doesNotMatch(persistOnly.stdout, /ip -4 rule add/);
});

test('the real systemd-networkd, given the files the fixes wrote, removes fe80 from the tunnel and installs the 5205 rules; doctor routes then passes', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  for (const fix of ['link-local', 'subnet-routes']) {
    const result = await s.netmend(['fix', fix, '--root', s.root, '--method', 'networkd', '--apply', '--no-live']);
    assert.equal(result.code, 0, `${fix}: ${result.stdout}\n${result.stderr}`);
  }
  const unit = readFileSync(join(s.root, 'etc/systemd/network/10-netmend-tailscale0.network'), 'utf8');
  for (const line of ['Name=tailscale0', 'KeepConfiguration=yes', 'LinkLocalAddressing=no', 'IPv6AcceptRA=no', 'DHCP=no', 'RequiredForOnline=no']) assert.ok(unit.includes(`${line}\n`), line);
  // --no-live: the kernel still has the problem; networkd must be what fixes it.
  assert.match(await s.lab.ip(s.host, '-6', 'route', 'show', 'dev', 'tailscale0'), /fe80::\/64/);
  assert.doesNotMatch(await s.lab.ip(s.host, '-4', 'rule'), /^5205:/m);
  const doctorBefore = await s.netmend(['doctor', 'routes']);
  assert.match(doctorBefore.stdout, /^✗ routes\.tunnel-link-local/m, doctorBefore.stdout);
  assert.match(doctorBefore.stdout, /^✗ routes\.subnet-shadows-lan/m, doctorBefore.stdout);

  const confDir = join(s.root, 'etc/systemd/network');
  // networkd set up as the doctor recommends for a mesh host (it leaves other programs' rules and
  // routes alone), with its runtime state under --root so the doctor sees it running.
  writeFileSync(join(s.root, 'etc/systemd/networkd.conf'), '[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n');
  mkdirSync(join(s.root, 'run/systemd'), { recursive: true });
  const script = [
    'mount --bind "$CONFDIR" /etc/systemd/network',
    'mount --bind "$ROOT/etc/systemd/networkd.conf" /etc/systemd/networkd.conf',
    'mount --bind "$ROOT/run/systemd" /run/systemd',
    'mkdir -p /run/systemd/netif && chown systemd-network:systemd-network /run/systemd/netif',
    'umount -l /sys && mount -t sysfs -o ro sysfs /sys',
    'exec /lib/systemd/systemd-networkd',
  ].join('\n');
  const networkd = s.lab.spawn(s.host, 'unshare', ['-m', 'sh', '-c', script], { env: { ...process.env, CONFDIR: confDir, ROOT: s.root }, stdio: 'pipe' });
  let log = '';
  networkd.stderr?.on('data', (chunk) => { log += String(chunk); });
  networkd.stdout?.on('data', (chunk) => { log += String(chunk); });

  await s.lab.waitFor(async () => !(await s.lab.ip(s.host, '-6', 'route', 'show', 'dev', 'tailscale0')).includes('fe80::/64'), 15_000, `networkd to drop fe80 on tailscale0 (log: ${log})`);
  await s.lab.waitFor(async () => /^5205:\s+from all to 10\.10\.0\.0\/24 lookup main proto static/m.test(await s.lab.ip(s.host, '-4', 'rule')), 15_000, `the 5205 rule from networkd (log: ${log})`);
  await s.lab.waitFor(async () => /^5205:\s+from all to fd10:10::\/64 lookup main proto static/m.test(await s.lab.ip(s.host, '-6', 'rule')), 15_000, `the IPv6 5205 rule from networkd (log: ${log})`);
  assert.doesNotMatch(await s.lab.ip(s.host, '-6', 'addr', 'show', 'dev', 'tailscale0'), /fe80:/);
  // KeepConfiguration=yes: the mesh daemon's own address stays.
  assert.match(await s.lab.ip(s.host, '-4', 'addr', 'show', 'dev', 'tailscale0'), /100\.100\.1\.2\/32/);
  assert.match(await routeGet(s, '10.10.0.3'), new RegExp(`dev ${s.hostIf}`));

  const doctor = await s.netmend(['doctor', 'routes', '--root', s.root]);
  assert.match(doctor.stdout, /^✓ routes\.tunnel-link-local/m, doctor.stdout);
  assert.match(doctor.stdout, /^✓ routes\.subnet-shadows-lan/m, doctor.stdout);
  assert.match(doctor.stdout, /^✓ routes\.foreign-rules-at-risk/m, doctor.stdout);
  assert.doesNotMatch(doctor.stdout, /^[✗!☠] /m, doctor.stdout);
  assert.equal(doctor.code, 0, doctor.stdout);
  const linkLocal = await s.netmend(['fix', 'link-local', '--root', s.root, '--method', 'networkd']);
  assert.match(linkLocal.stdout, /nothing to do/, linkLocal.stdout);
});

test('fix link-local (no networkd): live removal with before/after routes, a udev rule that works on the real kernel, byte-exact undo of a prior file', { skip }, async (t) => {
  const s = await tailscaleScenario(t, { lanNetworkFile: false });
  const rulePath = join(s.root, 'etc/udev/rules.d/90-netmend-link-local-tailscale0.rules');
  mkdirSync(join(s.root, 'etc/udev/rules.d'), { recursive: true });
  writeFileSync(rulePath, '# an older hand-written rule\r\nACTION=="add", KERNEL=="tailscale0"\n');
  chmodSync(rulePath, 0o640);
  const filesBefore = tree(s.root);
  const routesBefore = await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main');
  assert.match(routesBefore, /fe80::\/64 dev tailscale0 proto kernel metric 256/);

  const applied = await s.netmend(['fix', 'link-local', '--root', s.root, '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /fix link-local \(sysctl\)/);
  assert.doesNotMatch(await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main'), /dev tailscale0/);
  assert.doesNotMatch(await s.lab.ip(s.host, '-6', 'addr', 'show', 'dev', 'tailscale0'), /fe80:/);
  assert.match(await s.lab.ip(s.host, '-d', 'link', 'show', 'tailscale0'), /addrgenmode none/);
  // IPv6 stays enabled on the tunnel (tailscaled drops its IPv6 config otherwise).
  assert.equal((await s.lab.exec(s.host, 'cat', ['/proc/sys/net/ipv6/conf/tailscale0/disable_ipv6'])).stdout.trim(), '0');
  // The LAN keeps its own link-local route.
  assert.match(await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main'), new RegExp(`fe80::/64 dev ${s.hostIf}`));

  // The persistent mechanism: run the udev rule's commands (as udev would, %k = the device)
  // on a freshly created tunnel, then bounce it as a mesh daemon restart would.
  const rule = readFileSync(rulePath, 'utf8');
  const commands = [...rule.matchAll(/RUN\+="([^"]+)"/g)].map((match) => match[1].replace(/%k/g, 'tun9'));
  assert.equal(commands.length, 3, rule);
  await s.lab.tun(s.host, 'tun9');
  await s.lab.waitForLinkLocalRoute(s.host, 'tun9');
  for (const command of commands) {
    const [file, ...args] = command.split(' ');
    await s.lab.exec(s.host, file, args);
  }
  assert.doesNotMatch(await s.lab.ip(s.host, '-6', 'route', 'show', 'dev', 'tun9'), /fe80/);
  await s.lab.ip(s.host, 'link', 'set', 'tun9', 'down');
  await s.lab.ip(s.host, 'link', 'set', 'tun9', 'up');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.doesNotMatch(await s.lab.ip(s.host, '-6', 'route', 'show', 'dev', 'tun9'), /fe80/);
  assert.doesNotMatch(await s.lab.ip(s.host, '-6', 'addr', 'show', 'dev', 'tun9'), /fe80/);

  const undo = await s.netmend(['fix', 'undo', '--root', s.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.deepEqual(withoutJournal(tree(s.root)), filesBefore, 'the prior rule file comes back byte for byte, mode included');
  const routesAfter = (await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main')).split('\n').filter((line) => !line.includes('tun9')).join('\n');
  assert.equal(routesAfter, routesBefore);
});

test('a target file that does not parse: exit 2 naming file and line, nothing changed', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  const lanFile = join(s.root, 'etc/systemd/network/20-lan.network');
  writeFileSync(lanFile, `[Match]\nName=${s.hostIf}\nthis is not a key\n`);
  const rulesBefore = await rules(s);
  const filesBefore = tree(s.root);
  const result = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply']);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /20-lan\.network:3: not a Key=Value line/);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.equal(await rules(s), rulesBefore);
  assert.deepEqual(tree(s.root), filesBefore);

  const uciRoot = s.lab.tmpdir();
  mkdirSync(join(uciRoot, 'etc/config'), { recursive: true });
  writeFileSync(join(uciRoot, 'etc/openwrt_release'), "DISTRIB_ID='OpenWrt'\n");
  writeFileSync(join(uciRoot, 'etc/config/network'), "config interface 'lan'\n\toption proto 'static\n");
  const uci = await s.netmend(['fix', 'subnet-routes', '--root', uciRoot, '--apply']);
  assert.equal(uci.code, 2, uci.stdout + uci.stderr);
  assert.match(uci.stderr, /etc\/config\/network:2: unbalanced quote/);
  assert.equal(await rules(s), rulesBefore);
});

test('a symlinked target is never written through: exit 2, nothing changed', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  const elsewhere = join(s.lab.tmpdir(), 'managed-by-someone-else.network');
  writeFileSync(elsewhere, '[Match]\nName=tailscale0\n');
  symlinkSync(elsewhere, join(s.root, 'etc/systemd/network/10-netmend-tailscale0.network'));
  const routesBefore = await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main');
  const result = await s.netmend(['fix', 'link-local', '--root', s.root, '--method', 'networkd', '--apply']);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /10-netmend-tailscale0\.network is a symlink/);
  assert.equal(readFileSync(elsewhere, 'utf8'), '[Match]\nName=tailscale0\n');
  assert.equal(await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main'), routesBefore);
  assert.equal(existsSync(join(s.root, 'var/lib/netmend/fixes')), false);
});

test('SSH lockout: refuses (exit 1, nothing changed) when the change would reroute the SSH client; --force applies and waits for confirm', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  const rulesBefore = await rules(s);
  const filesBefore = tree(s.root);
  // The admin reaches this host through the mesh from 10.10.0.9, an address in the shadowed LAN.
  const ssh = { SSH_CONNECTION: '10.10.0.9 50022 100.100.1.2 22' };
  const refused = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply'], ssh);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /refusing: the change would move the route to your SSH client 10\.10\.0\.9/);
  assert.match(refused.stdout, /now: +unicast dev tailscale0 table 52/);
  assert.match(refused.stdout, new RegExp(`after: +unicast dev ${s.hostIf}`));
  assert.equal(await rules(s), rulesBefore);
  assert.deepEqual(tree(s.root), filesBefore);

  // An admin on the LAN itself (connected to the LAN address) keeps the session: allowed.
  const fromLan = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply', '--confirm-timeout', '30'], { SSH_CONNECTION: '10.10.0.3 50022 10.10.0.4 22' });
  assert.equal(fromLan.code, 0, fromLan.stdout + fromLan.stderr);
  assert.match(fromLan.stdout, new RegExp(`allowed: replies move onto ${s.hostIf}`));
  assert.equal((await s.netmend(['fix', 'undo', '--root', s.root])).code, 0);
  assert.equal(await rules(s), rulesBefore);

  const forced = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply', '--force', '--confirm-timeout', '30'], ssh);
  assert.equal(forced.code, 0, forced.stdout + forced.stderr);
  assert.match(forced.stdout, /rolls back in 30 s unless you run `netmend fix confirm/);
  const confirm = await s.netmend(['fix', 'confirm', '--root', s.root]);
  assert.equal(confirm.code, 0, confirm.stderr);
  assert.match(confirm.stdout, /confirmed; the change stays/);
  assert.match(await s.lab.ip(s.host, '-4', 'rule'), /^5205:/m);
});

test('over SSH an unconfirmed fix rolls back by itself after --confirm-timeout; a confirmed one stays', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  const rulesBefore = await rules(s);
  const filesBefore = tree(s.root);
  // A session over loopback: the fix does not touch its route, so it is allowed.
  const ssh = { SSH_CONNECTION: '127.0.0.1 50022 127.0.0.1 22' };
  const applied = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply', '--confirm-timeout', '2'], ssh);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(await s.lab.ip(s.host, '-4', 'rule'), /^5205:/m);
  await s.lab.waitFor(async () => (await rules(s)) === rulesBefore, 15_000, 'the watchdog to roll the rules back');
  await s.lab.waitFor(async () => JSON.stringify(withoutJournal(tree(s.root))) === JSON.stringify(filesBefore), 5000, 'the files to be restored');
  const list = await s.netmend(['fix', 'list', '--root', s.root]);
  assert.match(list.stdout, /rolled-back \(not confirmed in time\)/);
  assert.match(await routeGet(s, '10.10.0.3'), /dev tailscale0 table 52/);

  const again = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply', '--confirm-timeout', '3'], ssh);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const journal = join(s.root, 'var/lib/netmend/fixes');
  const pending = readdirSync(journal).filter((name) => name.endsWith('.json')).map((name) => JSON.parse(readFileSync(join(journal, name), 'utf8')))
    .find((entry) => entry.state === 'applied');
  const watchdogPid = pending?.confirm?.watchdogPid as number;
  assert.ok(existsSync(`/proc/${watchdogPid}`), 'the watchdog runs while the fix waits for confirmation');
  const confirm = await s.netmend(['fix', 'confirm', '--root', s.root]);
  assert.match(confirm.stdout, /confirmed/);
  await s.lab.waitFor(async () => !existsSync(`/proc/${watchdogPid}/cmdline`) || !readFileSync(`/proc/${watchdogPid}/cmdline`, 'utf8').includes('watchdog'), 5000, 'confirm to stop the watchdog');
  await new Promise((resolve) => setTimeout(resolve, 4500));
  assert.match(await s.lab.ip(s.host, '-4', 'rule'), /^5205:\s+from all to 10\.10\.0\.0\/24 lookup main/m);
  assert.match((await s.netmend(['fix', 'list', '--root', s.root])).stdout, /subnet-routes[^\n]*\n(?:.*\n)*.*applied/);
});

test('OpenWrt: config rule / rule6 sections in /etc/config/network, live rule added, undo restores the file', { skip }, async (t) => {
  const s = await tailscaleScenario(t, { lanNetworkFile: false });
  mkdirSync(join(s.root, 'etc/config'), { recursive: true });
  writeFileSync(join(s.root, 'etc/openwrt_release'), "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.5'\n");
  const original = "\nconfig interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\toption ipaddr '127.0.0.1'\n\toption netmask '255.0.0.0'\n\nconfig interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n\toption ipaddr '10.10.0.4'\n\toption netmask '255.255.255.0'\n";
  writeFileSync(join(s.root, 'etc/config/network'), original);
  const applied = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply']);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(applied.stdout, /fix subnet-routes \(uci\)/);
  const text = readFileSync(join(s.root, 'etc/config/network'), 'utf8');
  assert.ok(text.startsWith(original), 'existing sections are kept as they were');
  assert.match(text, /\nconfig rule 'netmend_lan_10_10_0_0_24'\n\toption dest '10\.10\.0\.0\/24'\n\toption lookup 'main'\n\toption priority '5205'\n/);
  assert.match(text, /\nconfig rule6 'netmend_lan6_fd10_10___64'\n\toption dest 'fd10:10::\/64'\n\toption lookup 'main'\n\toption priority '5205'\n/);
  assert.match(await routeGet(s, '10.10.0.3'), new RegExp(`dev ${s.hostIf}`));
  const undo = await s.netmend(['fix', 'undo', '--root', s.root]);
  assert.equal(undo.code, 0, undo.stdout + undo.stderr);
  assert.equal(readFileSync(join(s.root, 'etc/config/network'), 'utf8'), original);
});

test('verification: when something puts a link-local address back, the fix is rolled back and exits 1 with the evidence', { skip }, async (t) => {
  const s = await tailscaleScenario(t, { lanNetworkFile: false });
  const filesBefore = tree(s.root);
  // Another manager that keeps its own fe80 address on the tunnel, as a misbehaving daemon would.
  s.lab.spawn(s.host, 'sh', ['-c', 'while :; do ip -6 addr add fe80::1/64 dev tailscale0 nodad 2>/dev/null; sleep 0.05; done'], { stdio: 'ignore' });
  await s.lab.waitFor(async () => (await s.lab.ip(s.host, '-6', 'addr', 'show', 'dev', 'tailscale0')).includes('fe80::1/64'), 5000, 'fe80::1 on tailscale0');
  const result = await s.netmend(['fix', 'link-local', '--root', s.root, '--apply']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /verification:/);
  assert.match(result.stdout, /inet6 fe80::1\/64 dev tailscale0/);
  assert.match(result.stderr, /did not remove the finding; rolled back/);
  assert.deepEqual(withoutJournal(tree(s.root)), filesBefore, 'the udev rule is gone again');
  assert.doesNotMatch(await s.lab.ip(s.host, '-d', 'link', 'show', 'tailscale0'), /addrgenmode none/);
  const list = await s.netmend(['fix', 'list', '--root', s.root]);
  assert.match(list.stdout, /rolled-back \(verification failed\)/);
});

test('OpenWrt link-local: a hotplug.d/net script (kept by sysupgrade) that busybox sh runs on the real kernel when the tunnel appears', { skip }, async (t) => {
  const s = await tailscaleScenario(t, { lanNetworkFile: false });
  mkdirSync(join(s.root, 'etc'), { recursive: true });
  writeFileSync(join(s.root, 'etc/openwrt_release'), "DISTRIB_ID='OpenWrt'\n");
  writeFileSync(join(s.root, 'etc/sysupgrade.conf'), '## This file contains files and directories that should\n/etc/dropbear\n');
  const applied = await s.netmend(['fix', 'link-local', '--root', s.root, '--apply']);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(applied.stdout, /fix link-local \(uci\)/);
  const script = join(s.root, 'etc/hotplug.d/net/90-netmend-link-local-tailscale0');
  assert.equal(statSync(script).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(s.root, 'etc/sysupgrade.conf'), 'utf8'), '## This file contains files and directories that should\n/etc/dropbear\n/etc/hotplug.d/net/90-netmend-link-local-tailscale0\n');

  // procd runs hotplug scripts with ACTION/INTERFACE in the environment; here busybox sh on a
  // fresh tunnel of the same name in another namespace, as after a mesh daemon restart.
  const other = await s.lab.netns('fo');
  await s.lab.tun(other, 'tailscale0');
  await s.lab.waitForLinkLocalRoute(other, 'tailscale0');
  const ignored = await s.lab.exec(other, 'busybox', ['sh', script], { env: { ...process.env, ACTION: 'remove', INTERFACE: 'tailscale0' } });
  assert.equal(ignored.code, 0);
  assert.match(await s.lab.ip(other, '-6', 'route', 'show', 'dev', 'tailscale0'), /fe80::\/64/, 'other events leave the link alone');
  const ran = await s.lab.exec(other, 'busybox', ['sh', script], { env: { ...process.env, ACTION: 'add', INTERFACE: 'tailscale0' } });
  assert.equal(ran.code, 0, ran.stderr);
  assert.doesNotMatch(await s.lab.ip(other, '-6', 'route', 'show', 'dev', 'tailscale0'), /fe80/);
  assert.doesNotMatch(await s.lab.ip(other, '-6', 'addr', 'show', 'dev', 'tailscale0'), /fe80/);
  await s.lab.ip(other, 'link', 'set', 'tailscale0', 'down');
  await s.lab.ip(other, 'link', 'set', 'tailscale0', 'up');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.doesNotMatch(await s.lab.ip(other, '-6', 'addr', 'show', 'dev', 'tailscale0'), /fe80/);
  assert.equal((await s.lab.exec(other, 'cat', ['/proc/sys/net/ipv6/conf/tailscale0/disable_ipv6'])).stdout.trim(), '0');

  const undo = await s.netmend(['fix', 'undo', '--root', s.root]);
  assert.equal(undo.code, 0, undo.stdout + undo.stderr);
  assert.equal(existsSync(script), false);
  assert.equal(readFileSync(join(s.root, 'etc/sysupgrade.conf'), 'utf8'), '## This file contains files and directories that should\n/etc/dropbear\n');
});

test('over a real ssh session through the mesh: refused when it would cut the session; with --force the unconfirmed change rolls back and the session survives', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  // The admin's machine sits behind the mesh: a peer reached through a mesh-named link, whose
  // address 10.10.0.9 is inside our LAN prefix (the subnet router's view of an overlapping LAN).
  const peer = await s.lab.netns('fm');
  const meshIf = uniqueName('tailscale');
  const peerIf = uniqueName('fxp');
  await s.lab.veth(s.host, meshIf, peer, peerIf);
  await s.lab.ip(peer, 'addr', 'add', '10.10.0.9/32', 'dev', peerIf);
  await s.lab.ip(peer, 'route', 'add', '100.100.1.2/32', 'dev', peerIf);
  await s.lab.ip(s.host, 'route', 'add', '10.10.0.9/32', 'dev', meshIf, 'table', '52');
  const sshd = await startSshd(s.lab, s.host, { address: '100.100.1.2' });
  const overSsh = (args: string[], timeoutMs = 60_000) => s.lab.exec(peer, 'ssh', ['-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=0', ...sshd.sshOptions, '-b', '10.10.0.9', sshd.target, '--',
    [process.execPath, netmendBin, ...args].join(' ')], { timeoutMs });
  const rulesBefore = await rules(s);
  const filesBefore = tree(s.root);

  const refused = await overSsh(['fix', 'subnet-routes', '--root', s.root, '--apply']);
  assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}\n${sshd.log()}`);
  assert.match(refused.stdout, /SSH client 10\.10\.0\.9 \(SSH_CONNECTION\), reply from 100\.100\.1\.2/);
  assert.match(refused.stdout, new RegExp(`now: +unicast dev ${meshIf} table 52`));
  assert.match(refused.stderr, /refusing: the change would move the route to your SSH client/);
  assert.equal(await rules(s), rulesBefore);
  assert.deepEqual(tree(s.root), filesBefore);

  // --force: the replies to the session now leave through the LAN and are lost until the
  // watchdog, not confirmed, puts everything back; TCP then retransmits and the session ends normally.
  const forced = await overSsh(['fix', 'subnet-routes', '--root', s.root, '--apply', '--force', '--confirm-timeout', '2'], 90_000);
  assert.equal(forced.code, 0, `${forced.stdout}\n${forced.stderr}`);
  assert.match(forced.stdout, /rolls back in 2 s unless you run `netmend fix confirm/);
  await s.lab.waitFor(async () => (await rules(s)) === rulesBefore, 15_000, 'the rollback');
  assert.deepEqual(withoutJournal(tree(s.root)), filesBefore);
  const after = await overSsh(['fix', 'list', '--root', s.root]);
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, /rolled-back \(not confirmed in time\)/);
});
