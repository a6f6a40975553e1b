/**
 * The plain-text reader: `ip` as people type it, from iproute2 or from busybox (OpenWrt), so a
 * router without Node can be diagnosed from a host. Everything is collected by ONE shell script
 * (one ssh round trip) that prints each section between marker lines; the parsing happens here.
 *
 * What busybox `ip` cannot print, and so a busybox snapshot does not have: route protocol
 * ('unknown'), IPv6 route pref, multipath nexthops, link kind (no `-d`: 'ether'/'loopback'/'none'
 * from link/TYPE), operstate ('UNKNOWN'), address flags beyond secondary/tentative/deprecated/
 * dynamic, and in rules `not`, oif, the goto target, uidrange, ipproto, ports and protocol; busybox
 * before 1.33 also drops the fwmark mask (read as 0xffffffff, as `ip` means a mark without mask).
 */
import { CheckCouldNotRunError, InputError } from '../errors.js';
import type { CommandRunner } from '../system/exec.js';
import {
  ADDRESS_FLAG_ORDER, ipv6RejectError, kindFromLinkType, normaliseProtocol, normaliseScope, parseIpProto,
  parseRouteType, parseTable, prefixWithLength, ROUTE_FLAG_BITS,
} from './names.js';
import { parseSysctlLines, SYSCTL_SCRIPT } from './sysctls.js';
import { SNAPSHOT_VERSION, type Address, type Family, type Link, type Nexthop, type Route, type Rule, type RuleAction, type Snapshot } from './types.js';

export type IpFlavour = 'iproute2' | 'busybox';

const MARK = '@@netmend:';

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The POSIX sh script printing every section. `ip` is the command to run ("ip", or "busybox ip"
 * to read busybox's view on a machine that has both). Each command's exit status follows its
 * section so a failure is reported with the command's name instead of parsed as empty output.
 */
export function ipTextScript(ip = 'ip'): string {
  const run = (section: string, command: string) => `echo '${MARK}${section}'; ${command}; echo "${MARK}status $?"`;
  return [
    `IP=${shellQuote(ip)}`,
    `echo '${MARK}version'; $IP -V 2>&1 | head -n 1`,
    run('addr', '$IP addr show'),
    // busybox has no -d; iproute2 prints the link kind only with it.
    `if $IP -V 2>&1 | grep -q iproute2; then ${run('link-details', '$IP -d link show')}; fi`,
    run('route4', '$IP -4 route show table all'),
    run('route6', '$IP -6 route show table all 2>/dev/null'),
    run('rule4', '$IP -4 rule show'),
    run('rule6', '$IP -6 rule show 2>/dev/null'),
    `echo '${MARK}sysctl'; ${SYSCTL_SCRIPT}`,
    `echo '${MARK}hostname'; cat /proc/sys/kernel/hostname 2>/dev/null || hostname`,
    `echo '${MARK}rt_tables'; cat /etc/iproute2/rt_tables /etc/iproute2/rt_tables.d/*.conf /usr/share/iproute2/rt_tables 2>/dev/null`,
    `echo '${MARK}end'`,
  ].join('\n');
}

interface Section {
  text: string;
  status?: number;
}

export function splitSections(output: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  let current: { name: string; lines: string[] } | undefined;
  const close = (status?: number) => {
    if (current) sections.set(current.name, { text: current.lines.join('\n'), status });
    current = undefined;
  };
  for (const line of output.split('\n')) {
    if (line.startsWith(MARK)) {
      const rest = line.slice(MARK.length);
      if (rest.startsWith('status ')) close(Number(rest.slice(7)));
      else {
        close();
        current = { name: rest.trim(), lines: [] };
      }
    } else if (current) current.lines.push(line);
  }
  close();
  return sections;
}

export function detectFlavour(versionLine: string): IpFlavour {
  return /iproute2|ip utility/i.test(versionLine) ? 'iproute2' : 'busybox';
}

function unparseable(command: string, line: string, why?: string): never {
  throw new InputError(`cannot parse a line of \`${command}\`${why ? ` (${why})` : ''}: ${line.trim().slice(0, 200)}`);
}

/** Tables named in rt_tables files ("100 vpn" lines). */
export function parseRtTables(text: string): Map<string, number> {
  const names = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+|0x[0-9a-f]+)\s+(\S+)/i.exec(line);
    if (match) names.set(match[2], Number(match[1]));
  }
  return names;
}

