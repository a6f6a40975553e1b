/**
 * Decoders for rtnetlink dump replies, reading each attribute in place (offsets into the reply
 * buffer) and producing the Snapshot's objects directly. Nothing is allocated per attribute:
 * on a 500k-route table that is what keeps time and memory below `ip -json`'s.
 */
import {
  addressFlagNames, ipv6RejectError, linkFlagNames, OPERSTATES, prefName, protocolName, routeFlagNames, routeTypeName, ruleActionName, scopeName,
} from '../snapshot/names.js';
import type { Address, Family, Link, Nexthop, Route, Rule } from '../snapshot/types.js';
import { formatHardware, formatIp, formatIpv4, formatIpv4Prefix, formatIpv6 } from './addresses.js';

const NLA_TYPE_MASK = 0x3fff;
const AF_INET = 2;

// Attribute walks over big dumps read little-endian fields byte by byte: Buffer.readUInt16LE's
// argument checks cost more than the read itself, half a million routes times a few attributes.
export function u16le(buffer: Buffer, at: number): number {
  return buffer[at] | (buffer[at + 1] << 8);
}

export function u32le(buffer: Buffer, at: number): number {
  return (buffer[at] | (buffer[at + 1] << 8) | (buffer[at + 2] << 16) | (buffer[at + 3] << 24)) >>> 0;
}

/** C string attribute (NUL terminated) at [start, end). */
function cString(buffer: Buffer, start: number, end: number): string {
  let stop = start;
  while (stop < end && buffer[stop] !== 0) stop++;
  return buffer.toString('utf8', start, stop);
}

// --- links -----------------------------------------------------------------------------------

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;

const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
/** ARPHRD types whose "hardware" address is an IP address (ipip, ip6tnl, sit, gre, ip6gre). */
const IP_TUNNEL_TYPES = new Set([768, 769, 776, 778, 823]);

/** A link plus the master's ifindex, resolved to a name once all links are known. */
export interface DecodedLink extends Link {
  masterIndex?: number;
}

export function decodeLink(buffer: Buffer, payload: number, end: number): DecodedLink | undefined {
  const arphrd = buffer.readUInt16LE(payload + 2);
  const index = buffer.readInt32LE(payload + 4);
  const flags = buffer.readUInt32LE(payload + 8);
  let name: string | undefined;
  let mtu = 0;
  let operstate = 0;
  let address: string | null = null;
  let kind: string | undefined;
  let masterIndex: number | undefined;
  for (let at = payload + 16; at + 4 <= end;) {
    const length = buffer.readUInt16LE(at);
    if (length < 4) break;
    const type = buffer.readUInt16LE(at + 2) & NLA_TYPE_MASK;
    const data = at + 4;
    const dataEnd = at + length;
    switch (type) {
      case IFLA_IFNAME: name = cString(buffer, data, dataEnd); break;
      case IFLA_MTU: mtu = buffer.readUInt32LE(data); break;
      case IFLA_OPERSTATE: operstate = buffer[data]; break;
      case IFLA_MASTER: masterIndex = buffer.readUInt32LE(data); break;
      case IFLA_ADDRESS:
        address = IP_TUNNEL_TYPES.has(arphrd) ? formatIp(buffer, data, length - 4) : formatHardware(buffer, data, length - 4);
        break;
      case IFLA_LINKINFO:
        for (let inner = data; inner + 4 <= dataEnd;) {
          const innerLength = buffer.readUInt16LE(inner);
          if (innerLength < 4) break;
          if ((buffer.readUInt16LE(inner + 2) & NLA_TYPE_MASK) === IFLA_INFO_KIND) kind = cString(buffer, inner + 4, inner + innerLength);
          inner += (innerLength + 3) & ~3;
        }
        break;
    }
    at += (length + 3) & ~3;
  }
  if (name === undefined) return undefined;
  const link: DecodedLink = {
    index,
    name,
    kind: kind ?? (arphrd === ARPHRD_LOOPBACK ? 'loopback' : arphrd === ARPHRD_ETHER ? 'ether' : 'none'),
    flags: linkFlagNames(flags),
    mtu,
    operstate: OPERSTATES[operstate] ?? String(operstate),
    address,
  };
  if (masterIndex) link.masterIndex = masterIndex;
  return link;
}

