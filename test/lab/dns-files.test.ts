/**
 * `fix dns` for the resolvers that need no daemon here: systemd-resolved (networkd drop-in or
 * resolved.conf.d) and OpenWrt (/etc/config/dhcp). The files are checked line by line against
 * the documented keys; apply and undo run for real under --root, in a namespace of their own.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { write, tree } from './dns-fixtures.js';
import { Lab, labUnavailable } from './harness.js';

const skip = labUnavailable();

test('resolved with networkd: a drop-in on the tunnel\'s .network (DNS=, Domains=~ts.net), undo removes exactly that', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('dnf');
  const root = lab.tmpdir();
  mkdirSync(join(root, 'etc'), { recursive: true });
  symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
  write(root, 'etc/systemd/network/20-lan.network', '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n');
  // The link-local fix's file for the tunnel: the DNS settings must join it, not shadow it.
  const linkLocal = '[Match]\nName=tailscale0\n\n[Network]\nKeepConfiguration=yes\nLinkLocalAddressing=no\n';
  write(root, 'etc/systemd/network/10-netmend-tailscale0.network', linkLocal);
  const before = tree(root);

  const applied = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--domain', 'ts.net', '--domain', 'corp.example', '--apply']);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(applied.stdout, /^fix dns \(resolved\)/, 'auto: resolv.conf is the resolved stub');
  assert.equal(readFileSync(join(root, 'etc/systemd/network/10-netmend-tailscale0.network'), 'utf8'), linkLocal);
  const dropIn = readFileSync(join(root, 'etc/systemd/network/10-netmend-tailscale0.network.d/50-netmend-dns.conf'), 'utf8');
  assert.deepEqual(dropIn.split('\n').filter((line) => line && !line.startsWith('#')), ['[Network]', 'DNS=100.100.100.100', 'Domains=~ts.net ~corp.example', 'DNSDefaultRoute=no']);
  assert.doesNotMatch(applied.stdout, /not the stub symlink/);

  const undo = await lab.netmend(ns, ['fix', 'undo', '--root', root]);
  assert.equal(undo.code, 0, undo.stdout + undo.stderr);
  assert.deepEqual(tree(root), before);
});

test('resolved with networkd but no .network for the tunnel: a base file plus the drop-in', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('dng');
  const root = lab.tmpdir();
  write(root, 'etc/systemd/network/20-lan.network', '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n');
  write(root, 'etc/resolv.conf', 'nameserver 192.168.1.1\n');
  const plan = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--via', 'resolved', '--iface', 'ts-mesh']);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /10-netmend-ts-mesh\.network: networkd/);
  assert.match(plan.stdout, /\+Name=ts-mesh/);
  assert.match(plan.stdout, /\+Domains=~ts\.net/);
  assert.match(plan.stdout, /warning: .*resolv\.conf is not the stub symlink/);
});

test('resolved without networkd: a resolved.conf.d drop-in with [Resolve] DNS= and Domains=', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('dnh');
  const root = lab.tmpdir();
  write(root, 'etc/systemd/resolved.conf', '[Resolve]\n');
  write(root, 'etc/resolv.conf', '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n');
  const before = tree(root);
  const applied = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--apply']);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(applied.stdout, /^fix dns \(resolved\)/);
  const dropIn = readFileSync(join(root, 'etc/systemd/resolved.conf.d/netmend-mesh-dns.conf'), 'utf8');
  assert.deepEqual(dropIn.split('\n').filter((line) => line && !line.startsWith('#')), ['[Resolve]', 'DNS=100.100.100.100', 'Domains=~ts.net']);
  const again = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--apply']);
  assert.match(again.stdout, /nothing to do/);
  assert.equal((await lab.netmend(ns, ['fix', 'undo', '--root', root])).code, 0);
  assert.deepEqual(tree(root), before);
});

test('OpenWrt: list server and list rebind_domain in /etc/config/dhcp; other lines untouched; undo byte for byte', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('dno');
  const root = lab.tmpdir();
  write(root, 'etc/openwrt_release', "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.5'\nDISTRIB_ARCH='mipsel_24kc'\n");
  const dhcp = "\nconfig dnsmasq\n\toption domainneeded '1'\n\toption rebind_protection '1'\n\toption local '/lan/'\n\toption domain 'lan'\n\toption resolvfile '/tmp/resolv.conf.d/resolv.conf.auto'\n\nconfig dhcp 'lan'\n\toption interface 'lan'\n\toption start '100'\n\toption limit '150'\n";
  write(root, 'etc/config/dhcp', dhcp);
  write(root, 'etc/resolv.conf', 'search lan\nnameserver 127.0.0.1\nnameserver ::1\n');

  const doctorBefore = await lab.netmend(ns, ['doctor', 'dns', '--json', '--root', root, '--timeout', '300', '--check', 'dns.rebind-protection']);
  const rebind = JSON.parse(doctorBefore.stdout).checks[0];
  assert.equal(rebind.status, 'fail');
  assert.match(rebind.evidence[0], /rebind_protection is on \(the default\) and no list rebind_domain 'ts\.net'/);

  const before = tree(root);
  const applied = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--apply']);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(applied.stdout, /^fix dns \(openwrt\)/);
  const after = readFileSync(join(root, 'etc/config/dhcp'), 'utf8');
  assert.equal(after, dhcp.replace("resolv.conf.auto'\n", "resolv.conf.auto'\n\tlist server '/ts.net/100.100.100.100'\n\tlist rebind_domain 'ts.net'\n"));

  const doctorAfter = await lab.netmend(ns, ['doctor', 'dns', '--json', '--root', root, '--timeout', '300', '--check', 'dns.rebind-protection']);
  assert.equal(JSON.parse(doctorAfter.stdout).checks[0].status, 'pass');

  assert.equal((await lab.netmend(ns, ['fix', 'undo', '--root', root])).code, 0);
  assert.deepEqual(tree(root), before);
});

test('--restore-resolv-conf without a backup or journalled copy is refused, exit 2, nothing written', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('dnq');
  const root = lab.tmpdir();
  write(root, 'etc/resolv.conf', '# resolv.conf(5) file generated by tailscale\nnameserver 100.100.100.100\n');
  write(root, 'etc/dnsmasq.conf', 'no-resolv\n');
  const before = tree(root);
  const result = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--via', 'dnsmasq', '--restore-resolv-conf', '--apply']);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /written by the mesh daemon and there is no backup/);
  assert.deepEqual(tree(root), before);
  const badFlag = await lab.netmend(ns, ['fix', 'dns', '--root', root, '--server', 'quad-100']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--server: 'quad-100' is not an IP address/);
});
