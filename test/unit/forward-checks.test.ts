/**
 * The six forward checks as pure functions over small hand-built snapshots of a router (LAN
 * lan0 192.168.50.0/24, WAN wan0, WireGuard wg0 10.9.0.1/24 with 10.77.0.0/24 behind its peer),
 * its firewall given as iptables-legacy-save text (and nft JSON where both backends matter): a
 * broken and a healthy snapshot per check. Also the reply to a packet this host sends, which
 * must come back to the source routing chose.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import cgnatDrop from '../../src/doctor/checks/forward/cgnat-drop.js';
import exitNodeLan from '../../src/doctor/checks/forward/exit-node-lan.js';
import firewallBackends from '../../src/doctor/checks/forward/firewall-backends.js';
import lanToMesh from '../../src/doctor/checks/forward/lan-to-mesh.js';
import meshPort from '../../src/doctor/checks/forward/mesh-port.js';
import meshToLan from '../../src/doctor/checks/forward/mesh-to-lan.js';
import { WIREGUARD_GATHERER, type WireguardFacts } from '../../src/doctor/gather/wireguard.js';
import { TAILSCALE_GATHERER, type TailscaleFacts } from '../../src/doctor/gather/tailscale.js';
import type { Check, CheckOptions, CheckResult, HostState } from '../../src/doctor/types.js';
import { explainPath } from '../../src/path/simulate.js';
import type { Route, Rule, Snapshot } from '../../src/snapshot/types.js';

const options: CheckOptions = { ifaces: [], domains: ['ts.net'], names: [] };

function route(partial: Partial<Route> & Pick<Route, 'dst'>): Route {
  return { family: 4, table: 254, type: 'unicast', metric: 0, protocol: 'boot', scope: 'global', flags: [], ...partial };
}

interface RouterOptions {
  /** iptables-legacy-save text; every table not named has no rules. */
  legacy?: string;
  /** `nft -j list ruleset` items after metainfo. */
  nft?: unknown[];
  wan?: { address: string; gateway: string };
  /** The router's own internet traffic into the tunnel (tailscaled's table 52 and rule 5270). */
  exitNode?: boolean;
  extraRules?: Rule[];
}