function number(text: string | undefined, command: string, line: string): number {
  if (text === undefined || !/^(?:0x[0-9a-f]+|\d+)$/i.test(text)) unparseable(command, line, `expected a number, got '${text ?? ''}'`);
  return Number(text);
}

// --- links and addresses ---------------------------------------------------------------------

const LINK_HEADER = /^(\d+):\s+([^\s:@]+)(?:@([^\s:]+))?:\s+<([^>]*)>(.*)$/;
const ADDRESS_FLAGS = new Set(ADDRESS_FLAG_ORDER);

export function parseIpAddrText(text: string, command = 'ip addr show'): { links: Link[]; addresses: Address[] } {
  const links: Link[] = [];
  const addresses: Address[] = [];
  let link: Link | undefined;
  let linkType = 'none';
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const header = LINK_HEADER.exec(line);
    if (header) {
      const words = header[5].trim().split(/\s+/);
      const value = (key: string) => {
        const at = words.indexOf(key);
        return at >= 0 ? words[at + 1] : undefined;
      };
      link = {
        index: Number(header[1]),
        name: header[2],
        kind: 'none',
        flags: header[4] ? header[4].split(',').filter((flag) => flag && flag !== 'M-DOWN') : [],
        mtu: Number(value('mtu') ?? 0),
        operstate: value('state') ?? 'UNKNOWN',
        address: null,
      };
      const master = value('master');
      if (master) link.master = master;
      links.push(link);
      linkType = 'none';
      continue;
    }
    if (!link) unparseable(command, line, 'no interface line before it');
    const words = line.trim().split(/\s+/);
    const first = words[0];
    if (first.startsWith('link/')) {
      linkType = first.slice(5);
      link.kind = kindFromLinkType(linkType);
      const hardware = words[1];
      link.address = linkType !== 'none' && hardware && !['brd', 'peer', 'link-netnsid', 'permaddr'].includes(hardware) ? hardware : null;
      continue;
    }
    if (first === 'inet' || first === 'inet6') {
      addresses.push(parseAddressLine(words, link, first === 'inet' ? 4 : 6, command, line));
      continue;
    }
    // valid_lft lines, altname, and anything else describing the link: not part of the snapshot.
    if (['valid_lft', 'altname', 'alias', 'vf', 'prop'].includes(first) || /^[a-z_]+$/.test(first)) continue;
    unparseable(command, line);
  }
  return { links, addresses };
}

function parseAddressLine(words: string[], link: Link, family: Family, command: string, line: string): Address {
  const [local, length] = words[1].split('/');
  if (!local) unparseable(command, line, 'no address');
  let prefixlen = length === undefined ? (family === 4 ? 32 : 128) : number(length, command, line);
  let peer: string | undefined;
  let scope = 'global';
  const flags = new Set<string>();
  for (let i = 2; i < words.length; i++) {
    const word = words[i];
    switch (word) {
      case 'peer': {
        const [address, peerLength] = (words[++i] ?? '').split('/');
        peer = address;
        if (peerLength !== undefined) prefixlen = number(peerLength, command, line);
        break;
      }
      case 'brd': case 'any': case 'metric': case 'proto': i++; break;
      case 'scope': scope = normaliseScope(words[++i] ?? 'global'); break;
      default:
        if (ADDRESS_FLAGS.has(word)) flags.add(word);
        // IPv4 ends with the label (the device name, or name:alias): nothing to keep.
    }
  }
  const address: Address = {
    ifindex: link.index,
    dev: link.name,
    family,
    local,
    prefixlen,
    scope,
    flags: ADDRESS_FLAG_ORDER.filter((flag) => flags.has(flag)),
  };
  if (peer && peer !== local) address.peer = peer;
  return address;
}

const NOT_A_KIND = new Set(['altname', 'alias', 'vf', 'prop', 'addrgenmode', 'link-netnsid']);

/** Link kinds from `ip -d link show`: the first word of the line after link/TYPE, when it is a kind. */
export function parseLinkKinds(text: string): Map<string, string> {
  const kinds = new Map<string, string>();
  let name: string | undefined;
  let seenLinkLine = false;
  for (const line of text.split('\n')) {
    const header = LINK_HEADER.exec(line);
    if (header) {
      name = header[2];
      seenLinkLine = false;
      continue;
    }
    const first = line.trim().split(/\s+/)[0];
    if (!name || !first) continue;
    if (first.startsWith('link/')) {
      seenLinkLine = true;
      continue;
    }
    if (seenLinkLine && !kinds.has(name) && !NOT_A_KIND.has(first) && !first.endsWith('_slave') && /^[a-z][a-z0-9_-]*$/.test(first)) {
      kinds.set(name, first);
    }
  }
  return kinds;
}

