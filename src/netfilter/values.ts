/**
 * Values the evaluator compares: what a left-hand expression yields for a packet (its field type
 * says how to read the constants on the right), and nft's symbolic names for numbers
 * (nftables src/proto.c, ct.c, meta.c, fib.c symbol tables).
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../net/address.js';
import type { Json } from './types.js';

export type Symbols = Readonly<Record<string, number>>;

export const INET_PROTO: Symbols = {
  hopopt: 0, icmp: 1, igmp: 2, ggp: 3, ipencap: 4, st: 5, tcp: 6, egp: 8, igp: 9, pup: 12, udp: 17, hmp: 20, 'xns-idp': 22, rdp: 27,
  'iso-tp4': 29, dccp: 33, xtp: 36, ddp: 37, 'idpr-cmtp': 38, ipv6: 41, 'ipv6-route': 43, 'ipv6-frag': 44, idrp: 45, rsvp: 46,
  gre: 47, esp: 50, ah: 51, skip: 57, 'ipv6-icmp': 58, icmpv6: 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, rspf: 73, vmtp: 81, eigrp: 88,
  ospf: 89, 'ax.25': 93, ipip: 94, etherip: 97, encap: 98, pim: 103, ipcomp: 108, vrrp: 112, l2tp: 115, isis: 124, sctp: 132,
  fc: 133, 'mobility-header': 135, udplite: 136, 'mpls-in-ip': 137, manet: 138, hip: 139, shim6: 140, wesp: 141, rohc: 142,
  ethernet: 143, mptcp: 262,
};
export const NFPROTO: Symbols = { ipv4: 2, ipv6: 10, arp: 3, bridge: 7, inet: 1, netdev: 5 };
export const ETHERTYPE: Symbols = { ip: 0x0800, ip6: 0x86dd, arp: 0x0806, vlan: 0x8100, '8021ad': 0x88a8 };
export const PKTTYPE: Symbols = { host: 0, unicast: 0, broadcast: 1, multicast: 2, other: 3 };
export const CT_STATE: Symbols = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
export const CT_STATUS: Symbols = {
  expected: 1, 'seen-reply': 2, assured: 4, confirmed: 8, snat: 16, dnat: 32, 'seq-adjust': 64, 'snat-done': 128, 'dnat-done': 256,
  dying: 512, 'fixed-timeout': 1024, helper: 8192, offload: 16384, 'hw-offload': 32768,
};
export const CT_DIRECTION: Symbols = { original: 0, reply: 1 };
export const TCP_FLAGS: Symbols = { fin: 1, syn: 2, rst: 4, psh: 8, ack: 16, urg: 32, ecn: 64, cwr: 128 };
export const ICMP_TYPE: Symbols = {
  'echo-reply': 0, 'destination-unreachable': 3, 'source-quench': 4, redirect: 5, 'echo-request': 8, 'router-advertisement': 9,
  'router-solicitation': 10, 'time-exceeded': 11, 'parameter-problem': 12, 'timestamp-request': 13, 'timestamp-reply': 14,
  'info-request': 15, 'info-reply': 16, 'address-mask-request': 17, 'address-mask-reply': 18,
};
export const ICMPV6_TYPE: Symbols = {
  'destination-unreachable': 1, 'packet-too-big': 2, 'time-exceeded': 3, 'parameter-problem': 4, 'echo-request': 128,
  'echo-reply': 129, 'mld-listener-query': 130, 'mld-listener-report': 131, 'mld-listener-done': 132, 'mld-listener-reduction': 132,
  'nd-router-solicit': 133, 'nd-router-advert': 134, 'nd-neighbor-solicit': 135, 'nd-neighbor-advert': 136, 'nd-redirect': 137,
  'router-renumbering': 138, 'ind-neighbor-solicit': 141, 'ind-neighbor-advert': 142, 'mld2-listener-report': 143,
};
export const DSCP: Symbols = {
  cs0: 0, cs1: 8, cs2: 16, cs3: 24, cs4: 32, cs5: 40, cs6: 48, cs7: 56, be: 0, lephb: 1, af11: 10, af12: 12, af13: 14, af21: 18,
  af22: 20, af23: 22, af31: 26, af32: 28, af33: 30, af41: 34, af42: 36, af43: 38, ef: 46, va: 44,
};
export const ROUTE_TYPE: Symbols = { unspec: 0, unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8 };
export const DEV_TYPE: Symbols = { ether: 1, ppp: 512, ipip: 768, ipip6: 769, loopback: 772, sit: 776, ipgre: 778, none: 65534 };

export type FieldKind = 'ipv4' | 'ipv6' | 'int' | 'flags' | 'ifname' | 'bool' | 'string';

/** How the constants compared with a field are read. */
export interface FieldType {
  kind: FieldKind;
  symbols?: Symbols;
}