function router(o: RouterOptions = {}): Snapshot {
  const wan = o.wan ?? { address: '198.18.0.1', gateway: '198.18.0.2' };
  const wanNet = wan.address.replace(/\.\d+$/, '.0/24');
  const own = [['lan0', '192.168.50.1', '192.168.50.0/24'], ['wan0', wan.address, wanNet], ['wg0', '10.9.0.1', '10.9.0.0/24']] as const;
  const rules: Rule[] = [
    { family: 4, priority: 0, not: false, action: 'lookup', table: 255 },
    ...(o.exitNode ? [
      { family: 4 as const, priority: 5210, not: false, fwmark: 0x80000, fwmask: 0xff0000, action: 'lookup' as const, table: 254 },
      { family: 4 as const, priority: 5270, not: false, action: 'lookup' as const, table: 52 },
    ] : []),
    ...(o.extraRules ?? []),
    { family: 4, priority: 32766, not: false, action: 'lookup', table: 254 },
    { family: 4, priority: 32767, not: false, action: 'lookup', table: 253 },
  ];
  return {
    version: 2, host: 'router', takenAt: '2026-01-01T00:00:00Z', source: 'file',
    links: [
      { index: 1, name: 'lo', kind: 'loopback', flags: ['UP'], mtu: 65536, operstate: 'UNKNOWN', address: null },
      { index: 2, name: 'lan0', kind: 'veth', flags: ['UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:02' },
      { index: 3, name: 'wan0', kind: 'veth', flags: ['UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:03' },
      { index: 4, name: 'wg0', kind: 'wireguard', flags: ['UP', 'LOWER_UP', 'POINTOPOINT'], mtu: 1420, operstate: 'UNKNOWN', address: null },
    ],
    addresses: own.map(([dev, local], i) => ({ ifindex: i + 2, dev, family: 4 as const, local, prefixlen: 24, scope: 'global' as const, flags: [] })),
    routes: [
      route({ dst: '0.0.0.0/0', gateway: wan.gateway, dev: 'wan0' }),
      ...own.map(([dev, local, net]) => route({ dst: net, dev, protocol: 'kernel', scope: 'link', prefsrc: local })),
      route({ dst: '10.77.0.0/24', dev: 'wg0', protocol: 'static' }),
      ...own.map(([dev, local]) => route({ dst: `${local}/32`, dev, table: 255, type: 'local', protocol: 'kernel', scope: 'host', prefsrc: local })),
      route({ dst: '127.0.0.0/8', dev: 'lo', table: 255, type: 'local', protocol: 'kernel', scope: 'host', prefsrc: '127.0.0.1' }),
      ...(o.exitNode ? [
        route({ dst: '0.0.0.0/0', dev: 'wg0', table: 52, scope: 'link' }),
        route({ dst: '192.168.50.0/24', table: 52, type: 'throw' }),
        route({ dst: wanNet, table: 52, type: 'throw' }),
      ] : []),
    ],
    rules,
    sysctls: { ipForward: 1, ipv6Forwarding: 0, interfaces: { all: { rpFilter: 0 } } },
    firewall: {
      nftables: { nftables: [{ metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } }, ...(o.nft ?? [])] },
      ...(o.legacy ? { iptablesLegacy: { ipv4: o.legacy } } : {}),
      backends: [...(o.nft?.length ? ['nftables' as const] : []), ...(o.legacy ? ['iptables-legacy' as const] : [])],
      notes: [],
    },
  };
}

/** iptables-legacy-save text: filter and nat tables with these policies and rules. */
function save(filter: string[], nat: string[] = [], policies: { INPUT?: string; FORWARD?: string } = {}, chains: string[] = []): string {
  return [
    '*filter', `:INPUT ${policies.INPUT ?? 'ACCEPT'} [0:0]`, `:FORWARD ${policies.FORWARD ?? 'ACCEPT'} [0:0]`, ':OUTPUT ACCEPT [0:0]',
    ...chains.filter((c) => !c.startsWith('nat:')).map((c) => `:${c} - [0:0]`), ...filter, 'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
    ...chains.filter((c) => c.startsWith('nat:')).map((c) => `:${c.slice(4)} - [0:0]`), ...nat, 'COMMIT', '',
  ].join('\n');
}

const MASQUERADE = ['-A POSTROUTING -o wg0 -j MASQUERADE'];
const STRICT_FORWARD = ['-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A FORWARD -i lan0 -o wg0 -j ACCEPT'];

const WIREGUARD: WireguardFacts = {
  source: 'wg show IFACE dump',
  first: { at: Date.now(), interfaces: [{ name: 'wg0', listenPort: 51820, peers: [] } as unknown as WireguardFacts['first']['interfaces'][number]] },
  unreadable: [],
};

function run(check: Check, snapshot: Snapshot, facts: Record<string, unknown> = {}): CheckResult {
  const state: HostState = { snapshot, facts: { [WIREGUARD_GATHERER]: WIREGUARD, ...facts }, gatherErrors: {} };
  return check.run(state, options);
}

test('forward.lan-to-mesh: unmasqueraded (warn), dropped by forward (fail), masqueraded (pass)', () => {
  const plain = run(lanToMesh, router({ legacy: save([]) }));
  assert.equal(plain.status, 'warn');
  assert.match(plain.summary, /192\.168\.50\.2 \(lan0\) → peer 10\.9\.0\.2 \(icmp\) leaves wg0 with source 192\.168\.50\.2, not masqueraded/);
  assert.equal(plain.fix?.command, 'netmend fix forwarding --lan lan0 --tunnel wg0 --masquerade');
  const dropped = run(lanToMesh, router({ legacy: save(['-A FORWARD -o wg0 -j DROP'], MASQUERADE) }));
  assert.equal(dropped.status, 'fail');
  assert.match(dropped.summary, /is dropped by ip filter FORWARD rule 1/);
  const healthy = run(lanToMesh, router({ legacy: save(STRICT_FORWARD, MASQUERADE, { FORWARD: 'DROP' }) }));
  assert.equal(healthy.status, 'pass', healthy.summary);
  assert.match(healthy.summary, /lan0 → 10\.9\.0\.0\/24, 10\.77\.0\.0\/24: forwarded, masqueraded to 10\.9\.0\.1 on wg0, replies return/);
});

test('forward.exit-node-lan: leak, black hole, masqueraded through the exit node; no exit node passes', () => {
  assert.match(run(exitNodeLan, router({ legacy: save([]) })).summary, /no exit node in use/);
  const leak = run(exitNodeLan, router({ exitNode: true, legacy: save([], MASQUERADE), extraRules: [{ family: 4, priority: 5000, not: false, from: '192.168.50.0/24', action: 'lookup', table: 254 }] }));
  assert.equal(leak.status, 'fail');
  assert.match(leak.summary, /^leak: LAN clients' internet traffic \(192\.168\.50\.2 → 1\.1\.1\.1\) leaves by wan0/);
  const hole = run(exitNodeLan, router({ exitNode: true, legacy: save([]) }));
  assert.equal(hole.status, 'warn');
  assert.match(hole.summary, /^black hole: internet traffic of 192\.168\.50\.2 \(lan0\) → 1\.1\.1\.1 \(icmp\) leaves wg0 with source 192\.168\.50\.2, not masqueraded/);
  const dropped = run(exitNodeLan, router({ exitNode: true, legacy: save([], MASQUERADE, { FORWARD: 'DROP' }) }));
  assert.equal(dropped.status, 'fail');
  assert.match(dropped.summary, /^black hole: .* is dropped by ip filter FORWARD policy/);
  const healthy = run(exitNodeLan, router({ exitNode: true, legacy: save([], MASQUERADE) }));
  assert.equal(healthy.status, 'pass', healthy.summary);
  assert.match(healthy.summary, /reach the internet through the exit node, masqueraded to 10\.9\.0\.1 on wg0/);
});

test('forward.mesh-to-lan: dropped, reply dropped, Tailscale advertising (fail), forwarded (pass)', () => {
  const dropped = run(meshToLan, router({ legacy: save(STRICT_FORWARD, [], { FORWARD: 'DROP' }) }));
  assert.equal(dropped.status, 'warn', 'plain WireGuard: inferred from forwarding, so a warning');
  assert.match(dropped.summary, /^mesh peer 10\.9\.0\.2 \(wg0\) → 192\.168\.50\.2 \(192\.168\.50\.0\/24 on lan0, icmp\) is dropped by ip filter FORWARD policy/);
  assert.equal(dropped.fix?.command, 'netmend fix forwarding --lan lan0 --tunnel wg0 --from-mesh');
  const oneWay = run(meshToLan, router({ legacy: save(['-A FORWARD -i wg0 -o lan0 -j ACCEPT'], [], { FORWARD: 'DROP' }) }));
  assert.match(oneWay.summary, /is forwarded \(no SNAT: .*\), but the reply does not get back: dropped at forward by ip filter FORWARD policy/);
  const tailscale: TailscaleFacts = { prefs: { AdvertiseRoutes: ['192.168.50.0/24'] }, source: 'tailscale debug prefs' } as TailscaleFacts;
  const advertised = run(meshToLan, router({ legacy: save(STRICT_FORWARD, [], { FORWARD: 'DROP' }) }), { [TAILSCALE_GATHERER]: tailscale });
  assert.equal(advertised.status, 'fail', 'advertised to the mesh and dropped: certain');
  const healthy = run(meshToLan, router({ legacy: save([...STRICT_FORWARD, '-A FORWARD -i wg0 -o lan0 -j ACCEPT'], [], { FORWARD: 'DROP' }) }));
  assert.equal(healthy.status, 'pass', healthy.summary);
  assert.match(healthy.summary, /mesh → 192\.168\.50\.0\/24 \(lan0\) forwarded; no SNAT/);
  const snat = run(meshToLan, router({ legacy: save([], ['-A POSTROUTING -o lan0 -j MASQUERADE']) }));
  assert.match(snat.summary, /SNAT on: it reaches the LAN from 192\.168\.50\.1/);
});

test('forward.mesh-port: input drops the WireGuard port (fail), accepted (pass)', () => {
  const closed = run(meshPort, router({ legacy: save(['-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'], [], { INPUT: 'DROP' }) }));
  assert.equal(closed.status, 'fail');
  assert.match(closed.summary, /^udp 51820 \(wg0\) from the WAN wan0 is dropped by ip filter INPUT policy/);
  assert.equal(closed.fix?.command, 'netmend fix forwarding --tunnel wg0 --allow-port');
  const open = run(meshPort, router({ legacy: save(['-A INPUT -i wan0 -p udp -m udp --dport 51820 -j ACCEPT'], [], { INPUT: 'DROP' }) }));
  assert.equal(open.status, 'pass', open.summary);
  assert.equal(open.summary, 'accepted from the WAN: udp 51820 (wg0) on wan0 198.18.0.1');
});

const TS_INPUT = (verdict: string) => save(['-A INPUT -j ts-input', '-A ts-input ! -i wg0 -s 100.115.92.0/23 -j RETURN', `-A ts-input ! -i wg0 -s 100.64.0.0/10 -j ${verdict}`, '-A ts-input -i wg0 -j ACCEPT'], [], {}, ['ts-input']);
const CGNAT_WAN = { address: '100.72.10.2', gateway: '100.72.10.1' };

test('forward.cgnat-drop: tailscaled\'s drop on a CGNAT WAN (fail), the node attribute\'s RETURN (pass), no CGNAT (pass)', () => {
  const broken = run(cgnatDrop, router({ wan: CGNAT_WAN, legacy: TS_INPUT('DROP') }));
  assert.equal(broken.status, 'fail');
  assert.equal(broken.summary, 'the WAN wan0 is behind ISP CGNAT (100.72.10.2 via 100.72.10.1); `ip filter ts-input rule 3: -A ts-input ! -i wg0 -s 100.64.0.0/10 -j DROP` kills replies from the ISP gateway/resolver 100.72.10.1 to this router (DNS); pings from the ISP gateway 100.72.10.1; direct mesh connections from peers behind the same CGNAT (udp 51820 from 100.72.10.1)');
  assert.match(broken.fix!.command, /disable-linux-cgnat-drop-rule/);
  const healthy = run(cgnatDrop, router({ wan: CGNAT_WAN, legacy: TS_INPUT('RETURN') }));
  assert.equal(healthy.status, 'pass', healthy.summary);
  assert.match(healthy.summary, /behind ISP CGNAT \(100\.72\.10\.2\), and no 100\.64\.0\.0\/10 drop hits its traffic/);
  assert.equal(run(cgnatDrop, router({ legacy: TS_INPUT('DROP') })).summary, 'the WAN is not in 100.64.0.0/10 (no ISP CGNAT)');
});

test('path explain: the reply to a packet this host sends comes back to the source routing chose', () => {
  const explanation = explainPath(router({ wan: CGNAT_WAN, legacy: TS_INPUT('DROP') }), { destination: '100.72.10.1', protocol: 'udp', dport: 53, reply: true });
  assert.equal(explanation.result.saddr, '100.72.10.2');
  assert.equal(explanation.reply?.packet.daddr, '100.72.10.2');
  assert.equal(explanation.reply?.result.verdict, 'dropped');
  assert.equal(explanation.reply?.result.rule?.chain, 'ts-input');
});

const USER_TABLE = [
  { table: { family: 'inet', name: 'userfw', handle: 1 } },
  { chain: { family: 'inet', table: 'userfw', name: 'forward', handle: 1, type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } },
  { rule: { family: 'inet', table: 'userfw', chain: 'forward', handle: 2, expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'lan0' } }, { accept: null }] } },
];

