/**
 * Expressions and statements of one rule, evaluated on one packet (K: nf_tables_core.c
 * nft_do_chain and the nft_* expression modules). A rule's statements run left to right: a
 * failed match ends the rule ("no match"), a verdict ends it with that verdict. What netmend
 * cannot evaluate is returned as `unknown` with the expression named, never guessed.
 */
import { formatAddress, parseAddress, type ParsedAddress } from '../net/address.js';
import { expr as renderExpr, statement as renderStatement } from './render.js';
import { lookupSet } from './sets.js';
import { hasPorts, IPPROTO, type PacketState } from './packet.js';
import type { ChainType, Hook, Json, NftSet, NftTable } from './types.js';
import {
  CT_DIRECTION, CT_STATE, CT_STATUS, DSCP, ETHERTYPE, ICMP_TYPE, ICMPV6_TYPE, INET_PROTO, NFPROTO, PKTTYPE, ROUTE_TYPE, TCP_FLAGS,
  parseInterval, parseScalar, sameScalar, showValue, type FieldType, type Scalar, type Typed, type Value,
} from './values.js';

/** What the evaluator needs from the host: routing for `fib`, addresses for masquerade/redirect. */
export interface HostView {
  /** `fib` expression result for the packet: oif name ('' for none) or route type name. */
  fib(flags: readonly string[], result: 'oif' | 'oifname' | 'type', packet: PacketState): { value: Scalar; why: string } | { unknown: string };
  /** Source address masquerade picks on the packet's oif, toward the packet's next hop. */
  masqueradeAddress(packet: PacketState): ParsedAddress | undefined;
  /** Destination address `redirect` uses: the primary address of the incoming interface. */
  redirectAddress(packet: PacketState): ParsedAddress | undefined;
}

export interface EvalContext {
  table: NftTable;
  hook: Hook;
  chainType: ChainType;
  host: HostView;
}

/** A field's value, or why it is absent (the expression "breaks": the rule does not match). */
type Field = { typed: Typed } | { missing: string } | { unknown: string };

const T = {
  ipv4: { kind: 'ipv4' } as FieldType,
  ipv6: { kind: 'ipv6' } as FieldType,
  int: { kind: 'int' } as FieldType,
  ifname: { kind: 'ifname' } as FieldType,
  bool: { kind: 'bool' } as FieldType,
  proto: { kind: 'int', symbols: INET_PROTO } as FieldType,
};

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function addressValue(address: ParsedAddress): Typed {
  return { value: address.value, type: address.family === 4 ? T.ipv4 : T.ipv6 };
}

const num = (value: number, type: FieldType = T.int): Field => ({ typed: { value, type } });

function metaField(key: string, p: PacketState): Field {
  switch (key) {
    // Without a device the kernel stores an empty name / index 0 (nft_meta_store_ifname): no break.
    case 'iifname': case 'iif': return { typed: { value: p.iif ?? '', type: T.ifname } };
    case 'oifname': case 'oif': return { typed: { value: p.oif ?? '', type: T.ifname } };
    case 'mark': return num(p.mark);
    case 'l4proto': return num(p.l4proto, T.proto);
    case 'nfproto': return num(p.family === 4 ? NFPROTO.ipv4 : NFPROTO.ipv6, { kind: 'int', symbols: NFPROTO });
    case 'protocol': return num(p.family === 4 ? ETHERTYPE.ip : ETHERTYPE.ip6, { kind: 'int', symbols: ETHERTYPE });
    case 'skuid': return p.skuid !== undefined ? num(p.skuid) : { missing: 'a forwarded packet has no socket (skuid)' };
    case 'skgid': return p.skgid !== undefined ? num(p.skgid) : { missing: 'a forwarded packet has no socket (skgid)' };
    case 'pkttype': return num(p.pkttype, { kind: 'int', symbols: PKTTYPE });
    case 'nftrace': return num(p.nftrace);
    case 'priority': return num(0);
    case 'iifgroup': return p.iif !== undefined ? num(0) : { missing: 'no input interface' };
    case 'oifgroup': return p.oif !== undefined ? num(0) : { missing: 'no output interface' };
    default: return { unknown: `meta ${key}` };
  }
}

