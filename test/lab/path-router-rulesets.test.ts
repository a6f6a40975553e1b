/**
 * Real router rulesets through `path explain`, checked against the kernel's trace: an OpenWrt
 * fw4-style ruleset written from fw4's documented structure (zones lan/wan/tailscale, ct state
 * vmaps, `ct status dnat` for a port forward, reject handling, masquerade on wan, MSS fixing, a
 * `type route` mangle_output) plus the chains tailscaled installs in nftables mode (ip filter
 * FORWARD/INPUT jumping to ts-forward/ts-input, ip nat POSTROUTING to ts-postrouting, the 0x40000
 * subnet-route mark and its masquerade), with tailscaled's policy routing and a real TUN
 * tailscale0. Each packet is sent for real and must match the trace and the expected story.
 * (fw4's flowtable offload needs nf_flow_table, which these kernels lack: left out here.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PathQuery } from '../../src/path/simulate.js';
import { Lab, labUnavailable } from './harness.js';
import { TRACE_TABLE, TraceBench } from './path-lab.js';

const FW4 = `table inet fw4 {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept comment "!fw4: Accept traffic from loopback"
    ct state vmap { established : accept, related : accept } comment "!fw4: Handle inbound flows"
    iifname "lan" jump input_lan comment "!fw4: Handle lan IPv4/IPv6 input traffic"
    iifname "wan" jump input_wan comment "!fw4: Handle wan IPv4/IPv6 input traffic"
    iifname "tailscale0" jump input_tailscale comment "!fw4: Handle tailscale IPv4/IPv6 input traffic"
    jump handle_reject
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state vmap { established : accept, related : accept } comment "!fw4: Handle forwarded flows"
    iifname "lan" jump forward_lan comment "!fw4: Handle lan IPv4/IPv6 forward traffic"
    iifname "wan" jump forward_wan comment "!fw4: Handle wan IPv4/IPv6 forward traffic"
    iifname "tailscale0" jump forward_tailscale comment "!fw4: Handle tailscale IPv4/IPv6 forward traffic"
    jump handle_reject
  }
  chain output {
    type filter hook output priority filter; policy accept;
    oif "lo" accept comment "!fw4: Accept traffic towards loopback"
    ct state vmap { established : accept, related : accept } comment "!fw4: Handle outbound flows"
    oifname "lan" jump output_lan comment "!fw4: Handle lan IPv4/IPv6 output traffic"
    oifname "wan" jump output_wan comment "!fw4: Handle wan IPv4/IPv6 output traffic"
    oifname "tailscale0" jump output_tailscale comment "!fw4: Handle tailscale IPv4/IPv6 output traffic"
  }
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
  }
  chain handle_reject {
    meta l4proto tcp reject with tcp reset comment "!fw4: Reject TCP traffic"
    reject comment "!fw4: Reject any other traffic"
  }
  chain input_lan {
    jump accept_from_lan
  }
  chain output_lan {
    jump accept_to_lan
  }
  chain forward_lan {
    jump accept_to_wan comment "!fw4: Accept lan to wan forwarding"
    jump accept_to_lan
  }
  chain accept_from_lan {
    iifname "lan" counter accept comment "!fw4: accept lan IPv4/IPv6 traffic"
  }
  chain accept_to_lan {
    oifname "lan" counter accept comment "!fw4: accept lan IPv4/IPv6 traffic"
  }
  chain input_wan {
    meta nfproto ipv4 udp dport 68 counter accept comment "!fw4: Allow-DHCP-Renew"
    icmp type echo-request counter accept comment "!fw4: Allow-Ping"
    ct status dnat accept comment "!fw4: Accept port redirections"
    jump reject_from_wan
  }
  chain output_wan {
    jump accept_to_wan
  }
  chain forward_wan {
    ct status dnat accept comment "!fw4: Accept port forwards"
    jump reject_to_wan
  }
  chain accept_to_wan {
    meta nfproto ipv4 oifname "wan" ct state invalid counter drop comment "!fw4: Prevent NAT leakage"
    oifname "wan" counter accept comment "!fw4: accept wan IPv4/IPv6 traffic"
  }
  chain reject_from_wan {
    iifname "wan" counter jump handle_reject comment "!fw4: reject wan IPv4/IPv6 traffic"
  }
  chain reject_to_wan {
    oifname "wan" counter jump handle_reject comment "!fw4: reject wan IPv4/IPv6 traffic"
  }
  chain input_tailscale {
    jump reject_from_tailscale
  }
  chain output_tailscale {
    oifname "tailscale0" counter accept
  }
  chain forward_tailscale {
    jump accept_to_lan comment "!fw4: Accept tailscale to lan forwarding"
    jump reject_to_tailscale
  }
  chain reject_from_tailscale {
    iifname "tailscale0" counter jump handle_reject
  }
  chain reject_to_tailscale {
    oifname "tailscale0" counter jump handle_reject
  }
  chain dstnat {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan" jump dstnat_wan comment "!fw4: Handle wan IPv4/IPv6 dstnat traffic"
  }
  chain srcnat {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" jump srcnat_wan comment "!fw4: Handle wan IPv4/IPv6 srcnat traffic"
  }
  chain dstnat_wan {
    meta nfproto ipv4 tcp dport 8080 counter dnat ip to 192.168.1.20:80 comment "!fw4: web (port forward)"
  }
  chain srcnat_wan {
    meta nfproto ipv4 masquerade comment "!fw4: Masquerade IPv4 wan traffic"
  }
  chain raw_prerouting {
    type filter hook prerouting priority raw; policy accept;
  }
  chain raw_output {
    type filter hook output priority raw; policy accept;
  }
  chain mangle_prerouting {
    type filter hook prerouting priority mangle; policy accept;
  }
  chain mangle_postrouting {
    type filter hook postrouting priority mangle; policy accept;
  }
  chain mangle_input {
    type filter hook input priority mangle; policy accept;
  }
  chain mangle_output {
    type route hook output priority mangle; policy accept;
  }
  chain mangle_forward {
    type filter hook forward priority mangle; policy accept;
    iifname "wan" tcp flags syn / fin,syn,rst tcp option maxseg size set rt mtu comment "!fw4: Zone wan IPv4/IPv6 ingress MTU fixing"
    oifname "wan" tcp flags syn / fin,syn,rst tcp option maxseg size set rt mtu comment "!fw4: Zone wan IPv4/IPv6 egress MTU fixing"
  }
}
`;

/** tailscaled's nftables-mode chains (util/linuxfw nftables_runner.go: addBase/AddHooks), tailnet address 100.64.0.1. */
const TAILSCALE = `table ip filter {
  chain FORWARD {
    type filter hook forward priority filter; policy accept;
    counter jump ts-forward
  }
  chain INPUT {
    type filter hook input priority filter; policy accept;
    counter jump ts-input
  }
  chain ts-forward {
    iifname "tailscale0" counter meta mark set meta mark & 0xff00ffff | 0x00040000
    meta mark & 0x00ff0000 == 0x00040000 counter accept
    oifname "tailscale0" ip saddr 100.64.0.0/10 counter drop
    oifname "tailscale0" counter accept
  }
  chain ts-input {
    iifname "lo" ip saddr 100.64.0.1 counter accept
    iifname != "tailscale0" ip saddr 100.115.92.0/23 counter return
    iifname != "tailscale0" ip saddr 100.64.0.0/10 counter drop
    meta l4proto udp udp dport 41641 counter accept
  }
}
table ip nat {
  chain POSTROUTING {
    type nat hook postrouting priority srcnat; policy accept;
    counter jump ts-postrouting
  }
  chain ts-postrouting {
    meta mark & 0x00ff0000 == 0x00040000 counter masquerade
  }
}
`;