// --- routes ----------------------------------------------------------------------------------

const ROUTE_TYPE_WORDS = new Set(['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);
const ROUTE_FLAG_WORDS = new Set(ROUTE_FLAG_BITS.map(([, name]) => name));
/** Keywords followed by one value that the snapshot does not keep. */
const ROUTE_SKIP_PAIRS = new Set([
  'tos', 'dsfield', 'expires', 'error', 'nhid', 'realm', 'realms', 'mtu', 'advmss', 'rtt', 'rttvar', 'reordering', 'window',
  'cwnd', 'initcwnd', 'initrwnd', 'ssthresh', 'hoplimit', 'quickack', 'congctl', 'features', 'fastopen_no_cookie',
  'rto_min', 'used', 'age', 'users', 'ipid', 'ttl-propagate', 'mark', 'uid', 'iif',
]);

export interface TextParseOptions {
  flavour?: IpFlavour;
  tables?: ReadonlyMap<string, number>;
}

export function parseRouteText(text: string, family: Family, command = `ip -${family} route show table all`, options: TextParseOptions = {}): Route[] {
  const routes: Route[] = [];
  const busybox = options.flavour === 'busybox';
  let last: Route | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const words = line.trim().split(/\s+/);
    if (words[0] === 'nexthop') {
      if (!last) unparseable(command, line, 'nexthop without a route');
      (last.nexthops ??= []).push(parseNexthop(words, command, line));
      continue;
    }
    if (/^\s/.test(line) && !busybox) unparseable(command, line, 'unexpected continuation line');
    let i = 0;
    let type: Route['type'] = 'unicast';
    if (ROUTE_TYPE_WORDS.has(words[0])) type = parseRouteType(words[i++])!;
    const dst = words[i++];
    if (!dst || !/^(?:default|[0-9a-f.:]+(?:\/\d+)?)$/i.test(dst)) unparseable(command, line, 'no destination');
    if (dst !== 'default' && dst.includes(':') !== (family === 6)) unparseable(command, line, `not an IPv${family} destination`);
    const route: Route = {
      family,
      table: 254,
      type,
      dst: prefixWithLength(dst, family),
      metric: 0,
      protocol: busybox ? 'unknown' : 'boot',
      scope: 'global',
      flags: [],
    };
    for (; i < words.length; i++) {
      const word = words[i];
      switch (word) {
        case 'from': route.src = prefixWithLength(words[++i], family); break;
        case 'via': {
          let gateway = words[++i];
          if (gateway === 'inet' || gateway === 'inet6') gateway = words[++i];
          route.gateway = gateway;
          break;
        }
        case 'dev': route.dev = words[++i]; break;
        case 'table': {
          const table = parseTable(words[++i] ?? '', options.tables);
          if (table === undefined) unparseable(command, line, `unknown table '${words[i]}'`);
          route.table = table;
          break;
        }
        case 'proto': route.protocol = normaliseProtocol(words[++i]); break;
        case 'scope': route.scope = normaliseScope(words[++i]); break;
        case 'metric': route.metric = number(words[++i], command, line); break;
        case 'src': route.prefsrc = words[++i]; break;
        case 'pref': route.pref = words[++i]; break;
        case 'lock': case 'cache': break;
        default:
          if (ROUTE_FLAG_WORDS.has(word)) route.flags.push(word);
          else if (ROUTE_SKIP_PAIRS.has(word)) i += words[i + 1] === 'lock' ? 2 : 1; // "mtu lock 1400"
          else if (word === 'encap') i = words.length; // lightweight tunnels: not modelled
          else unparseable(command, line, `unknown keyword '${word}'`);
      }
    }
    if (family === 6) {
      const error = ipv6RejectError(type);
      if (error !== undefined) route.error = error;
    }
    routes.push(route);
    last = route;
  }
  return routes;
}

function parseNexthop(words: string[], command: string, line: string): Nexthop {
  const hop: Nexthop = {};
  const flags: string[] = [];
  for (let i = 1; i < words.length; i++) {
    switch (words[i]) {
      case 'via': {
        let gateway = words[++i];
        if (gateway === 'inet' || gateway === 'inet6') gateway = words[++i];
        hop.gateway = gateway;
        break;
      }
      case 'dev': hop.dev = words[++i]; break;
      case 'weight': hop.weight = number(words[++i], command, line); break;
      default:
        if (ROUTE_FLAG_WORDS.has(words[i])) flags.push(words[i]);
        else if (ROUTE_SKIP_PAIRS.has(words[i])) i++;
        else unparseable(command, line, `unknown nexthop keyword '${words[i]}'`);
    }
  }
  hop.flags = flags;
  return hop;
}

// --- rules -----------------------------------------------------------------------------------

const RULE_ACTIONS = new Set(['blackhole', 'unreachable', 'prohibit', 'nop']);
/** busybox prints the action number through the route-type table: 2 is goto, 3 is nop. */
const BUSYBOX_ACTION_WORDS: Record<string, RuleAction> = { local: 'goto', broadcast: 'nop', blackhole: 'blackhole', unreachable: 'unreachable', prohibit: 'prohibit' };

function portRange(text: string | undefined, command: string, line: string): [number, number] {
  const [start, end] = (text ?? '').split('-');
  const low = number(start, command, line);
  return [low, end === undefined ? low : number(end, command, line)];
}

function selector(text: string | undefined, family: Family, command: string, line: string): string | undefined {
  if (text === undefined) unparseable(command, line, 'missing prefix');
  if (text === 'all') return undefined;
  if (!/^[0-9a-f.:]+(?:\/\d+)?$/i.test(text)) unparseable(command, line, `bad prefix '${text}'`);
  return prefixWithLength(text, family);
}

export function parseRuleText(text: string, family: Family, command = `ip -${family} rule show`, options: TextParseOptions = {}): Rule[] {
  const rules: Rule[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const match = /^(\d+):\s+(.*)$/.exec(line.trim());
    if (!match) unparseable(command, line, 'no priority');
    const words = match[2].trim().split(/\s+/);
    const rule: Rule = { family, priority: Number(match[1]), not: false, action: 'lookup' };
    let table: number | undefined;
    let sawLookup = false;
    for (let i = 0; i < words.length; i++) {
      const word = words[i];
      switch (word) {
        case 'not': case '!': rule.not = true; break;
        case 'from': {
          const from = selector(words[++i], family, command, line);
          if (from) rule.from = from;
          break;
        }
        case 'to': {
          const to = selector(words[++i], family, command, line);
          if (to) rule.to = to;
          break;
        }
        case 'fwmark': {
          const [mark, mask] = (words[++i] ?? '').split('/');
          rule.fwmark = number(mark, command, line);
          rule.fwmask = mask === undefined ? 0xffffffff : number(mask, command, line);
          break;
        }
        case 'iif': rule.iif = words[++i]; break;
        case 'oif': rule.oif = words[++i]; break;
        case '[detached]': (rule.flags ??= []).push(words[i - 2] === 'oif' ? 'oif_detached' : 'iif_detached'); break;
        case 'tos': case 'dsfield': {
          const tos = number(words[++i], command, line);
          if (tos) rule.tos = tos;
          break;
        }
        case 'ipproto': {
          const proto = parseIpProto(words[++i] ?? '');
          if (proto === undefined) unparseable(command, line, `unknown ipproto '${words[i]}'`);
          rule.ipproto = proto;
          break;
        }
        case 'sport': rule.sport = portRange(words[++i], command, line); break;
        case 'dport': rule.dport = portRange(words[++i], command, line); break;
        case 'uidrange': rule.uidrange = portRange(words[++i], command, line); break;
        case 'lookup': case 'table': {
          sawLookup = true;
          const name = words[++i] ?? '';
          if (name === 'unspec' && options.flavour === 'busybox' && BUSYBOX_ACTION_WORDS[words[i + 1]]) {
            rule.action = BUSYBOX_ACTION_WORDS[words[++i]];
            break;
          }
          table = parseTable(name, options.tables);
          if (table === undefined) unparseable(command, line, `unknown table '${name}'`);
          break;
        }
        case 'goto': {
          rule.action = 'goto';
          const target = words[++i];
          if (target !== 'none') rule.gotoPriority = number(target, command, line);
          break;
        }
        case '[unresolved]': (rule.flags ??= []).push('unresolved'); break;
        case 'suppress_prefixlength': rule.suppressPrefixlen = number(words[++i], command, line); break;
        case 'suppress_ifgroup': rule.suppressIfgroup = number(words[++i], command, line); break;
        case 'proto': {
          const protocol = normaliseProtocol(words[++i] ?? '');
          if (protocol !== 'unspec' && protocol !== 'kernel') rule.protocol = protocol;
          break;
        }
        case 'realms': case 'tun_id': case 'map-to': i++; break;
        case 'l3mdev': break;
        default:
          if (RULE_ACTIONS.has(word)) rule.action = word as RuleAction;
          else unparseable(command, line, `unknown keyword '${word}'`);
      }
    }
    if (rule.action === 'lookup') {
      if (!sawLookup) unparseable(command, line, 'no action');
      if (table !== undefined) rule.table = table;
    }
    rules.push(rule);
  }
  return rules;
}

// --- the whole snapshot ----------------------------------------------------------------------

/**
 * What the collection script printed on stderr about a failed command: the first line naming the
 * program ("sh: ip: not found", "RTNETLINK answers: ..." lines follow the command that failed),
 * else the first line at all.
 */
function stderrReason(stderr: string, ip: string): string | undefined {
  const lines = stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  const program = ip.trim().split(/\s+/).pop()?.split('/').pop() ?? 'ip';
  const named = new RegExp(`(^|[^\\w-])${program.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([^\\w-]|$)`);
  return lines.find((line) => named.test(line)) ?? lines[0];
}

/** `stderr`, when given, is what the collection script printed there: a failure is reported with it. */
export function snapshotFromIpText(output: string, where = 'local', ip = 'ip', stderr = ''): Snapshot {
  const sections = splitSections(output);
  const section = (name: string, command: string, required: boolean): string => {
    const found = sections.get(name);
    if (!found) {
      if (!required) return '';
      throw new InputError(`\`${command}\` on ${where}: no output section (the collection script stopped early)`);
    }
    if (found.status !== undefined && found.status !== 0 && required) {
      const reason = stderrReason(stderr, ip);
      throw new CheckCouldNotRunError(`\`${command}\` failed on ${where} with exit code ${found.status}${reason ? `: ${reason}` : ''}`);
    }
    return found.status ? '' : found.text;
  };
  const flavour = detectFlavour(sections.get('version')?.text ?? '');
  const options: TextParseOptions = { flavour, tables: parseRtTables(sections.get('rt_tables')?.text ?? '') };
  const { links, addresses } = parseIpAddrText(section('addr', `${ip} addr show`, true), `${ip} addr show`);
  if (flavour === 'iproute2') {
    const kinds = parseLinkKinds(section('link-details', `${ip} -d link show`, false));
    for (const link of links) {
      const kind = kinds.get(link.name);
      if (kind) link.kind = kind;
    }
  }
  const routes = [
    ...parseRouteText(section('route4', `${ip} -4 route show table all`, true), 4, `${ip} -4 route show table all`, options),
    ...parseRouteText(section('route6', `${ip} -6 route show table all`, false), 6, `${ip} -6 route show table all`, options),
  ];
  const rules = [
    ...parseRuleText(section('rule4', `${ip} -4 rule show`, true), 4, `${ip} -4 rule show`, options),
    ...parseRuleText(section('rule6', `${ip} -6 rule show`, false), 6, `${ip} -6 rule show`, options),
  ];
  return {
    version: SNAPSHOT_VERSION,
    host: (sections.get('hostname')?.text ?? '').trim().split('\n')[0] || where,
    takenAt: new Date().toISOString(),
    source: 'ip-text',
    links,
    addresses,
    routes,
    rules,
    sysctls: parseSysctlLines(sections.get('sysctl')?.text ?? ''),
  };
}

/**
 * Runs the collection script through the runner (one ssh round trip for a remote host) and
 * parses it. NETMEND_IP names another `ip` to run, e.g. "busybox ip".
 */
export async function readIpTextSnapshot(runner: CommandRunner, options: { ip?: string; firewall?: boolean } = {}): Promise<Snapshot> {
  const ip = options.ip ?? process.env.NETMEND_IP ?? 'ip';
  if (!options.firewall) {
    const result = await runner.run('sh', ['-c', ipTextScript(ip)]);
    return snapshotFromIpText(result.stdout, runner.where, ip, result.stderr);
  }
  // The firewall rides on the same command (one ssh login for a whole snapshot).
  const { FIREWALL_SCRIPT, firewallFromSections } = await import('../netfilter/read.js');
  const result = await runner.run('sh', ['-c', `${ipTextScript(ip)}\n${FIREWALL_SCRIPT}`]);
  const snapshot = snapshotFromIpText(result.stdout, runner.where, ip, result.stderr);
  snapshot.firewall = firewallFromSections(splitSections(result.stdout), runner.where);
  return snapshot;
}
