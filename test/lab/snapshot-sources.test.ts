/**
 * The three state sources agree: one rich namespace (veth LAN with IPv4 and IPv6, a TUN held
 * open, tailscaled's rules, routes in tables 52/100/1000 of every type, multipath, rules with
 * every selector) read by the real `netmend snapshot --source netlink|ip-json|ip-text`, by
 * busybox `ip`, and over a real ssh login, compared after sorting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Address, Link, Route, Rule, Snapshot } from '../../src/snapshot/types.js';
import { Lab, labUnavailable, netmendBin, uniqueName } from './harness.js';
import { startSshd } from './sshd.js';

interface Scene {
  lab: Lab;
  ns: string;
  lan: string;
  tun: string;
}

async function buildScene(lab: Lab): Promise<Scene> {
  const ns = await lab.netns('snap');
  const peer = await lab.netns('lan');
  const lan = uniqueName('vh');
  const tun = uniqueName('ts');
  await lab.veth(ns, lan, peer, uniqueName('vl'));
  await lab.ip(ns, 'addr', 'add', '10.10.0.4/24', 'dev', lan);
  await lab.ip(ns, 'addr', 'add', '10.20.0.1', 'peer', '10.20.0.2/32', 'dev', lan);
  await lab.ip(ns, '-6', 'addr', 'add', 'fd00:10::4/64', 'dev', lan, 'nodad');
  await lab.tun(ns, tun, { addresses: ['100.100.1.2/32'] });
  await lab.ip(ns, '-6', 'addr', 'add', 'fd7a:115c:a1e0::2/128', 'dev', tun, 'nodad');
  await lab.tailscaleRules(ns);
  const routes = [
    // tailscaled's table 52, with a subnet route that shadows the LAN and a throw
    `route add 100.64.0.5 dev ${tun} table 52`,
    `route add 10.10.0.0/24 dev ${tun} table 52`,
    'route add throw 192.168.0.0/16 table 52',
    `route add 0.0.0.0/0 dev ${tun} table 52`,
    // table 100: a gateway route, unreachable, multipath, a metric
    `route add 10.50.0.0/16 via 10.10.0.1 dev ${lan} table 100 metric 7 proto static`,
    'route add unreachable 10.60.0.0/16 table 100',
    `route add 10.70.0.0/16 table 100 nexthop via 10.10.0.2 dev ${lan} weight 3 nexthop via 10.10.0.3 dev ${lan} weight 1`,
    `route add 10.71.0.0/16 via 10.10.0.9 dev ${lan} onlink table 100`,
    // Runs of alike routes, each broken by one field (the JSON writer copies repeated byte runs).
    ...[0, 1, 2, 3].map((i) => `route add 10.80.${i}.0/24 via 10.10.0.1 dev ${lan} table 100`),
    `route add 10.80.4.0/24 via 10.10.0.2 dev ${lan} table 100`,
    `route add 10.80.5.0/24 via 10.10.0.2 dev ${lan} table 100 metric 5`,
    `route add 10.80.6.0/24 via 10.10.0.2 dev ${lan} table 100 metric 5 proto static`,
    `route add 10.80.7.0/24 via 10.10.0.2 dev ${lan} table 100 metric 5 proto static onlink`,
    `route add 10.80.8.0/24 via 10.20.0.2 dev ${lan} table 100 metric 5 proto static`,
    `route add 10.80.9.0/24 via 10.20.0.2 dev ${lan} table 1000 metric 5 proto static`,
    `route add 10.80.10.0/24 via 10.20.0.2 dev ${lan} table 1000 metric 5 proto static`,
    ...[11, 12].map((i) => `route add 10.80.${i}.0/24 via 10.20.0.2 dev ${tun} onlink table 1000 metric 5 proto static`),
    `route add 10.80.13.0/24 via 10.20.0.2 dev ${tun} onlink table 1000 metric 5 proto static src 10.10.0.4`,
    ...[0, 1, 2].map((i) => `-6 route add fd80:${i}::/64 via fd00:10::1 dev ${lan} table 100`),
    `-6 route add fd80:3::/64 via fd00:10::1 dev ${lan} table 100 pref low`,
    // table 1000: the other reject types
    'route add blackhole 10.61.0.0/16 table 1000',
    'route add prohibit 10.62.0.0/16 table 1000',
    `route add default via 10.10.0.1 dev ${lan} proto dhcp src 10.10.0.4 metric 100`,
    // IPv6: tailnet ULA in 52, reject routes, a source route, multipath, preference
    `-6 route add fd7a:115c:a1e0::/48 dev ${tun} table 52 metric 1024`,
    '-6 route add unreachable fd99::/64 table 100',
    '-6 route add prohibit fd98::/64 table 1000',
    '-6 route add blackhole fd97::/64 table 1000',
    '-6 route add throw fd96::/64 table 52',
    `-6 route add fd51::/48 from fd00:10::/64 via fd00:10::1 dev ${lan}`,
    `-6 route add fd60::/48 table 100 nexthop via fd00:10::2 dev ${lan} weight 1 nexthop via fd00:10::3 dev ${lan} weight 2`,
    `-6 route add default via fe80::1 dev ${lan} pref high metric 1024`,
  ];
  const rules = [
    `rule add pref 100 from 10.10.0.0/24 to 10.50.0.0/16 iif ${lan} lookup 100`,
    `rule add pref 101 not fwmark 0x10/0xff oif ${lan} goto 200`,
    'rule add pref 150 to 10.60.0.0/16 lookup 100',
    'rule add pref 200 lookup main suppress_prefixlength 0',
    'rule add pref 201 fwmark 0x80000 lookup 1000',
    'rule add pref 202 ipproto tcp dport 80-90 sport 1000 uidrange 100-200 tos 0x10 prohibit',
    'rule add pref 5205 to 10.10.0.0/24 lookup main',
    'rule add pref 5205 from 10.99.0.0/16 blackhole',
    '-6 rule add pref 300 from fd00::/8 lookup 1000 protocol static',
    '-6 rule add pref 301 not to fd99::/64 lookup 100',
  ];
  // `ip -batch` takes no -6: routes infer the family from their addresses, IPv6 rules do not.
  await lab.batch(ns, [...routes, ...rules].filter((line) => !line.startsWith('-6 rule')).map((line) => line.replace(/^-6 /, '')));
  for (const line of rules.filter((l) => l.startsWith('-6 rule'))) await lab.ip(ns, ...line.split(' '));
  await lab.ip(ns, '-6', 'rule', 'add', 'pref', '302', 'lookup', 'main', 'suppress_prefixlength', '0');
  await lab.waitForLinkLocalRoute(ns, tun);
  // Reads are seconds apart: wait until DAD is over so no address is still "tentative".
  await lab.waitFor(async () => !(await lab.ip(ns, '-6', 'addr')).includes('tentative'), 10_000, 'IPv6 DAD to finish');
  return { lab, ns, lan, tun };
}

async function snapshot(scene: Scene, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Snapshot> {
  const result = await scene.lab.netmend(scene.ns, ['snapshot', ...args], { env });
  assert.equal(result.code, 0, `netmend snapshot ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Snapshot;
}

/** Order-independent form: arrays sorted by their JSON, time and source dropped. */
function comparable(snap: Snapshot) {
  const sorted = <T>(list: T[]) => list.map((item) => sortKeys(item)).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return { host: snap.host, links: sorted(snap.links), addresses: sorted(snap.addresses), routes: sorted(snap.routes), rules: snap.rules.map(sortKeys), sysctls: snap.sysctls };
}