function payloadField(protocol: string, field: string, p: PacketState): Field {
  const l4 = (need: number, name: string): Field | undefined =>
    p.l4proto === need ? undefined : { missing: `not a ${name} packet (protocol ${showValue({ value: p.l4proto, type: T.proto })})` };
  switch (protocol) {
    case 'ip':
      if (p.family !== 4) return { missing: 'not an IPv4 packet' };
      switch (field) {
        case 'saddr': return { typed: addressValue(p.saddr) };
        case 'daddr': return { typed: addressValue(p.daddr) };
        case 'protocol': return num(p.l4proto, T.proto);
        case 'ttl': return num(p.ttl);
        case 'dscp': return num(p.dscp, { kind: 'int', symbols: DSCP });
        case 'ecn': return num(0);
        case 'version': return num(4);
        case 'hdrlength': return num(5);
      }
      break;
    case 'ip6':
      if (p.family !== 6) return { missing: 'not an IPv6 packet' };
      switch (field) {
        case 'saddr': return { typed: addressValue(p.saddr) };
        case 'daddr': return { typed: addressValue(p.daddr) };
        case 'nexthdr': return num(p.l4proto, T.proto);
        case 'hoplimit': return num(p.ttl);
        case 'dscp': return num(p.dscp, { kind: 'int', symbols: DSCP });
        case 'ecn': return num(0);
        case 'version': return num(6);
      }
      break;
    case 'tcp': case 'udp': case 'udplite': case 'sctp': case 'dccp': {
      const missing = l4(INET_PROTO[protocol], protocol);
      if (missing) return missing;
      if (field === 'sport' && p.sport !== undefined) return num(p.sport);
      if (field === 'dport' && p.dport !== undefined) return num(p.dport);
      if (protocol === 'tcp' && field === 'flags') return num(p.tcpFlags ?? 0, { kind: 'flags', symbols: TCP_FLAGS });
      break;
    }
    case 'th':
      if (!hasPorts(p.l4proto)) return { unknown: `th ${field} on a ${showValue({ value: p.l4proto, type: T.proto })} packet` };
      if (field === 'sport' && p.sport !== undefined) return num(p.sport);
      if (field === 'dport' && p.dport !== undefined) return num(p.dport);
      break;
    case 'icmp': case 'icmpv6': {
      const need = protocol === 'icmp' ? IPPROTO.icmp : IPPROTO.icmpv6;
      if ((protocol === 'icmp' ? 4 : 6) !== p.family || p.l4proto !== need) return { missing: `not an ${protocol} packet` };
      if (field === 'type') return num(p.icmpType ?? 0, { kind: 'int', symbols: protocol === 'icmp' ? ICMP_TYPE : ICMPV6_TYPE });
      if (field === 'code') return num(p.icmpCode ?? 0);
      break;
    }
  }
  return { unknown: `${protocol} ${field}` };
}

function ctField(body: { key: string; dir?: string }, p: PacketState): Field {
  const ct = p.ct;
  if (body.key === 'state') return num(ct.state, { kind: 'flags', symbols: CT_STATE });
  if (ct.state === CT_STATE.untracked) return { missing: 'the packet is untracked (notrack): no conntrack entry' };
  const tuple = body.dir === 'reply' ? { saddr: undefined, daddr: undefined } : ct.original;
  switch (body.key) {
    case 'status': return num(ct.status, { kind: 'flags', symbols: CT_STATUS });
    case 'mark': return num(ct.mark);
    case 'direction': return num(ct.direction, { kind: 'int', symbols: CT_DIRECTION });
    case 'l3proto': return num(p.family === 4 ? NFPROTO.ipv4 : NFPROTO.ipv6, { kind: 'int', symbols: NFPROTO });
    case 'protocol': return num(p.l4proto, T.proto);
    case 'zone': return num(0);
    case 'saddr': case 'ip saddr': case 'ip6 saddr':
      return tuple.saddr ? { typed: addressValue(tuple.saddr) } : { unknown: `ct ${body.dir ?? ''} saddr` };
    case 'daddr': case 'ip daddr': case 'ip6 daddr':
      return tuple.daddr ? { typed: addressValue(tuple.daddr) } : { unknown: `ct ${body.dir ?? ''} daddr` };
    case 'proto-src': return body.dir !== 'reply' && ct.original.sport !== undefined ? num(ct.original.sport) : { unknown: 'ct proto-src' };
    case 'proto-dst': return body.dir !== 'reply' && ct.original.dport !== undefined ? num(ct.original.dport) : { unknown: 'ct proto-dst' };
    default: return { unknown: `ct ${body.key}` };
  }
}

