/**
 * A small stand-in for OpenWrt's fw4 (firewall4), which Debian does not have: renders
 * /etc/config/firewall (with /etc/config/network for the zones' devices) into an `inet fw4`
 * nftables table with fw4's documented structure (its ruleset.uc template): base chains input,
 * forward, output and srcnat dispatching by device to per-zone chains; zone policies as
 * accept_/reject_/drop_ from/to chains; forwardings as `jump accept_to_DEST` in forward_SRC;
 * rules in input_SRC or forward_SRC; masquerade in srcnat_ZONE; `ct state` vmaps and
 * handle_reject (TCP reset, else ICMP). Enough of fw4 for zones, forwardings, masq and port
 * rules; not: NAT redirects, ipsets, includes, flow offload, MSS fixing.
 *
 * As a program (`fw4 reload`, the lab puts a `fw4` on PATH that runs this file) it reads
 * $FW4_ROOT/etc/config/{firewall,network} and loads the result with `nft -f -`, replacing the
 * table in one transaction, as fw4 does.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUci, type UciSection } from '../../src/fix/uci.js';

type Policy = 'accept' | 'reject' | 'drop';

interface Zone {
  name: string;
  devices: string[];
  input: Policy;
  output: Policy;
  forward: Policy;
  masq: boolean;
}

function options(section: UciSection, key: string): string[] {
  return section.options.filter((o) => o.key === key).map((o) => o.value);
}

function option(section: UciSection, key: string): string | undefined {
  return options(section, key)[0];
}

function policy(value: string | undefined, fallback: Policy): Policy {
  const lower = value?.toLowerCase();
  return lower === 'accept' || lower === 'reject' || lower === 'drop' ? lower : fallback;
}

const set = (devices: string[]) => (devices.length === 1 ? `"${devices[0]}"` : `{ ${devices.map((d) => `"${d}"`).join(', ')} }`);

/** A verdict statement for a target or policy: reject goes through handle_reject, as in fw4. */
const verdict = (target: Policy) => (target === 'reject' ? 'jump handle_reject' : target);

function zonesOf(firewall: UciSection[], network: UciSection[]): Zone[] {
  const defaults = firewall.find((s) => s.type === 'defaults');
  return firewall.filter((s) => s.type === 'zone').map((s) => {
    const devices = [
      ...options(s, 'device'),
      ...options(s, 'network').flatMap((name) => {
        const iface = network.find((n) => n.type === 'interface' && n.name === name);
        return iface ? [option(iface, 'device') ?? option(iface, 'ifname')].filter((d): d is string => !!d) : [];
      }),
    ];
    return {
      name: option(s, 'name')!,
      devices: [...new Set(devices)],
      input: policy(option(s, 'input'), policy(defaults && option(defaults, 'input'), 'drop')),
      output: policy(option(s, 'output'), policy(defaults && option(defaults, 'output'), 'accept')),
      forward: policy(option(s, 'forward'), policy(defaults && option(defaults, 'forward'), 'drop')),
      masq: option(s, 'masq') === '1',
    };
  });
}

/** One `config rule` as an nft rule line, or undefined when it uses something this stand-in does not render. */
function ruleLine(rule: UciSection): string | undefined {
  const parts: string[] = [];
  const family = option(rule, 'family');
  if (family === 'ipv4') parts.push('meta nfproto ipv4');
  if (family === 'ipv6') parts.push('meta nfproto ipv6');
  const proto = option(rule, 'proto') ?? 'tcp udp';
  const port = option(rule, 'dest_port');
  const protos = proto.split(/\s+/).filter((p) => p !== 'all');
  if (port) {
    if (protos.length !== 1 || !['tcp', 'udp'].includes(protos[0])) return undefined;
    parts.push(`${protos[0]} dport ${port}`);
  } else if (protos.length === 1) {
    parts.push(protos[0] === 'icmp' ? 'meta l4proto icmp' : `meta l4proto ${protos[0]}`);
  }
  const icmpType = option(rule, 'icmp_type');
  if (icmpType) parts.push(`icmp type ${icmpType}`);
  parts.push('counter', verdict(policy(option(rule, 'target'), 'drop')));
  return `${parts.join(' ')} comment "!fw4: ${option(rule, 'name') ?? 'rule'}"`;
}