test('forward.firewall-backends: both backends (warn), a removed tailscaled\'s chains (warn), one backend and live chains (pass)', () => {
  const both = run(firewallBackends, router({ nft: USER_TABLE, legacy: save(['-A FORWARD -d 10.77.0.0/24 -j DROP']) }));
  assert.equal(both.status, 'warn');
  assert.match(both.summary, /^both iptables-legacy \(iptables-legacy ip filter\) and nftables \(inet userfw\) hold rules/);
  const gone = run(firewallBackends, router({ legacy: save(['-A INPUT -j ts-input', '-A ts-input -i tailscale0 -j ACCEPT'], ['-A POSTROUTING -j ts-postrouting', '-A ts-postrouting -m mark --mark 0x40000/0xff0000 -j MASQUERADE'], {}, ['ts-input', 'nat:ts-postrouting']) }));
  assert.equal(gone.status, 'warn');
  assert.equal(gone.summary, 'rules left by a mesh daemon that is gone: iptables-legacy ip filter chain ts-input (1 rules, for tailscale0, which does not exist), iptables-legacy ip nat chain ts-postrouting (1 rules, for tailscale0, which does not exist)');
  assert.equal(gone.fix?.command, 'iptables-legacy -t filter -D INPUT -j ts-input; iptables-legacy -t filter -F ts-input; iptables-legacy -t filter -X ts-input; iptables-legacy -t nat -D POSTROUTING -j ts-postrouting; iptables-legacy -t nat -F ts-postrouting; iptables-legacy -t nat -X ts-postrouting');
  const live = run(firewallBackends, router({ legacy: save(['-A INPUT -j ts-input', '-A ts-input -i wg0 -j ACCEPT'], [], {}, ['ts-input']) }));
  assert.equal(live.status, 'pass', live.summary);
  assert.equal(run(firewallBackends, router({ nft: USER_TABLE })).status, 'pass');
});