interface Case {
  what: string;
  origin: string;
  query: PathQuery;
  expect: { verdict: string; dev?: string; saddr?: string; daddr?: string; rule?: { table: string; chain: string } };
}

const CASES: Case[] = [
  { what: 'LAN client to the internet: masqueraded out wan', origin: 'lan', query: { destination: '8.8.8.8', from: '192.168.1.20', iif: 'lan', protocol: 'tcp', sport: 50001, dport: 443 },
    expect: { verdict: 'forwarded', dev: 'wan', saddr: '203.0.113.1' } },
  { what: 'LAN client to a tailnet peer: no lan→tailscale forwarding, fw4 rejects', origin: 'lan', query: { destination: '100.64.0.7', from: '192.168.1.20', iif: 'lan', protocol: 'tcp', sport: 50002, dport: 22 },
    expect: { verdict: 'rejected', rule: { table: 'fw4', chain: 'handle_reject' } } },
  { what: 'WireGuard port from the internet: ts-input accepts, fw4 input still rejects (every peer is relayed)', origin: 'world', query: { destination: '203.0.113.1', from: '198.51.100.7', iif: 'wan', protocol: 'udp', sport: 50003, dport: 41641 },
    expect: { verdict: 'rejected', rule: { table: 'fw4', chain: 'handle_reject' } } },
  { what: 'port forward from wan: DNAT to the LAN server, accepted by ct status dnat', origin: 'world', query: { destination: '203.0.113.1', from: '198.51.100.7', iif: 'wan', protocol: 'tcp', sport: 50004, dport: 8080 },
    expect: { verdict: 'forwarded', dev: 'lan', daddr: '192.168.1.20' } },
  { what: 'ping to the router from wan: Allow-Ping', origin: 'world', query: { destination: '203.0.113.1', from: '198.51.100.7', iif: 'wan', protocol: 'icmp' },
    expect: { verdict: 'delivered' } },
  { what: 'tailnet peer to the LAN (subnet router): marked 0x40000, masqueraded by ts-postrouting', origin: 'tun', query: { destination: '192.168.1.20', from: '100.64.0.7', iif: 'tailscale0', protocol: 'tcp', sport: 50005, dport: 80 },
    expect: { verdict: 'forwarded', dev: 'lan', saddr: '192.168.1.1' } },
  { what: 'tailnet peer to the router itself: fw4 rejects input from the tailscale zone', origin: 'tun', query: { destination: '100.64.0.1', from: '100.64.0.7', iif: 'tailscale0', protocol: 'tcp', sport: 50006, dport: 22 },
    expect: { verdict: 'rejected', rule: { table: 'fw4', chain: 'handle_reject' } } },
  { what: 'the router to a tailnet peer: table 52 sends it into tailscale0', origin: 'router', query: { destination: '100.64.0.7', from: '100.64.0.1', protocol: 'tcp', sport: 50007, dport: 22 },
    expect: { verdict: 'forwarded', dev: 'tailscale0' } },
  { what: 'spoofed tailnet source from wan: ts-input drops it', origin: 'world', query: { destination: '203.0.113.1', from: '100.64.0.9', iif: 'wan', protocol: 'icmp' },
    expect: { verdict: 'dropped', rule: { table: 'filter', chain: 'ts-input' } } },
];

