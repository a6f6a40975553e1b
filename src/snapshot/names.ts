/**
 * The kernel's numbers and the names `ip` prints for them, shared by every reader so a snapshot
 * says the same thing whichever source produced it. Tables follow iproute2's built-in ones.
 */
import type { Family, RouteType, RuleAction } from './types.js';

export const ROUTE_TYPES: readonly RouteType[] = [
  // index = rtm_type; 0 (RTN_UNSPEC) and the unused 10/11 are mapped to 'unicast' by routeTypeName
  'unicast', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat',
];

export function routeTypeName(type: number): RouteType {
  return ROUTE_TYPES[type] ?? 'unicast';
}

const ROUTE_TYPE_NUMBERS: Record<string, number> = { unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8, throw: 9, nat: 10 };

/** A type as `ip` prints it (a name, or a number with -N) to our name. */
export function parseRouteType(text: string | undefined): RouteType | undefined {
  if (text === undefined) return 'unicast';
  if (/^\d+$/.test(text)) return ROUTE_TYPES[Number(text)];
  return text in ROUTE_TYPE_NUMBERS ? (text as RouteType) : undefined;
}

const PROTOCOLS: Record<number, string> = {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra',
  12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 17: 'mrouted', 18: 'keepalived', 42: 'babel',
  99: 'openr', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp',
};
const PROTOCOL_NAMES = new Map(Object.entries(PROTOCOLS).map(([n, name]) => [name, Number(n)]));

export function protocolName(protocol: number): string {
  return PROTOCOLS[protocol] ?? String(protocol);
}

/** A protocol as printed (name or number) to our canonical name. */
export function normaliseProtocol(text: string): string {
  if (/^\d+$/.test(text)) return protocolName(Number(text));
  return text;
}

export function protocolNumber(name: string): number | undefined {
  return /^\d+$/.test(name) ? Number(name) : PROTOCOL_NAMES.get(name);
}

const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

export function scopeName(scope: number): string {
  return SCOPES[scope] ?? String(scope);
}

/** `ip` prints "universe" in some places and "global" in others; both are scope 0. */
export function normaliseScope(text: string): string {
  if (/^\d+$/.test(text)) return scopeName(Number(text));
  return text === 'universe' ? 'global' : text;
}

/** Table as printed: main/local/default, a number, or a name from rt_tables when given. */
export function parseTable(text: string, extraNames?: ReadonlyMap<string, number>): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  switch (text) {
    case 'main': return 254;
    case 'local': return 255;
    case 'default': return 253;
    case 'unspec': return 0;
  }
  return extraNames?.get(text);
}

export const PREFS: Record<number, string> = { 0: 'medium', 1: 'high', 3: 'low' };
export function prefName(pref: number): string {
  return PREFS[pref] ?? String(pref);
}

/** Route and nexthop flags in the order `ip` prints them (RTNH_F_* low byte, RTM_F_* above). */
export const ROUTE_FLAG_BITS: ReadonlyArray<[number, string]> = [
  [0x1, 'dead'], [0x4, 'onlink'], [0x2, 'pervasive'], [0x8, 'offload'], [0x40, 'trap'], [0x100, 'notify'],
  [0x10, 'linkdown'], [0x20, 'unresolved'], [0x4000, 'rt_offload'], [0x8000, 'rt_trap'], [0x20000000, 'rt_offload_failed'],
];

/**
 * Shared by every route without flags (nearly all of them): one array instead of half a million
 * on a big table. Frozen, so a consumer that tries to modify it fails loudly instead of
 * changing every route at once.
 */
const NO_FLAGS: string[] = Object.freeze([]) as unknown as string[];
export function routeFlagNames(flags: number): string[] {
  if ((flags & 0x2000c17f) === 0) return NO_FLAGS;
  const names: string[] = [];
  for (const [bit, name] of ROUTE_FLAG_BITS) if (flags & bit) names.push(name);
  return names;
}

