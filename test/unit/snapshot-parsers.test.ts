/**
 * The `ip` text and JSON parsers on captured output: iproute2 6.1 and busybox 1.35 from a lab
 * namespace, the rule variants tailscaled meets in the wild (busybox < 1.33 without a mask,
 * mwan3's 13xx priorities, UBNT's `!`), and the one-line errors for output that does not parse.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { readIpJsonSnapshot, routesFromJson, rulesFromJson } from '../../src/snapshot/from-ip-json.js';
import {
  detectFlavour, parseIpAddrText, parseLinkKinds, parseRouteText, parseRtTables, parseRuleText, snapshotFromIpText, splitSections,
} from '../../src/snapshot/from-ip-text.js';
import { parseSysctlLines } from '../../src/snapshot/sysctls.js';
import { formatIpv6 } from '../../src/netlink/addresses.js';
import type { CommandRunner, RunResult } from '../../src/system/exec.js';

const IPROUTE2_ADDR = `1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host 
       valid_lft forever preferred_lft forever
2: h3vb@h3va: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether c2:49:47:bb:23:0a brd ff:ff:ff:ff:ff:ff
    inet 10.20.0.1 peer 10.20.0.2/32 scope global h3vb
       valid_lft forever preferred_lft forever
    inet 192.168.1.5/24 brd 192.168.1.255 scope global secondary dynamic noprefixroute h3vb:1
       valid_lft 86000sec preferred_lft 86000sec
    inet6 fd00:1::4/64 scope global tentative nodad 
       valid_lft forever preferred_lft forever
4: tailscale0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1280 qdisc fq_codel state UNKNOWN group default qlen 500
    link/none 
    inet 100.100.1.2/32 scope global tailscale0
       valid_lft forever preferred_lft forever
5: br-lan: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue master vrf1 state DOWN group default qlen 1000
    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff
`;

test('ip addr text: links with flags, state, master, link type; addresses with peer, scope and flags', () => {
  const { links, addresses } = parseIpAddrText(IPROUTE2_ADDR);
  assert.deepEqual(links.map((l) => [l.index, l.name, l.kind, l.mtu, l.operstate, l.address]), [
    [1, 'lo', 'loopback', 65536, 'UNKNOWN', '00:00:00:00:00:00'],
    [2, 'h3vb', 'ether', 1500, 'UP', 'c2:49:47:bb:23:0a'],
    [4, 'tailscale0', 'none', 1280, 'UNKNOWN', null],
    [5, 'br-lan', 'ether', 1500, 'DOWN', '02:00:00:00:00:01'],
  ]);
  assert.deepEqual(links[3].flags, ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP']);
  assert.equal(links[3].master, 'vrf1');
  const peer = addresses.find((a) => a.local === '10.20.0.1')!;
  assert.deepEqual([peer.peer, peer.prefixlen, peer.scope], ['10.20.0.2', 32, 'global']);
  const secondary = addresses.find((a) => a.local === '192.168.1.5')!;
  assert.deepEqual(secondary.flags, ['secondary', 'dynamic', 'noprefixroute']);
  assert.deepEqual(addresses.find((a) => a.local === 'fd00:1::4')!.flags, ['nodad', 'tentative']);
  assert.deepEqual(addresses.find((a) => a.local === '::1')!.scope, 'host');
});

test('ip -d link text: the kind is the first word after link/TYPE, slave kinds and altnames are not', () => {
  const kinds = parseLinkKinds(`1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0  allmulti 0 minmtu 0 maxmtu 0 addrgenmode eui64 numtxqueues 1
3: h3va@h3vb: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000
    link/ether 76:09:ad:2d:f2:52 brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 
    veth addrgenmode eui64 numtxqueues 2 numrxqueues 2 gso_max_size 65536 gso_max_segs 65535
4: tailscale0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1280 qdisc fq_codel state UNKNOWN mode DEFAULT group default qlen 500
    link/none  promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 
    tun type tun pi off vnet_hdr off persist off addrgenmode random numtxqueues 1
6: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq master br0 state UP mode DEFAULT group default qlen 1000
    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff promiscuity 1  allmulti 0 minmtu 68 maxmtu 65535 
    bridge_slave state forwarding priority 32 cost 100
    altname enp0s3
`);
  assert.deepEqual(Object.fromEntries(kinds), { h3va: 'veth', tailscale0: 'tun' });
});

test('ip route text: types, tables, multipath, source routes, flags, metrics that are skipped', () => {
  const routes4 = parseRouteText(`throw 10.63.0.0/16 table 52 
10.50.0.0/16 via 10.10.0.1 dev h3va table 100 proto static metric 5 
10.70.0.0/16 table 100 
	nexthop via 10.10.0.2 dev h3va weight 2 
	nexthop via 10.10.0.3 dev h3va weight 1 linkdown
default via 192.168.1.1 dev eth0 proto dhcp src 192.168.1.5 metric 100 mtu lock 1400 onlink
local 10.10.0.4 dev h3va table local proto kernel scope host src 10.10.0.4 
100.64.0.5 dev tailscale0 table vpn 
`, 4, undefined, { tables: parseRtTables('# comment\n255\tlocal\n52 vpn\n') });
  assert.deepEqual(routes4.map((r) => [r.type, r.dst, r.table, r.protocol, r.metric]), [
    ['throw', '10.63.0.0/16', 52, 'boot', 0],
    ['unicast', '10.50.0.0/16', 100, 'static', 5],
    ['unicast', '10.70.0.0/16', 100, 'boot', 0],
    ['unicast', '0.0.0.0/0', 254, 'dhcp', 100],
    ['local', '10.10.0.4/32', 255, 'kernel', 0],
    ['unicast', '100.64.0.5/32', 52, 'boot', 0],
  ]);
  assert.deepEqual(routes4[2].nexthops, [
    { gateway: '10.10.0.2', dev: 'h3va', weight: 2, flags: [] },
    { gateway: '10.10.0.3', dev: 'h3va', weight: 1, flags: ['linkdown'] },
  ]);
  assert.deepEqual([routes4[3].gateway, routes4[3].prefsrc, routes4[3].flags], ['192.168.1.1', '192.168.1.5', ['onlink']]);
  assert.equal(routes4[4].scope, 'host');

  const routes6 = parseRouteText(`unreachable fd99::/64 dev lo table 100 metric 1024 pref medium
fd51::/48 from fd00:1::/64 via fd00:1::1 dev h3va metric 1024 pref medium
default via inet6 fe80::1 dev eth0 proto ra metric 1024 expires 1790sec hoplimit 64 pref high
`, 6);
  assert.deepEqual(routes6.map((r) => [r.type, r.dst, r.src, r.gateway, r.pref, r.error]), [
    ['unreachable', 'fd99::/64', undefined, undefined, 'medium', -113],
    ['unicast', 'fd51::/48', 'fd00:1::/64', 'fd00:1::1', 'medium', undefined],
    ['unicast', '::/0', undefined, 'fe80::1', 'high', undefined],
  ]);
});

test('ip rule text: every selector, goto, not, suppress_prefixlength, actions without a table', () => {
  const rules = parseRuleText(`0:	from all lookup local
100:	from 10.10.0.0/24 to 10.50.0.0/16 iif lo lookup 100
101:	not from all fwmark 0x10/0xff oif h3va goto 200
200:	from all lookup main suppress_prefixlength 0
202:	from all tos 0x10 uidrange 100-200 ipproto tcp sport 1000 dport 80-90 prohibit
5250:	from all fwmark 0x80000/0xff0000 unreachable
5300:	from 10.0.0.5 lookup 1000 proto static
32767:	from all lookup default
`, 4);
  assert.deepEqual(rules.map((r) => [r.priority, r.action, r.table]), [
    [0, 'lookup', 255], [100, 'lookup', 100], [101, 'goto', undefined], [200, 'lookup', 254], [202, 'prohibit', undefined],
    [5250, 'unreachable', undefined], [5300, 'lookup', 1000], [32767, 'lookup', 253],
  ]);
  assert.deepEqual([rules[1].from, rules[1].to, rules[1].iif], ['10.10.0.0/24', '10.50.0.0/16', 'lo']);
  assert.deepEqual([rules[2].not, rules[2].fwmark, rules[2].fwmask, rules[2].oif, rules[2].gotoPriority], [true, 0x10, 0xff, 'h3va', 200]);
  assert.equal(rules[3].suppressPrefixlen, 0);
  assert.deepEqual([rules[4].tos, rules[4].uidrange, rules[4].ipproto, rules[4].sport, rules[4].dport], [0x10, [100, 200], 6, [1000, 1000], [80, 90]]);
  assert.deepEqual([rules[6].from, rules[6].protocol], ['10.0.0.5/32', 'static']);
});

test('tailscale rule variants: busybox < 1.33 without a mask, mwan3 13xx, UBNT "!"', () => {
  const busyboxOld = parseRuleText(`5210:	from all fwmark 0x80000 lookup main 
5230:	from all fwmark 0x80000 lookup default 
5250:	from all fwmark 0x80000 lookup unspec unreachable
5270:	from all lookup 52 
`, 4, 'busybox ip -4 rule show', { flavour: 'busybox' });
  assert.deepEqual(busyboxOld.map((r) => [r.priority, r.fwmark, r.fwmask, r.action, r.table]), [
    // without a mask `ip` means the whole mark; that is what busybox < 1.33 shows, the real mask is lost
    [5210, 0x80000, 0xffffffff, 'lookup', 254], [5230, 0x80000, 0xffffffff, 'lookup', 253], [5250, 0x80000, 0xffffffff, 'unreachable', undefined], [5270, undefined, undefined, 'lookup', 52],
  ]);
  const mwan3 = parseRuleText(`1001:	from all iif eth1 lookup 1
2001:	from all fwmark 0x100/0x3f00 lookup 1
1310:	from all fwmark 0x80000/0xff0000 lookup main
1370:	from all lookup 52
`, 4);
  assert.deepEqual(mwan3.map((r) => [r.priority, r.fwmask, r.table]), [[1001, undefined, 1], [2001, 0x3f00, 1], [1310, 0xff0000, 254], [1370, undefined, 52]]);
  const ubnt = parseRuleText('5270:	from all ! fwmark 0x80000/0xff0000 lookup 52\n', 4);
  assert.deepEqual([ubnt[0].not, ubnt[0].fwmark, ubnt[0].fwmask, ubnt[0].table], [true, 0x80000, 0xff0000, 52]);
  // busybox prints goto and nop through its route-type names
  const busyboxActions = parseRuleText('101:	from all fwmark 0x10/0xff lookup unspec local\n102:	from all lookup unspec broadcast\n202:	from all tos 16 lookup unspec prohibit\n', 4, 'busybox ip -4 rule show', { flavour: 'busybox' });
  assert.deepEqual(busyboxActions.map((r) => [r.action, r.tos]), [['goto', undefined], ['nop', undefined], ['prohibit', 16]]);
});

test('busybox route text: no proto, double spaces, multipath without nexthops', () => {
  const routes = parseRouteText(`10.50.0.0/16 via 10.10.0.1 dev h3va table 100  metric 5 
10.10.0.0/24 dev h3va scope link  src 10.10.0.4 
10.70.0.0/16 table 100 
`, 4, 'busybox ip -4 route show table all', { flavour: 'busybox' });
  assert.deepEqual(routes.map((r) => [r.dst, r.table, r.metric, r.protocol, r.scope, r.prefsrc]), [
    ['10.50.0.0/16', 100, 5, 'unknown', 'global', undefined],
    ['10.10.0.0/24', 254, 0, 'unknown', 'link', '10.10.0.4'],
    ['10.70.0.0/16', 100, 0, 'unknown', 'global', undefined],
  ]);
});

test('unparseable ip text is an InputError naming the command and the line', () => {
  assert.throws(() => parseRouteText('10.0.0.0/8 dev eth0 frobnicate 3\n', 4), (error: unknown) => {
    assert.ok(error instanceof InputError);
    assert.match(error.message, /`ip -4 route show table all`.*frobnicate.*10\.0\.0\.0\/8 dev eth0 frobnicate 3/);
    return true;
  });
  assert.throws(() => parseRuleText('garbage without priority\n', 4), /`ip -4 rule show` \(no priority\): garbage without priority/);
  assert.throws(() => parseRuleText('100:	from all lookup nosuchtable\n', 4), /unknown table 'nosuchtable'/);
  assert.throws(() => parseRouteText('fd00::/8 dev eth0\n', 4), /not an IPv4 destination/);
  assert.throws(() => parseIpAddrText('    inet 10.0.0.1/8 scope global eth0\n'), /no interface line before it/);
});

test('the collection script output: sections, busybox detection, a failed required command is exit 3', () => {
  const output = [
    '@@netmend:version', 'BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.',
    '@@netmend:addr', '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000', '    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00', '@@netmend:status 0',
    '@@netmend:route4', 'local 127.0.0.1 dev lo table local scope host  src 127.0.0.1 ', '@@netmend:status 0',
    '@@netmend:route6', '@@netmend:status 1',
    '@@netmend:rule4', '0:	from all lookup local ', '@@netmend:status 0',
    '@@netmend:rule6', '@@netmend:status 0',
    '@@netmend:sysctl', 'net/ipv4/ip_forward:1', 'net/ipv4/conf/all/rp_filter:2', 'net/ipv6/conf/all/forwarding:0',
    '@@netmend:hostname', 'OpenWrt',
    '@@netmend:end', '',
  ].join('\n');
  assert.equal(detectFlavour(splitSections(output).get('version')!.text), 'busybox');
  assert.equal(detectFlavour('ip utility, iproute2-6.1.0, libbpf 1.1.2'), 'iproute2');
  const snap = snapshotFromIpText(output, 'ssh root@router');
  assert.equal(snap.host, 'OpenWrt');
  assert.equal(snap.source, 'ip-text');
  assert.deepEqual(snap.routes.map((r) => [r.dst, r.table, r.protocol]), [['127.0.0.1/32', 255, 'unknown']]);
  assert.deepEqual(snap.sysctls, { ipForward: 1, ipv6Forwarding: 0, interfaces: { all: { rpFilter: 2, forwarding6: 0 } } });
  const failed = output.replace('@@netmend:rule4\n0:\tfrom all lookup local \n@@netmend:status 0', '@@netmend:rule4\n@@netmend:status 255');
  assert.throws(() => snapshotFromIpText(failed, 'ssh root@router'), (error: unknown) => (error as { exitCode?: number }).exitCode === 3 && /ip -4 rule show` failed on ssh root@router/.test(String(error)));
  // What the script printed on stderr is the reason given.
  assert.throws(() => snapshotFromIpText(failed, 'ssh root@router', 'ip', 'ip: RTNETLINK answers: Operation not supported\n'), /ip -4 rule show` failed on ssh root@router with exit code 255: ip: RTNETLINK answers: Operation not supported$/);
});

test('sysctl lines: per interface, all and default; junk ignored', () => {
  const sysctls = parseSysctlLines('net/ipv4/ip_forward:1\nnet/ipv4/conf/eth0/rp_filter:1\nnet/ipv6/conf/eth0/addr_gen_mode:1\nnet/ipv6/conf/default/disable_ipv6:0\ngrep: x: No such file\n');
  assert.deepEqual(sysctls, { ipForward: 1, interfaces: { default: { disableIpv6: 0 }, eth0: { rpFilter: 1, addrGenMode: 1 } } });
});

test('ip -json: numeric tables and types from -N, rules with masks, ranges and goto', () => {
  const routes = routesFromJson([
    { type: '9', dst: '10.63.0.0/16', table: '52', flags: [] },
    { dst: 'default', gateway: '10.10.0.1', dev: 'eth0', protocol: '16', metric: 100, flags: ['onlink'] },
    { type: '7', dst: 'fd99::/64', dev: 'lo', table: '100', metric: 1024, flags: [], pref: 'medium' },
  ] as never, 4);
  assert.deepEqual(routes.slice(0, 2).map((r) => [r.type, r.dst, r.table, r.protocol, r.flags]), [['throw', '10.63.0.0/16', 52, 'boot', []], ['unicast', '0.0.0.0/0', 254, 'dhcp', ['onlink']]]);
  const rules = rulesFromJson([
    { priority: 101, not: null, src: 'all', fwmark: '0x10', fwmask: '0xff', oif: 'h3va', goto: 200 },
    { priority: 202, src: 'all', tos: '0x10', uid_start: 100, uid_end: 200, ipproto: 'ipproto-6', sport: 1000, dport_start: 80, dport_end: 90, action: '8' },
    { priority: 5210, src: 'all', fwmark: '0x80000', table: '254' },
  ] as never, 4);
  assert.deepEqual(rules[0], { family: 4, priority: 101, not: true, action: 'goto', oif: 'h3va', fwmark: 16, fwmask: 255, gotoPriority: 200 });
  assert.deepEqual([rules[1].action, rules[1].ipproto, rules[1].sport, rules[1].dport, rules[1].uidrange, rules[1].tos], ['prohibit', 6, [1000, 1000], [80, 90], [100, 200], 16]);
  assert.deepEqual([rules[2].fwmark, rules[2].fwmask, rules[2].table], [0x80000, 0xffffffff, 254]);
});

test('ip -json output that is not JSON is an InputError naming the command', async () => {
  // A runner standing in for an `ip` too old for -json: it prints the usage text instead.
  const oldIp: CommandRunner = {
    where: 'local',
    async run(file: string, args: readonly string[]): Promise<RunResult> {
      return { command: [file, ...args].join(' '), exitCode: 0, stdout: file === 'ip' ? 'Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n' : '', stderr: '' };
    },
  };
  await assert.rejects(readIpJsonSnapshot(oldIp), (error: unknown) => {
    assert.ok(error instanceof InputError);
    assert.match(error.message, /^`ip .*-json.*` printed output that is not JSON/);
    return true;
  });
});

test('IPv6 text from netlink bytes matches inet_ntop', () => {
  const cases: Array<[string, string]> = [
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['fd7a115ca1e000000000000000000002', 'fd7a:115c:a1e0::2'],
    ['fe800000000000007409adfffe2df252', 'fe80::7409:adff:fe2d:f252'],
    ['00000000000000000000ffff0a000001', '::ffff:10.0.0.1'],
    ['20010db8000000010000000000000000', '2001:db8:0:1::'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
  ];
  for (const [hex, text] of cases) assert.equal(formatIpv6(Buffer.from(hex, 'hex'), 0), text);
});