export type Scalar = number | bigint | string | boolean;
export type Value = Scalar | Value[];

/** A field's value for this packet, with its type (a concatenation has one type per part). */
export interface Typed {
  value: Value;
  type: FieldType | FieldType[];
}

/** A symbolic or numeric constant of a field ('tcp', 'echo-request', '0x40000', 22). */
function number(type: FieldType, json: Json): number | undefined {
  if (typeof json === 'number') return json;
  if (typeof json === 'boolean') return json ? 1 : 0;
  if (Array.isArray(json)) {
    // A list of flags (`ct state established,related`, `tcp flags syn,ack`) is their union.
    let bits = 0;
    for (const item of json) {
      const one = number(type, item);
      if (one === undefined) return undefined;
      bits |= one;
    }
    return bits >>> 0;
  }
  if (typeof json !== 'string') return undefined;
  if (type.symbols && Object.hasOwn(type.symbols, json)) return type.symbols[json];
  if (/^0x[0-9a-f]+$/i.test(json)) return parseInt(json.slice(2), 16);
  if (/^\d+$/.test(json)) return Number(json);
  return undefined;
}

/** A constant of the given field type, or undefined when it cannot be read as one. */
export function parseScalar(type: FieldType, json: Json): Scalar | undefined {
  switch (type.kind) {
    case 'ipv4': return typeof json === 'string' ? parseIPv4(json) : undefined;
    case 'ipv6': return typeof json === 'string' ? parseIPv6(json) : undefined;
    case 'int':
    case 'flags': return number(type, json);
    case 'ifname':
    case 'string': return typeof json === 'string' ? json : typeof json === 'number' ? String(json) : undefined;
    case 'bool': return typeof json === 'boolean' ? json : json === 'exists' ? true : json === 'missing' ? false : undefined;
  }
}

/** Lowest and highest value of a `{"prefix": …}` or `{"range": […]}`, in the field's terms. */
export function parseInterval(type: FieldType, json: Json): [number | bigint, number | bigint] | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  if ('prefix' in json) {
    const prefix = json.prefix as { addr: Json; len: Json };
    const base = parseScalar(type, prefix.addr);
    const length = Number(prefix.len);
    if (typeof base === 'number' && type.kind === 'ipv4') {
      const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
      const low = (base & mask) >>> 0;
      return [low, (low | (~mask >>> 0)) >>> 0];
    }
    if (typeof base === 'bigint') {
      const hostBits = BigInt(128 - length);
      const low = (base >> hostBits) << hostBits;
      return [low, low | ((1n << hostBits) - 1n)];
    }
    return undefined;
  }
  if ('range' in json && Array.isArray(json.range)) {
    const low = parseScalar(type, json.range[0]);
    const high = parseScalar(type, json.range[1]);
    if ((typeof low === 'number' || typeof low === 'bigint') && typeof low === typeof high) return [low, high as number | bigint];
  }
  return undefined;
}

/** An interface name pattern: nft matches `"wg*"` as a prefix. */
export function ifnameMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith('*') && !pattern.endsWith('\\*')) return name.startsWith(pattern.slice(0, -1));
  return pattern.replace(/\\\*/g, '*') === name;
}

export function sameScalar(a: Scalar, b: Scalar, type: FieldType): boolean {
  if (type.kind === 'ifname' && typeof a === 'string' && typeof b === 'string') return ifnameMatches(b, a);
  return a === b;
}

/** A short text of a packet value for explanations. */
export function showValue(typed: Typed): string {
  const show = (value: Value, type: FieldType | FieldType[]): string => {
    if (Array.isArray(value)) return value.map((part, i) => show(part, Array.isArray(type) ? type[i] : type)).join(' . ');
    const t = Array.isArray(type) ? type[0] : type;
    if (t.kind === 'ipv4' && typeof value === 'number') return formatIPv4(value);
    if (t.kind === 'ipv6' && typeof value === 'bigint') return formatIPv6(value);
    if (t.kind === 'ifname' || t.kind === 'string') return `"${value}"`;
    if (t.kind === 'bool') return value ? 'exists' : 'missing';
    if (typeof value === 'number' && t.symbols) {
      if (t.kind === 'flags') {
        const names = Object.entries(t.symbols).filter(([, bit]) => bit && (value & bit) === bit).map(([name]) => name);
        if (names.length) return names.join(',');
      } else {
        const name = Object.entries(t.symbols).find(([, n]) => n === value)?.[0];
        if (name) return name;
      }
    }
    return typeof value === 'number' && value > 0xffff ? `0x${value.toString(16)}` : String(value);
  };
  return show(typed.value, typed.type);
}