export function renderFw4(firewallText: string, networkText: string): string {
  const firewall = parseUci(firewallText, '/etc/config/firewall');
  const network = parseUci(networkText, '/etc/config/network');
  const zones = zonesOf(firewall, network).filter((zone) => zone.devices.length > 0);
  const defaults = firewall.find((s) => s.type === 'defaults');
  const defaultInput = policy(defaults && option(defaults, 'input'), 'drop');
  const defaultForward = policy(defaults && option(defaults, 'forward'), 'drop');
  const chains: string[] = [];
  const chain = (name: string, lines: string[], head?: string) => chains.push(`\tchain ${name} {\n${head ? `\t\t${head}\n` : ''}${lines.map((l) => `\t\t${l}\n`).join('')}\t}`);

  chain('input', [
    'iif "lo" accept comment "!fw4: Accept traffic from loopback"',
    'ct state vmap { established : accept, related : accept } comment "!fw4: Handle inbound flows"',
    ...zones.map((z) => `iifname ${set(z.devices)} jump input_${z.name} comment "!fw4: Handle ${z.name} IPv4/IPv6 input traffic"`),
    ...(defaultInput === 'accept' ? [] : [verdict(defaultInput)]),
  ], 'type filter hook input priority filter; policy drop;');
  chain('forward', [
    'ct state vmap { established : accept, related : accept } comment "!fw4: Handle forwarded flows"',
    ...zones.map((z) => `iifname ${set(z.devices)} jump forward_${z.name} comment "!fw4: Handle ${z.name} IPv4/IPv6 forward traffic"`),
    ...(defaultForward === 'accept' ? [] : [verdict(defaultForward)]),
  ], 'type filter hook forward priority filter; policy drop;');
  chain('output', [
    'oif "lo" accept comment "!fw4: Accept traffic towards loopback"',
    'ct state vmap { established : accept, related : accept } comment "!fw4: Handle outbound flows"',
    ...zones.map((z) => `oifname ${set(z.devices)} jump output_${z.name} comment "!fw4: Handle ${z.name} IPv4/IPv6 output traffic"`),
  ], 'type filter hook output priority filter; policy accept;');
  chain('handle_reject', ['meta l4proto tcp reject with tcp reset comment "!fw4: Reject TCP traffic"', 'reject comment "!fw4: Reject any other traffic"']);

  const rules = firewall.filter((s) => s.type === 'rule' && option(s, 'enabled') !== '0');
  for (const zone of zones) {
    const devices = set(zone.devices);
    const inputRules = rules.filter((r) => option(r, 'src') === zone.name && !option(r, 'dest')).map(ruleLine).filter((l): l is string => !!l);
    const forwardRules = rules.filter((r) => option(r, 'src') === zone.name && option(r, 'dest')).map(ruleLine).filter((l): l is string => !!l);
    const forwardings = firewall.filter((s) => s.type === 'forwarding' && option(s, 'enabled') !== '0' && option(s, 'src') === zone.name).map((s) => option(s, 'dest')!);
    chain(`input_${zone.name}`, [...inputRules, `jump ${zone.input}_from_${zone.name}`]);
    chain(`output_${zone.name}`, [`jump ${zone.output}_to_${zone.name}`]);
    chain(`forward_${zone.name}`, [
      ...forwardRules,
      ...forwardings.filter((dest) => zones.some((z) => z.name === dest)).map((dest) => `jump accept_to_${dest} comment "!fw4: Accept ${zone.name} to ${dest} forwarding"`),
      `jump ${zone.forward}_to_${zone.name}`,
    ]);
    chain(`accept_from_${zone.name}`, [`iifname ${devices} counter accept comment "!fw4: accept ${zone.name} IPv4/IPv6 traffic"`]);
    chain(`accept_to_${zone.name}`, [
      ...(zone.masq ? [`meta nfproto ipv4 oifname ${devices} ct state invalid counter drop comment "!fw4: Prevent NAT leakage"`] : []),
      `oifname ${devices} counter accept comment "!fw4: accept ${zone.name} IPv4/IPv6 traffic"`,
    ]);
    chain(`reject_from_${zone.name}`, [`iifname ${devices} counter jump handle_reject comment "!fw4: reject ${zone.name} IPv4/IPv6 traffic"`]);
    chain(`reject_to_${zone.name}`, [`oifname ${devices} counter jump handle_reject comment "!fw4: reject ${zone.name} IPv4/IPv6 traffic"`]);
    chain(`drop_from_${zone.name}`, [`iifname ${devices} counter drop comment "!fw4: drop ${zone.name} IPv4/IPv6 traffic"`]);
    chain(`drop_to_${zone.name}`, [`oifname ${devices} counter drop comment "!fw4: drop ${zone.name} IPv4/IPv6 traffic"`]);
  }
  const masq = zones.filter((z) => z.masq);
  chain('srcnat', masq.map((z) => `oifname ${set(z.devices)} jump srcnat_${z.name} comment "!fw4: Handle ${z.name} IPv4/IPv6 srcnat traffic"`), 'type nat hook postrouting priority srcnat; policy accept;');
  for (const zone of masq) chain(`srcnat_${zone.name}`, [`meta nfproto ipv4 masquerade comment "!fw4: Masquerade IPv4 ${zone.name} traffic"`]);
  return `table inet fw4\ndelete table inet fw4\ntable inet fw4 {\n${chains.join('\n')}\n}\n`;
}

/** `fw4 reload` (and `fw4 restart`, `fw4 print`): render $FW4_ROOT's configuration and load it. */
function main(): void {
  const root = process.env.FW4_ROOT ?? '/';
  const ruleset = renderFw4(readFileSync(join(root, 'etc/config/firewall'), 'utf8'), readFileSync(join(root, 'etc/config/network'), 'utf8'));
  if (process.argv[2] === 'print') {
    process.stdout.write(ruleset);
    return;
  }
  const result = spawnSync('nft', ['-f', '-'], { input: ruleset, encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(`fw4 stand-in: nft -f failed: ${result.stderr}`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