function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortKeys) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])])) as T;
  }
  return value;
}

function assertSameSnapshot(actual: Snapshot, expected: Snapshot, label: string): void {
  const a = comparable(actual);
  const e = comparable(expected);
  for (const key of Object.keys(e) as Array<keyof typeof e>) assert.deepEqual(a[key], e[key], `${label}: ${key} differ`);
}

test('netlink, ip -json and ip text read the same snapshot of a rich namespace', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const scene = await buildScene(Lab.forTest(t));
  // tailscaled (v1.98+) sets this so that strict rp_filter sees the marks its connmark rules restore.
  await scene.lab.exec(scene.ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.src_valid_mark=1']);
  const netlink = await snapshot(scene, ['--source', 'netlink']);
  const ipJson = await snapshot(scene, ['--source', 'ip-json']);
  const ipText = await snapshot(scene, ['--source', 'ip-text']);
  assert.equal(netlink.source, 'netlink');
  assert.equal(ipJson.source, 'ip-json');
  assert.equal(ipText.source, 'ip-text');

  // The scene really is rich: a sanity check on the netlink snapshot itself.
  const types = new Set(netlink.routes.map((r) => r.type));
  for (const type of ['unicast', 'local', 'broadcast', 'multicast', 'unreachable', 'blackhole', 'prohibit', 'throw']) assert.ok(types.has(type as Route['type']), `route type ${type} present`);
  assert.deepEqual([...new Set(netlink.routes.map((r) => r.table))].sort((a, b) => a - b), [52, 100, 254, 255, 1000]);
  const tunLink = netlink.links.find((l) => l.name === scene.tun)!;
  assert.equal(tunLink.kind, 'tun');
  assert.equal(tunLink.address, null);
  assert.equal(netlink.links.find((l) => l.name === scene.lan)!.kind, 'veth');
  assert.equal(netlink.links.find((l) => l.name === 'lo')!.kind, 'loopback');
  const multipath = netlink.routes.find((r) => r.dst === '10.70.0.0/16')!;
  assert.deepEqual(multipath.nexthops?.map((h) => [h.gateway, h.weight]), [['10.10.0.2', 3], ['10.10.0.3', 1]]);
  assert.equal(netlink.routes.find((r) => r.dst === 'fd99::/64')!.error, -113);
  assert.deepEqual(netlink.routes.find((r) => r.dst === 'fd51::/48')!.src, 'fd00:10::/64');
  assert.equal(netlink.routes.find((r) => r.dst === '::/0' && r.table === 254)!.pref, 'high');
  const peerAddress = netlink.addresses.find((a) => a.local === '10.20.0.1')!;
  assert.equal(peerAddress.peer, '10.20.0.2');
  // Rules keep the kernel's order, equal priorities in insertion order.
  const rule5205 = netlink.rules.filter((r) => r.family === 4 && r.priority === 5205);
  assert.deepEqual(rule5205.map((r) => r.action), ['lookup', 'blackhole']);
  const tailscale = netlink.rules.filter((r) => r.priority >= 5210 && r.priority <= 5270 && r.family === 4);
  assert.deepEqual(tailscale.map((r) => [r.priority, r.fwmark, r.fwmask, r.action, r.table]), [
    [5210, 0x80000, 0xff0000, 'lookup', 254], [5230, 0x80000, 0xff0000, 'lookup', 253], [5250, 0x80000, 0xff0000, 'unreachable', undefined], [5270, undefined, undefined, 'lookup', 52],
  ]);
  const goto = netlink.rules.find((r) => r.priority === 101)!;
  assert.deepEqual([goto.not, goto.action, goto.gotoPriority, goto.oif], [true, 'goto', 200, scene.lan]);
  assert.equal(netlink.rules.find((r) => r.priority === 201)!.fwmask, 0xffffffff);
  assert.deepEqual(netlink.rules.find((r) => r.priority === 202)!.dport, [80, 90]);
  assert.equal(netlink.rules.find((r) => r.priority === 200)!.suppressPrefixlen, 0);
  assert.equal(netlink.rules.find((r) => r.priority === 32766)!.suppressPrefixlen, undefined);
  assert.equal(netlink.sysctls.interfaces[scene.tun]?.disableIpv6, 0);
  assert.equal(netlink.sysctls.interfaces.all?.srcValidMark, 1);
  assert.equal(netlink.sysctls.interfaces[scene.lan]?.srcValidMark, 0);

  // Without --source the live kernel is read over netlink, and gives the same snapshot.
  const auto = await snapshot(scene, []);
  assert.equal(auto.source, 'netlink');
  assertSameSnapshot(auto, netlink, 'auto vs netlink');

  assertSameSnapshot(ipJson, netlink, 'ip-json vs netlink');
  assertSameSnapshot(ipText, netlink, 'ip-text vs netlink');
});