// --- addresses -------------------------------------------------------------------------------

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;

export function decodeAddress(buffer: Buffer, payload: number, end: number, linkName: (index: number) => string): Address | undefined {
  const familyByte = buffer[payload];
  if (familyByte !== AF_INET && familyByte !== 10) return undefined;
  const family: Family = familyByte === AF_INET ? 4 : 6;
  const prefixlen = buffer[payload + 1];
  let flags = buffer[payload + 2];
  const scope = buffer[payload + 3];
  const ifindex = buffer.readUInt32LE(payload + 4);
  let address: string | undefined;
  let local: string | undefined;
  for (let at = payload + 8; at + 4 <= end;) {
    const length = buffer.readUInt16LE(at);
    if (length < 4) break;
    const type = buffer.readUInt16LE(at + 2) & NLA_TYPE_MASK;
    if (type === IFA_ADDRESS) address = formatIp(buffer, at + 4, length - 4);
    else if (type === IFA_LOCAL) local = formatIp(buffer, at + 4, length - 4);
    else if (type === IFA_FLAGS) flags = buffer.readUInt32LE(at + 4);
    at += (length + 3) & ~3;
  }
  const shown = local ?? address;
  if (shown === undefined) return undefined;
  const result: Address = {
    ifindex,
    dev: linkName(ifindex),
    family,
    local: shown,
    prefixlen,
    scope: scopeName(scope),
    flags: addressFlagNames(flags, family),
  };
  // `ip` shows IFA_ADDRESS as the peer only when IFA_LOCAL is present and differs.
  if (local !== undefined && address !== undefined && address !== local) result.peer = address;
  return result;
}

// --- routes ----------------------------------------------------------------------------------

export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_MULTIPATH = 9;
export const RTA_CACHEINFO = 12;
export const RTA_TABLE = 15;
export const RTA_VIA = 18;
export const RTA_PREF = 20;
export const RTM_F_CLONED = 0x200;
const REJECT_TYPES = new Set([6, 7, 8, 9]);

const IPV4_ZERO_PREFIX = '0.0.0.0/0';
const IPV6_ZERO_PREFIX = '::/0';

/**
 * Decodes routes, caching the strings that repeat across a big table (gateways, prefsrcs) so
 * half a million routes through one gateway share one string.
 */
export class RouteDecoder {
  private readonly ipv4Cache = new Map<number, string>();
  constructor(private readonly linkName: (index: number) => string) {}

  private ipv4Shared(buffer: Buffer, offset: number): string {
    const key = buffer.readUInt32LE(offset);
    let text = this.ipv4Cache.get(key);
    if (text === undefined) {
      text = formatIpv4(buffer, offset);
      if (this.ipv4Cache.size < 65536) this.ipv4Cache.set(key, text);
    }
    return text;
  }

  private address(buffer: Buffer, offset: number, length: number): string {
    if (length === 4) return this.ipv4Shared(buffer, offset);
    return length === 16 ? formatIpv6(buffer, offset) : formatHardware(buffer, offset, length);
  }