function binop(op: string, a: number, b: number): number {
  switch (op) {
    case '&': return (a & b) >>> 0;
    case '|': return (a | b) >>> 0;
    case '^': return (a ^ b) >>> 0;
    case '<<': return (a << b) >>> 0;
    default: return a >>> b;
  }
}

/** The value of a left-hand (or value) expression for this packet. */
export function field(e: Json, p: PacketState, context: EvalContext): Field {
  if (!isObject(e)) return { unknown: `expression ${JSON.stringify(e)}` };
  const [kind] = Object.keys(e);
  const body = e[kind];
  switch (kind) {
    case 'meta': return metaField(String((body as { key: string }).key), p);
    case 'payload': {
      const b = body as { protocol?: string; field?: string };
      if (!b.protocol || !b.field) return { unknown: `raw payload ${renderExpr(e)}` };
      return payloadField(b.protocol, b.field, p);
    }
    case 'ct': return ctField(body as { key: string; dir?: string }, p);
    case 'fib': {
      const b = body as { result: string; flags?: Json };
      const flags = (Array.isArray(b.flags) ? b.flags : b.flags ? [b.flags] : []).map(String);
      if (b.result !== 'oif' && b.result !== 'oifname' && b.result !== 'type') return { unknown: `fib ${b.result}` };
      const found = context.host.fib(flags, b.result, p);
      if ('unknown' in found) return found;
      if (b.result === 'type') return { typed: { value: found.value, type: { kind: 'int', symbols: ROUTE_TYPE } } };
      // `fib ... oif` compared with true/false (exists/missing), or with an interface name.
      return { typed: { value: found.value, type: T.ifname } };
    }
    case 'concat': {
      const values: Value[] = [];
      const types: FieldType[] = [];
      for (const part of body as Json[]) {
        const one = field(part, p, context);
        if (!('typed' in one)) return one;
        values.push(one.typed.value);
        types.push(one.typed.type as FieldType);
      }
      return { typed: { value: values, type: types } };
    }
    case '&': case '|': case '^': case '<<': case '>>': {
      const [left, right] = body as Json[];
      const inner = field(left, p, context);
      if (!('typed' in inner)) return inner;
      const type = inner.typed.type as FieldType;
      if (typeof inner.typed.value !== 'number') return { unknown: `${kind} on ${renderExpr(left)}` };
      let operand: number | undefined;
      if (isObject(right)) {
        const other = field(right, p, context);
        if (!('typed' in other)) return other;
        operand = typeof other.typed.value === 'number' ? other.typed.value : undefined;
      } else operand = parseScalar({ kind: 'int', symbols: type.symbols }, right) as number | undefined;
      if (operand === undefined) return { unknown: `${kind} with ${JSON.stringify(right)}` };
      return { typed: { value: binop(kind, inner.typed.value, operand), type } };
    }
    case 'map': {
      const b = body as { key: Json; data: Json };
      const key = field(b.key, p, context);
      if (!('typed' in key)) return key;
      const hit = setLookup(b.data, key.typed, context, true);
      if ('unknown' in hit) return hit;
      if (!hit.found) return { missing: `${showValue(key.typed)} is not a key of the map` };
      return { typed: { value: hit.data as Value, type: { kind: 'string' } } };
    }
    default:
      return { unknown: renderExpr(e) };
  }
}

/** Looks a value up in `@name` or an anonymous `{"set": […]}`. */
function setLookup(right: Json, typed: Typed, context: EvalContext, isMap: boolean): { found: boolean; data?: Json } | { unknown: string } {
  const types = Array.isArray(typed.type) ? typed.type : [typed.type];
  let owner: object;
  let elements: Json[];
  if (typeof right === 'string' && right.startsWith('@')) {
    const set: NftSet | undefined = context.table.sets.get(right.slice(1));
    if (!set) return { unknown: `set ${right}, which the ruleset does not list` };
    owner = set;
    elements = set.elem;
  } else if (isObject(right) && 'set' in right) {
    owner = right;
    elements = Array.isArray(right.set) ? right.set : [right.set];
  } else return { unknown: `lookup in ${JSON.stringify(right)}` };
  const hit = lookupSet(owner, elements, typed.value, types, isMap);
  if (!hit.found && hit.unreadable) return { unknown: `${typeof right === 'string' ? right : 'an anonymous set'}: ${hit.unreadable}` };
  return hit;
}

export type MatchResult = { matched: true; why: string } | { matched: false; why: string } | { unknown: string };