test('netlink routes decoded into objects equal the routes streamed from wire form', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const scene = await buildScene(Lab.forTest(t));
  const streamed = await snapshot(scene, ['--source', 'netlink']);
  // In-process reader, as route explain and the doctor use it: reading .routes decodes objects.
  const reader = new URL('../../src/snapshot/from-netlink.js', import.meta.url).href;
  const script = `const { readNetlinkSnapshot } = await import(${JSON.stringify(reader)}); const s = await readNetlinkSnapshot(); process.stdout.write(JSON.stringify(s.routes));`;
  const result = await scene.lab.exec(scene.ns, process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(result.code, 0, result.stderr);
  const decoded = JSON.parse(result.stdout) as Route[];
  assert.ok(decoded.length > 30);
  assert.deepEqual(decoded, streamed.routes);
});

/** What busybox `ip` cannot print (see from-ip-text.ts), removed from both sides before comparing. */
function withoutBusyboxBlindSpots(snap: Snapshot): Snapshot {
  const busyboxAddressFlags = new Set(['secondary', 'temporary', 'tentative', 'deprecated', 'dynamic']);
  return {
    ...snap,
    links: snap.links.map(({ kind: _kind, operstate: _operstate, ...link }) => link as Link),
    addresses: snap.addresses.map((a) => ({ ...a, flags: a.flags.filter((f) => busyboxAddressFlags.has(f)) }) as Address),
    routes: snap.routes.map(({ protocol: _protocol, pref: _pref, nexthops: _nexthops, ...route }) => route as Route),
    rules: snap.rules.map(({ not: _not, oif: _oif, gotoPriority: _goto, uidrange: _uid, ipproto: _proto, sport: _sport, dport: _dport, protocol: _protocol, ...rule }) => rule as Rule),
  };
}