test('an OpenWrt fw4 ruleset with tailscaled\'s chains: path explain matches the kernel and tells each story', { skip: labUnavailable(), timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const router = await lab.netns('rr');
  const lan = await lab.netns('rl');
  const world = await lab.netns('rw');
  await lab.veth(router, 'lan', lan, 'c0');
  await lab.veth(router, 'wan', world, 'w0');
  await lab.batch(lan, ['addr add 192.168.1.20/24 dev c0', 'route add default via 192.168.1.1']);
  await lab.batch(world, ['addr add 203.0.113.2/24 dev w0', 'route add default via 203.0.113.1']);
  const bench = new TraceBench(lab, router);
  await bench.startSenders({
    tun: { ns: router, tun: 'tailscale0', sentinel: ['100.64.0.7', '100.64.0.1'], chain: 'pre' },
    lan: { ns: lan, sentinel: ['192.168.1.20', '192.168.1.1'], chain: 'pre' },
    world: { ns: world, sentinel: ['203.0.113.2', '203.0.113.1'], chain: 'pre' },
    router: { ns: router, sentinel: ['203.0.113.1', '203.0.113.2'], chain: 'out' },
  });
  await lab.batch(router, [
    'link set tailscale0 mtu 1280 up', 'addr add 100.64.0.1/32 dev tailscale0',
    'addr add 192.168.1.1/24 dev lan', 'addr add 203.0.113.1/24 dev wan', 'route add default via 203.0.113.2',
    'route add 100.64.0.0/10 dev tailscale0 table 52',
  ]);
  await lab.tailscaleRules(router, { families: [4] });
  await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const text of [TRACE_TABLE, FW4, TAILSCALE]) {
    const loaded = await lab.exec(router, 'nft', ['-f', '-'], { input: text });
    assert.equal(loaded.code, 0, loaded.stderr);
  }
  await bench.start();
  const problems: string[] = [];
  let ipId = 41000;
  for (const c of CASES) {
    const result = await bench.probe({ origin: c.origin, query: c.query, ipId: ipId++ });
    if ('missing' in result) {
      problems.push(`${c.what}: ${result.missing}`);
      continue;
    }
    const answer = result.explanation.result;
    for (const problem of result.problems) problems.push(`${c.what}: kernel disagrees: ${problem}`);
    const got = { verdict: answer.verdict, dev: answer.dev ?? undefined, saddr: answer.saddr, daddr: answer.daddr, rule: answer.rule ? { table: answer.rule.table, chain: answer.rule.chain } : undefined };
    for (const [key, value] of Object.entries(c.expect)) {
      if (JSON.stringify(got[key as keyof typeof got]) !== JSON.stringify(value)) problems.push(`${c.what}: ${key} is ${JSON.stringify(got[key as keyof typeof got])}, expected ${JSON.stringify(value)}\n${result.trace}`);
    }
  }
  assert.deepEqual(problems, []);

  // The port forward's reply: conntrack restores the source (reverse DNAT) and masquerade is undone.
  const reply = (await import('../../src/path/simulate.js')).explainPath(bench.snapshot, { ...CASES[3].query, reply: true }).reply!;
  assert.equal(reply.result.verdict, 'forwarded');
  assert.deepEqual({ dev: reply.result.dev, saddr: reply.result.saddr, sport: reply.result.sport }, { dev: 'wan', saddr: '203.0.113.1', sport: 8080 });
  // The CLI itself, in the namespace: one of the stories in words.
  const cli = await lab.netmend(router, ['path', 'explain', '100.64.0.7', '--iif', 'lan', '--from', '192.168.1.20', '--proto', 'tcp', '--dport', '22']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /result: rejected: rejected at forward by inet fw4 handle_reject rule \d+: meta l4proto tcp reject with tcp reset/);
  const bad = await lab.netmend(router, ['path', 'explain', '100.64.0.7', '--iif', 'eth9', '--from', '192.168.1.20']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /--iif: no interface named 'eth9'/);
});