/** A `match` statement: left op right. */
export function evaluateMatch(body: { op: string; left: Json; right: Json }, p: PacketState, context: EvalContext): MatchResult {
  const left = field(body.left, p, context);
  const shown = renderStatement({ match: body } as Json);
  if ('unknown' in left) return { unknown: left.unknown };
  if ('missing' in left) return { matched: false, why: `${shown}: ${left.missing}` };
  const typed = left.typed;
  const type = (Array.isArray(typed.type) ? typed.type[0] : typed.type) as FieldType;
  const right = body.right;
  const have = showValue(typed);
  let hit: boolean;
  if ((typeof right === 'string' && right.startsWith('@')) || (isObject(right) && 'set' in right)) {
    const found = setLookup(right, typed, context, false);
    if ('unknown' in found) return found;
    hit = found.found;
  } else if (isObject(right) && ('prefix' in right || 'range' in right)) {
    const interval = parseInterval(type, right);
    if (!interval || (typeof typed.value !== 'number' && typeof typed.value !== 'bigint')) return { unknown: `${shown} (cannot read ${JSON.stringify(right)})` };
    hit = typed.value >= interval[0] && typed.value <= interval[1];
  } else if (isObject(right)) {
    const other = field(right, p, context);
    if (!('typed' in other)) return 'unknown' in other ? other : { matched: false, why: `${shown}: ${other.missing}` };
    hit = typed.value === other.typed.value;
  } else if (typeof right === 'boolean') {
    // `fib … oif exists|missing`: whether the lookup found an interface.
    hit = (typed.value !== '' && typed.value !== 0) === right;
  } else {
    const constant = Array.isArray(typed.value) ? undefined : parseScalar(type, right);
    if (constant === undefined) return { unknown: `${shown} (cannot read ${JSON.stringify(right)} as ${type.kind})` };
    const value = typed.value as Scalar;
    switch (body.op) {
      case 'in':
        hit = type.kind === 'flags' || Array.isArray(right) ? ((value as number) & (constant as number)) !== 0 : sameScalar(value, constant, type);
        break;
      case '==': case '!=':
        hit = sameScalar(value, constant, type);
        break;
      case '<': hit = (value as number) < (constant as number); break;
      case '>': hit = (value as number) > (constant as number); break;
      case '<=': hit = (value as number) <= (constant as number); break;
      case '>=': hit = (value as number) >= (constant as number); break;
      default: return { unknown: `operator ${body.op}` };
    }
    if (body.op === '!=') hit = !hit;
    return hit ? { matched: true, why: `${shown}: is ${have}` } : { matched: false, why: `${shown}: is ${have}` };
  }
  if (body.op === '!=') hit = !hit;
  else if (body.op !== '==' && body.op !== 'in') return { unknown: `operator ${body.op} with a set` };
  return hit ? { matched: true, why: `${shown}: ${have} matches` } : { matched: false, why: `${shown}: ${have} does not match` };
}

/** A value written by a statement (`mark set …`, a NAT target): a constant or an expression. */
export function statementValue(e: Json, type: FieldType, p: PacketState, context: EvalContext): { value: Value } | { missing: string } | { unknown: string } {
  if (isObject(e) && !('prefix' in e) && !('range' in e)) {
    const got = field(e, p, context);
    if ('typed' in got) {
      const value = got.typed.value;
      // Map data arrive as JSON constants: read them in the written field's type.
      if (typeof value === 'string' && type.kind !== 'string' && type.kind !== 'ifname') {
        const parsed = parseScalar(type, value);
        return parsed === undefined ? { unknown: `value ${value}` } : { value: parsed };
      }
      return { value };
    }
    return got;
  }
  if (isObject(e)) {
    const interval = parseInterval(type, e);
    if (!interval) return { unknown: `value ${JSON.stringify(e)}` };
    return { value: interval[0] as Scalar };
  }
  const parsed = parseScalar(type, e);
  return parsed === undefined ? { unknown: `value ${JSON.stringify(e)}` } : { value: parsed };
}

export function addressFromValue(value: Value, family: 4 | 6): ParsedAddress | undefined {
  if (typeof value === 'number' && family === 4) return { family: 4, value };
  if (typeof value === 'bigint' && family === 6) return { family: 6, value };
  if (typeof value === 'string') {
    const parsed = parseAddress(value);
    return parsed && parsed.family === family ? parsed : undefined;
  }
  return undefined;
}

export { formatAddress };