test('busybox ip text yields the same links, addresses, routes and rules, minus what busybox cannot print', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const scene = await buildScene(Lab.forTest(t));
  // tailscaled (v1.98+) sets this so that strict rp_filter sees the marks its connmark rules restore.
  await scene.lab.exec(scene.ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.src_valid_mark=1']);
  const netlink = await snapshot(scene, ['--source', 'netlink']);
  const busybox = await snapshot(scene, ['--source', 'ip-text'], { NETMEND_IP: 'busybox ip' });
  // busybox really is blind there: protocol unknown, no nexthops, no `not`
  assert.ok(busybox.routes.every((r) => r.protocol === 'unknown'));
  assert.equal(busybox.routes.find((r) => r.dst === '10.70.0.0/16')!.nexthops, undefined);
  assert.equal(busybox.rules.find((r) => r.priority === 101)!.action, 'goto');
  assertSameSnapshot(withoutBusyboxBlindSpots(busybox), withoutBusyboxBlindSpots(netlink), 'busybox vs netlink');
});

test('--ssh reads the same snapshot over one real ssh login; an unreachable host is a one-line error, exit 2', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const scene = await buildScene(lab);
  const sshd = await startSshd(lab, scene.ns);
  const netlink = await snapshot(scene, ['--source', 'netlink']);
  const overSsh = await snapshot(scene, ['--ssh', sshd.target], { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv });
  assert.equal(overSsh.source, 'ip-text');
  assertSameSnapshot(overSsh, netlink, 'ssh ip-text vs netlink');
  const logins = sshd.log().match(/Accepted publickey/g) ?? [];
  assert.equal(logins.length, 1, `one ssh round trip, sshd saw ${logins.length}:\n${sshd.log()}`);

  // Nothing listens on port 1 in the namespace.
  const options = sshd.sshOptionsEnv.replace(/-p \d+/, '-p 1');
  const unreachable = await lab.netmend(scene.ns, ['snapshot', '--ssh', sshd.target], { env: { NETMEND_SSH_OPTIONS: options } });
  assert.equal(unreachable.code, 2, unreachable.stderr);
  assert.equal(unreachable.stderr.trim().split('\n').length, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /cannot reach root@127\.0\.0\.1 over ssh/);
});

test('netmend snapshot | head: a reader that stops early ends the snapshot quietly, exit 0', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { host: ns } = await lab.linkedPair({ label: 'pipe', ifPrefix: 'vp', addresses: ['10.255.0.1/16'] }, { label: 'pipep', ifPrefix: 'vq' });
  // ~1 MB of JSON: far more than a pipe holds, so the writer meets the closed pipe.
  await lab.batch(ns, Array.from({ length: 6000 }, (_, i) => `route add 20.${i >> 8}.${i & 255}.0/24 via 10.255.0.2`));
  const command = `set -o pipefail; ${process.execPath} ${JSON.stringify(netmendBin)} snapshot | head -c 100 >/dev/null`;
  const result = await lab.exec(ns, 'bash', ['-c', command]);
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
});