  decode(buffer: Buffer, payload: number, end: number): Route | undefined {
    const familyByte = buffer[payload];
    const flags = buffer.readUInt32LE(payload + 8);
    if (flags & RTM_F_CLONED) return undefined; // cache entries: `ip route show` hides them too
    const family: Family = familyByte === AF_INET ? 4 : 6;
    const dstLength = buffer[payload + 1];
    const srcLength = buffer[payload + 2];
    let table = buffer[payload + 4];
    const typeNumber = buffer[payload + 7];
    let dst: string | undefined;
    let src: string | undefined;
    let gateway: string | undefined;
    let oif = 0;
    let metric = 0;
    let prefsrc: string | undefined;
    let pref = -1;
    let nexthops: Nexthop[] | undefined;
    let error: number | undefined;
    for (let at = payload + 12; at + 4 <= end;) {
      const length = buffer.readUInt16LE(at);
      if (length < 4) break;
      const data = at + 4;
      switch (buffer.readUInt16LE(at + 2) & NLA_TYPE_MASK) {
        case RTA_DST: dst = length === 8 ? formatIpv4Prefix(buffer, data, dstLength) : `${formatIp(buffer, data, length - 4)}/${dstLength}`; break;
        case RTA_SRC: src = `${formatIp(buffer, data, length - 4)}/${srcLength}`; break;
        case RTA_OIF: oif = buffer.readUInt32LE(data); break;
        case RTA_GATEWAY: gateway = this.address(buffer, data, length - 4); break;
        case RTA_VIA: gateway = this.address(buffer, data + 2, length - 6); break;
        case RTA_PRIORITY: metric = buffer.readUInt32LE(data); break;
        case RTA_PREFSRC: prefsrc = this.address(buffer, data, length - 4); break;
        case RTA_TABLE: table = buffer.readUInt32LE(data); break;
        case RTA_PREF: pref = buffer[data]; break;
        case RTA_CACHEINFO: if (length >= 20) error = buffer.readInt32LE(data + 12); break;
        case RTA_MULTIPATH: nexthops = this.nexthops(buffer, data, at + length); break;
      }
      at += (length + 3) & ~3;
    }
    const type = routeTypeName(typeNumber);
    const dstText = dst ?? (family === 4 ? IPV4_ZERO_PREFIX : IPV6_ZERO_PREFIX);
    const protocol = protocolName(buffer[payload + 5]);
    const scope = scopeName(buffer[payload + 6]);
    const flagNames = routeFlagNames(flags);
    // The shape of nearly every route in a big table (IPv4 via a gateway): one literal holding all
    // its fields keeps them in the object itself, with no separate property store to allocate.
    if (gateway !== undefined && oif && family === 4 && prefsrc === undefined && !nexthops && !srcLength) {
      return { family, table, type, dst: dstText, metric, protocol, scope, flags: flagNames, gateway, dev: this.linkName(oif) };
    }
    const route: Route = { family, table, type, dst: dstText, metric, protocol, scope, flags: flagNames };
    if (src !== undefined && srcLength) route.src = src;
    if (gateway !== undefined) route.gateway = gateway;
    if (oif) route.dev = this.linkName(oif);
    if (prefsrc !== undefined) route.prefsrc = prefsrc;
    if (pref >= 0) route.pref = prefName(pref);
    if (nexthops) route.nexthops = nexthops;
    // Dumps carry error 0 (the kernel fills it only for `ip route get`); it follows from the type.
    if (family === 6 && REJECT_TYPES.has(typeNumber)) route.error = error || ipv6RejectError(type);
    return route;
  }

  private nexthops(buffer: Buffer, start: number, end: number): Nexthop[] {
    const hops: Nexthop[] = [];
    for (let at = start; at + 8 <= end;) {
      const length = buffer.readUInt16LE(at);
      if (length < 8) break;
      const hop: Nexthop = {};
      for (let inner = at + 8; inner + 4 <= at + length;) {
        const innerLength = buffer.readUInt16LE(inner);
        if (innerLength < 4) break;
        const type = buffer.readUInt16LE(inner + 2) & NLA_TYPE_MASK;
        if (type === RTA_GATEWAY) hop.gateway = this.address(buffer, inner + 4, innerLength - 4);
        else if (type === RTA_VIA) hop.gateway = this.address(buffer, inner + 6, innerLength - 6);
        inner += (innerLength + 3) & ~3;
      }
      const ifindex = buffer.readInt32LE(at + 4);
      if (ifindex) hop.dev = this.linkName(ifindex);
      hop.weight = buffer[at + 3] + 1;
      hop.flags = routeFlagNames(buffer[at + 2]);
      hops.push(hop);
      at += (length + 3) & ~3;
    }
    return hops;
  }
}

// --- rules -----------------------------------------------------------------------------------

const FRA_DST = 1;
const FRA_SRC = 2;
const FRA_IIFNAME = 3;
const FRA_GOTO = 4;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_SUPPRESS_IFGROUP = 13;
const FRA_SUPPRESS_PREFIXLEN = 14;
const FRA_TABLE = 15;
const FRA_FWMASK = 16;
const FRA_OIFNAME = 17;
const FRA_UID_RANGE = 20;
const FRA_PROTOCOL = 21;
const FRA_IP_PROTO = 22;
const FRA_SPORT_RANGE = 23;
const FRA_DPORT_RANGE = 24;