/** Interface flags in `ip link` order; NO-CARRIER first when UP without RUNNING. */
const LINK_FLAG_BITS: ReadonlyArray<[number, string]> = [
  [0x8, 'LOOPBACK'], [0x2, 'BROADCAST'], [0x10, 'POINTOPOINT'], [0x1000, 'MULTICAST'], [0x80, 'NOARP'],
  [0x200, 'ALLMULTI'], [0x100, 'PROMISC'], [0x400, 'MASTER'], [0x800, 'SLAVE'], [0x4, 'DEBUG'], [0x8000, 'DYNAMIC'],
  [0x4000, 'AUTOMEDIA'], [0x2000, 'PORTSEL'], [0x20, 'NOTRAILERS'], [0x1, 'UP'], [0x10000, 'LOWER_UP'],
  [0x20000, 'DORMANT'], [0x40000, 'ECHO'],
];

export function linkFlagNames(flags: number): string[] {
  const names: string[] = [];
  if (flags & 0x1 && !(flags & 0x40)) names.push('NO-CARRIER');
  let rest = flags & ~0x40;
  for (const [bit, name] of LINK_FLAG_BITS) {
    if (rest & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest) names.push(rest.toString(16));
  return names;
}

export const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** Address flags with the names `ip addr` prints; "dynamic" means IFA_F_PERMANENT is NOT set. */
export function addressFlagNames(flags: number, family: Family): string[] {
  const names: string[] = [];
  if (flags & 0x01) names.push(family === 6 ? 'temporary' : 'secondary');
  if (flags & 0x02) names.push('nodad');
  if (flags & 0x04) names.push('optimistic');
  if (flags & 0x08) names.push('dadfailed');
  if (flags & 0x10) names.push('home');
  if (flags & 0x20) names.push('deprecated');
  if (flags & 0x40) names.push('tentative');
  if (!(flags & 0x80)) names.push('dynamic');
  if (flags & 0x100) names.push('mngtmpaddr');
  if (flags & 0x200) names.push('noprefixroute');
  if (flags & 0x400) names.push('autojoin');
  if (flags & 0x800) names.push('stable-privacy');
  return names;
}

/** Address flag names in the order addressFlagNames produces them, for readers of `ip` output. */
export const ADDRESS_FLAG_ORDER = ['secondary', 'temporary', 'nodad', 'optimistic', 'dadfailed', 'home', 'deprecated', 'tentative', 'dynamic', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'stable-privacy'];

/** FR_ACT_* numbers to our action names. */
export function ruleActionName(action: number): RuleAction | undefined {
  switch (action) {
    case 1: return 'lookup';
    case 2: return 'goto';
    case 3: return 'nop';
    case 6: return 'blackhole';
    case 7: return 'unreachable';
    case 8: return 'prohibit';
  }
  return undefined;
}

const IP_PROTOCOLS: Record<string, number> = {
  ip: 0, icmp: 1, igmp: 2, ipip: 4, tcp: 6, egp: 8, udp: 17, ipv6: 41, gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58,
  ospf: 89, pim: 103, sctp: 132, udplite: 136, mpls: 137,
};

/** An ipproto as `ip rule` prints it: "tcp", "ipproto-6" (with -N) or a number. */
export function parseIpProto(text: string): number | undefined {
  const numeric = /^(?:ipproto-)?(\d+)$/.exec(text);
  if (numeric) return Number(numeric[1]);
  return IP_PROTOCOLS[text.toLowerCase()];
}

/**
 * The error the kernel reports for an IPv6 reject route is fixed by its type (ip6_route_info_create);
 * text sources cannot print it, so every reader derives it the same way and the netlink reader
 * cross-checks it against RTA_CACHEINFO.
 */
export function ipv6RejectError(type: RouteType): number | undefined {
  switch (type) {
    case 'unreachable': return -113; // EHOSTUNREACH
    case 'prohibit': return -13; // EACCES
    case 'blackhole': return -22; // EINVAL
    case 'throw': return -11; // EAGAIN
  }
  return undefined;
}

/** "default" or a bare address as `ip` prints them, to a prefix with its length. */
export function prefixWithLength(text: string, family: Family): string {
  if (text === 'default' || text === 'all') return family === 4 ? '0.0.0.0/0' : '::/0';
  if (text.includes('/')) return text;
  return `${text}/${family === 4 ? 32 : 128}`;
}

/** Link kind for a link without IFLA_INFO_KIND, from its ARPHRD type as `ip` names it. */
export function kindFromLinkType(linkType: string): string {
  if (linkType === 'loopback') return 'loopback';
  if (linkType === 'ether') return 'ether';
  return 'none';
}
