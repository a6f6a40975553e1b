/**
 * The typed snapshot of a host's routing state. Every doctor check, the route simulator and
 * every fix read this and nothing else, so a saved snapshot (`netmend snapshot --out`) can be
 * analysed anywhere. All three readers (netlink, `ip -json`, plain `ip` text) produce exactly
 * this shape; field values are normalised to what `ip -json` would print where the two agree.
 */

import type { FirewallState } from './firewall.js';

export type Family = 4 | 6;

/** The source a snapshot was read from. */
export type SnapshotSource = 'netlink' | 'ip-json' | 'ip-text' | 'file';

/** 2 adds `firewall`; version 1 files still load, with the firewall unknown. */
export const SNAPSHOT_VERSION = 2;
export const SNAPSHOT_VERSIONS: readonly number[] = [1, 2];

export interface Snapshot {
  version: 1 | 2;
  /** Host name where the state was read (`hostname` of the live host or the ssh target). */
  host: string;
  /** ISO time the snapshot was taken. */
  takenAt: string;
  source: SnapshotSource;
  links: Link[];
  addresses: Address[];
  routes: Route[];
  rules: Rule[];
  sysctls: Sysctls;
  /** Netfilter state (snapshot version 2); absent when unknown (version 1, or not read). */
  firewall?: FirewallState;
}

export interface Link {
  index: number;
  name: string;
  /**
   * Link kind from IFLA_INFO_KIND ('veth', 'wireguard', 'tun', 'bridge', 'vlan', ...); 'loopback'
   * for lo, 'ether' for a plain device without a kind, 'none' for other kindless devices.
   */
  kind: string;
  /** Interface flags as `ip` prints them: UP, LOWER_UP, POINTOPOINT, NOARP, MULTICAST, ... */
  flags: string[];
  mtu: number;
  /** UP, DOWN, UNKNOWN, LOWERLAYERDOWN, ... */
  operstate: string;
  /** Hardware address in lower-case hex with colons, or null for tun/wireguard. */
  address: string | null;
  /** Name of the master device (bridge, vrf), when any. */
  master?: string;
}

export interface Address {
  ifindex: number;
  dev: string;
  family: Family;
  /** The address without prefix length, canonical text (ipaddr.js toString for IPv6). */
  local: string;
  prefixlen: number;
  /** Peer address of a point-to-point address, when different from local. */
  peer?: string;
  /** host, link, global, site, nowhere, or a number. */
  scope: string;
  /** Address flags: permanent, dynamic, noprefixroute, tentative, dadfailed, deprecated, ... */
  flags: string[];
}

export type RouteType =
  | 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast'
  | 'blackhole' | 'unreachable' | 'prohibit' | 'throw' | 'nat';

export interface Nexthop {
  gateway?: string;
  dev?: string;
  weight?: number;
  /** Nexthop flags: onlink, linkdown, dead, pervasive. */
  flags?: string[];
}

export interface Route {
  family: Family;
  /** Table number: 254 main, 255 local, 253 default, others as configured. */
  table: number;
  type: RouteType;
  /** Destination prefix in canonical form with its length: "10.0.0.0/24", "0.0.0.0/0", "::/0". */
  dst: string;
  /** Source prefix for IPv6 source-specific routes ("from"), when any. */
  src?: string;
  gateway?: string;
  dev?: string;
  /** Preferred source address (`src` in `ip route`). */
  prefsrc?: string;
  /** Route priority; `ip` omits a 0 metric for IPv4, so 0 means none. */
  metric: number;
  /** kernel, boot, static, dhcp, ra, bird, ... or a number as text. */
  protocol: string;
  /** host, link, global (universe), nowhere, site, or a number as text. */
  scope: string;
  /** Route flags: onlink, linkdown, dead, ... */
  flags: string[];
  /** IPv6 router preference: low, medium, high. */
  pref?: string;
  /** Multipath routes: one entry per nexthop; gateway/dev above are then unset. */
  nexthops?: Nexthop[];
  /** Error of an IPv6 reject route as the kernel reports it (e.g. -113). */
  error?: number;
}

export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';

export interface Rule {
  family: Family;
  priority: number;
  /** Inverted selector (`not`). */
  not: boolean;
  /** Source prefix "10.0.0.0/8"; absent means all. */
  from?: string;
  /** Destination prefix; absent means all. */
  to?: string;
  iif?: string;
  oif?: string;
  /** Firewall mark and mask; a mark without an explicit mask has mask 0xffffffff. */
  fwmark?: number;
  fwmask?: number;
  tos?: number;
  ipproto?: number;
  sport?: [number, number];
  dport?: [number, number];
  uidrange?: [number, number];
  /** 'lookup' consults `table`; 'goto' jumps to the rule at `gotoPriority`. */
  action: RuleAction;
  table?: number;
  gotoPriority?: number;
  suppressPrefixlen?: number;
  suppressIfgroup?: number;
  /** kernel, boot, static, ... when the kernel reports it. */
  protocol?: string;
  /** Rule flags from the dump, e.g. 'unresolved' for a goto whose target is missing. */
  flags?: string[];
}

export interface InterfaceSysctls {
  /** net.ipv4.conf.IF.forwarding */
  forwarding4?: number;
  /** net.ipv6.conf.IF.forwarding */
  forwarding6?: number;
  /** net.ipv4.conf.IF.rp_filter */
  rpFilter?: number;
  /** net.ipv6.conf.IF.addr_gen_mode */
  addrGenMode?: number;
  /** net.ipv6.conf.IF.disable_ipv6 */
  disableIpv6?: number;
}

export interface Sysctls {
  /** net.ipv4.ip_forward */
  ipForward?: number;
  /** net.ipv6.conf.all.forwarding */
  ipv6Forwarding?: number;
  /** Keyed by interface name, plus 'all' and 'default'. */
  interfaces: Record<string, InterfaceSysctls>;
}

export const TABLE_IDS: Readonly<Record<string, number>> = { unspec: 0, default: 253, main: 254, local: 255 };

export function tableName(id: number): string {
  for (const [name, value] of Object.entries(TABLE_IDS)) if (value === id && name !== 'unspec') return name;
  return String(id);
}