const FIB_RULE_INVERT = 0x2;
const FIB_RULE_UNRESOLVED = 0x4;
const FIB_RULE_IIF_DETACHED = 0x8;
const FIB_RULE_OIF_DETACHED = 0x10;
const UNSET = 0xffffffff;
const RTPROT_KERNEL = 2;

export function decodeRule(buffer: Buffer, payload: number, end: number): Rule | undefined {
  const familyByte = buffer[payload];
  if (familyByte !== AF_INET && familyByte !== 10) return undefined;
  const family: Family = familyByte === AF_INET ? 4 : 6;
  const dstLength = buffer[payload + 1];
  const srcLength = buffer[payload + 2];
  const tos = buffer[payload + 3];
  let table = buffer[payload + 4];
  const actionNumber = buffer[payload + 7];
  const headerFlags = buffer.readUInt32LE(payload + 8);
  const action = ruleActionName(actionNumber);
  if (action === undefined) return undefined;
  const rule: Rule = { family, priority: 0, not: (headerFlags & FIB_RULE_INVERT) !== 0, action };
  let fwmark: number | undefined;
  let fwmask: number | undefined;
  let gotoPriority: number | undefined;
  for (let at = payload + 12; at + 4 <= end;) {
    const length = buffer.readUInt16LE(at);
    if (length < 4) break;
    const data = at + 4;
    switch (buffer.readUInt16LE(at + 2) & NLA_TYPE_MASK) {
      case FRA_PRIORITY: rule.priority = buffer.readUInt32LE(data); break;
      case FRA_SRC: rule.from = `${formatIp(buffer, data, length - 4)}/${srcLength}`; break;
      case FRA_DST: rule.to = `${formatIp(buffer, data, length - 4)}/${dstLength}`; break;
      case FRA_IIFNAME: rule.iif = cString(buffer, data, at + length); break;
      case FRA_OIFNAME: rule.oif = cString(buffer, data, at + length); break;
      case FRA_FWMARK: fwmark = buffer.readUInt32LE(data); break;
      case FRA_FWMASK: fwmask = buffer.readUInt32LE(data); break;
      case FRA_TABLE: table = buffer.readUInt32LE(data); break;
      case FRA_GOTO: gotoPriority = buffer.readUInt32LE(data); break;
      case FRA_SUPPRESS_PREFIXLEN: {
        const value = buffer.readUInt32LE(data);
        if (value !== UNSET) rule.suppressPrefixlen = value;
        break;
      }
      case FRA_SUPPRESS_IFGROUP: {
        const value = buffer.readUInt32LE(data);
        if (value !== UNSET) rule.suppressIfgroup = value;
        break;
      }
      case FRA_PROTOCOL: {
        // `ip rule` (without -d) leaves out unspec and kernel; so do we, so all sources agree.
        const protocol = buffer[data];
        if (protocol && protocol !== RTPROT_KERNEL) rule.protocol = protocolName(protocol);
        break;
      }
      case FRA_IP_PROTO: rule.ipproto = buffer[data]; break;
      case FRA_SPORT_RANGE: rule.sport = [buffer.readUInt16LE(data), buffer.readUInt16LE(data + 2)]; break;
      case FRA_DPORT_RANGE: rule.dport = [buffer.readUInt16LE(data), buffer.readUInt16LE(data + 2)]; break;
      case FRA_UID_RANGE: rule.uidrange = [buffer.readUInt32LE(data), buffer.readUInt32LE(data + 4)]; break;
    }
    at += (length + 3) & ~3;
  }
  if (fwmark !== undefined || fwmask !== undefined) {
    rule.fwmark = fwmark ?? 0;
    rule.fwmask = fwmask ?? UNSET;
  }
  if (tos) rule.tos = tos;
  if (action === 'lookup') rule.table = table;
  if (action === 'goto' && gotoPriority !== undefined) rule.gotoPriority = gotoPriority;
  const flags: string[] = [];
  if (headerFlags & FIB_RULE_UNRESOLVED) flags.push('unresolved');
  if (headerFlags & FIB_RULE_IIF_DETACHED) flags.push('iif_detached');
  if (headerFlags & FIB_RULE_OIF_DETACHED) flags.push('oif_detached');
  if (flags.length) rule.flags = flags;
  return rule;
}
