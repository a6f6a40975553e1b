/**
 * The kernel's policy-routing decision, simulated over a snapshot and explained step by step.
 *
 * Follows net/core/fib_rules.c (fib_rules_lookup, fib_rule_match), net/ipv4/fib_rules.c and
 * fib_trie.c (fib4_rule_action/suppress, fib_table_lookup), net/ipv4/route.c (output and input
 * paths, fib_validate_source) and net/ipv6/fib6_rules.c / route.c. Kernel facts that surprise:
 * - locally generated traffic is matched with iif `lo`; a forwarded packet with its real iif;
 * - `not` inverts the whole selector (iif, oif, fwmark, uidrange, from, to together);
 * - an IPv4 rule `from P` is compared with source 0.0.0.0 when the query has no source, while an
 *   IPv6 rule with a `from` prefix never matches without a source;
 * - a throw route, a table that does not exist and a lookup that finds nothing all continue with
 *   the next rule; unreachable/prohibit/blackhole routes end the walk with EHOSTUNREACH/EACCES/
 *   EINVAL, the same rule actions with ENETUNREACH/EACCES/EINVAL; no rule at all: ENETUNREACH;
 * - suppress_prefixlength rejects a found route whose prefix is that long or shorter (only
 *   successful lookups, not reject routes);
 * - a forwarded IPv4 packet (iif) needs forwarding on that interface (else EHOSTUNREACH), a
 *   unicast result, and a source that passes fib_validate_source (EINVAL for a local source and,
 *   on current kernels that report every martian source as EINVAL, for an rp_filter failure).
 */
import { InputError } from '../errors.js';
import { formatAddress, formatIPv4, isIPv4Multicast, isIPv6LinkLocal, isIPv6Multicast, maskIPv4, parseAddress, prefixContains, type ParsedAddress, type ParsedPrefix } from '../net/address.js';
import { formatMark, formatRoute, formatRule } from '../snapshot/format.js';
import { tableName, type Family, type Route, type Rule, type Snapshot } from '../snapshot/types.js';
import { indexSnapshot, longestMatch, tableKey, type SnapshotIndex } from './index.js';
import { scopeNumber, selectIPv4Source, selectIPv6Source } from './source.js';
import type { RouteDecision, RouteErrorName, RouteQuery, RouteResult, RouteStep } from './types.js';

/** The uid the kernel puts in the flow of `ip route get` run as root, and of forwarded IPv4 packets. */
const ROOT_UID = 0;
/** INVALID_UID: what `ip -6 route get ... iif X` matches uidrange rules with. */
const INVALID_UID = 0xffffffff;

export const ERROR_TEXT: Record<RouteErrorName, string> = {
  ENETUNREACH: 'Network is unreachable',
  EHOSTUNREACH: 'No route to host',
  EACCES: 'Permission denied',
  EINVAL: 'Invalid argument',
  EXDEV: 'Invalid cross-device link',
};

const ERRNO_BY_NUMBER: Record<number, RouteErrorName> = { 101: 'ENETUNREACH', 113: 'EHOSTUNREACH', 13: 'EACCES', 22: 'EINVAL', 18: 'EXDEV' };

interface Flow {
  family: Family;
  dst: ParsedAddress;
  src?: ParsedAddress;
  /** Interface the packet comes in on: `lo` for locally generated traffic. */
  iif: string;
  oif?: string;
  /**
   * RT6_LOOKUP_F_IFACE: with an output interface (a zone) the IPv6 lookup only accepts routes
   * through it, for link-local, multicast and loopback destinations and whenever no source is given.
   */
  strictOif?: boolean;
  mark: number;
  uid: number;
  forwarded: boolean;
}

type WalkOutcome =
  | { ok: true; rule: Rule; route: Route; table: number; prefixLength: number }
  | { ok: false; error: RouteErrorName; rule?: Rule; route?: Route; table?: number; why: string };

function describeAddress(address: ParsedAddress | undefined, family: Family): string {
  if (address) return formatAddress(address);
  return family === 4 ? '0.0.0.0 (no source)' : 'none';
}

/** Why a rule's selector matches the flow or not, as fib_rule_match decides (before `not`). */
function selectorMatch(index: SnapshotIndex, rule: Rule, flow: Flow): { matched: boolean; reason: string } {
  const reasons: string[] = [];
  if (rule.iif) {
    if (rule.iif !== 'lo' && !index.links.has(rule.iif)) return { matched: false, reason: `iif ${rule.iif} does not exist, so the rule never matches` };
    if (rule.iif !== flow.iif) {
      const where = flow.forwarded ? `the packet comes in on ${flow.iif}` : 'locally generated traffic has iif lo';
      return { matched: false, reason: `iif ${rule.iif} does not match: ${where}` };
    }
    reasons.push(`iif ${rule.iif} matches`);
  }
  if (rule.oif) {
    if (rule.oif !== flow.oif) return { matched: false, reason: `oif ${rule.oif} does not match: ${flow.oif ? `oif is ${flow.oif}` : 'the lookup has no output interface'}` };
    reasons.push(`oif ${rule.oif} matches`);
  }
  if (rule.fwmark !== undefined || rule.fwmask !== undefined) {
    const mark = (rule.fwmark ?? 0) >>> 0;
    const mask = (rule.fwmask ?? 0xffffffff) >>> 0;
    const shown = formatMark(mark, mask);
    if (((mark ^ flow.mark) & mask) >>> 0 !== 0) return { matched: false, reason: `fwmark ${shown} does not match mark ${formatMark(flow.mark)}` };
    reasons.push(`fwmark ${shown} matches mark ${formatMark(flow.mark)}`);
  }
  if (rule.uidrange) {
    const [start, end] = rule.uidrange;
    const full = start === 0 && end >>> 0 === 0xffffffff;
    if (flow.uid < start || flow.uid > end >>> 0) return { matched: false, reason: `uidrange ${start}-${end} does not contain uid ${flow.uid}` };
    if (!full) reasons.push(`uidrange ${start}-${end} contains uid ${flow.uid}`);
  }
  if (rule.ipproto || rule.sport || rule.dport) {
    return { matched: false, reason: 'ipproto/sport/dport selectors need a protocol and ports, which the lookup does not have' };
  }
  if (rule.tos) return { matched: false, reason: `tos 0x${rule.tos.toString(16)} does not match tos 0x0` };
  const to = index.ruleTo.get(rule);
  if (rule.to && to !== null && to !== undefined && to.length > 0) {
    if (!prefixContains(to, flow.dst)) return { matched: false, reason: `to ${rule.to} does not contain ${formatAddress(flow.dst)}` };
    reasons.push(`to ${rule.to} contains ${formatAddress(flow.dst)}`);
  }
  const from = index.ruleFrom.get(rule);
  if (rule.from && from !== null && from !== undefined && from.length > 0) {
    if (flow.family === 6 && !flow.src) return { matched: false, reason: `from ${rule.from} never matches an IPv6 lookup without a source address` };
    const source: ParsedAddress = flow.src ?? { family: 4, value: 0 };
    if (!prefixContains(from, source)) return { matched: false, reason: `from ${rule.from} does not contain source ${describeAddress(flow.src, flow.family)}` };
    reasons.push(`from ${rule.from} contains source ${formatAddress(source)}`);
  }
  return { matched: true, reason: reasons.length ? reasons.join(', ') : 'matches all traffic' };
}

function ruleMatches(index: SnapshotIndex, rule: Rule, flow: Flow): { matched: boolean; reason: string } {
  const selector = selectorMatch(index, rule, flow);
  if (!rule.not) return selector;
  return { matched: !selector.matched, reason: `not: ${selector.reason}, inverted` };
}

function routeIsUsable(route: Route, flow: Flow): boolean {
  if (route.flags?.includes('dead')) return false;
  if (flow.strictOif && !routeDevices(route).includes(flow.oif!)) return false;
  if (route.nexthops?.length && route.nexthops.every((hop) => hop.flags?.includes('dead'))) return false;
  if (flow.family === 6 && route.src && route.src !== '::/0') {
    const source: ParsedAddress = flow.src ?? { family: 6, value: 0n };
    const srcPrefix = parseAddress(route.src.split('/')[0]);
    if (!srcPrefix) return false;
    const length = Number(route.src.split('/')[1] ?? 128);
    return prefixContains({ family: 6, value: srcPrefix.value as bigint, length } as ParsedPrefix, source);
  }
  return true;
}

/** fib_table_lookup / fib6_table_lookup: longest prefix, then lowest metric, then table order. */
function lookupTable(index: SnapshotIndex, table: number, flow: Flow): { route: Route; prefixLength: number; candidates: number } | undefined | null {
  const tableIndex = index.tables.get(tableKey(flow.family, table));
  if (!tableIndex) return null;
  const found = longestMatch(tableIndex, flow.dst, (route) => routeIsUsable(route, flow));
  if (!found) return undefined;
  // Lowest metric; among equal metrics the first in table order, as the kernel's alias list
  // (IPv6 prefers a route through the output interface among those: rt6_score_route).
  let best = found.routes[0];
  for (const route of found.routes) {
    if (route.metric < best.metric) best = route;
    else if (route.metric === best.metric && flow.oif && !routeDevices(best).includes(flow.oif) && routeDevices(route).includes(flow.oif)) best = route;
  }
  return { route: best, prefixLength: found.length, candidates: found.routes.length };
}

function routeError(route: Route): RouteErrorName | 'EAGAIN' | undefined {
  switch (route.type) {
    case 'throw': return 'EAGAIN';
    case 'unreachable': return route.error ? ERRNO_BY_NUMBER[-route.error] ?? 'EHOSTUNREACH' : 'EHOSTUNREACH';
    case 'prohibit': return 'EACCES';
    case 'blackhole': return 'EINVAL';
    default: return undefined;
  }
}

function ruleActionError(rule: Rule): RouteErrorName | undefined {
  switch (rule.action) {
    case 'unreachable': return 'ENETUNREACH';
    case 'prohibit': return 'EACCES';
    case 'blackhole': return 'EINVAL';
    default: return undefined;
  }
}

/** The route's (first) output device, for suppress_ifgroup and reverse-path checks. */
function routeDev(route: Route): string | undefined {
  return route.dev ?? route.nexthops?.find((hop) => hop.dev)?.dev;
}

function routeDevices(route: Route): string[] {
  const devs = route.nexthops?.flatMap((hop) => (hop.dev ? [hop.dev] : [])) ?? [];
  return route.dev ? [route.dev, ...devs] : devs;
}

/** fib_rules_lookup: walk the rules; steps (when given) receive the explanation. */
function walkRules(index: SnapshotIndex, flow: Flow, steps?: RouteStep[]): WalkOutcome {
  const rules = index.rules[flow.family];
  for (let i = 0; i < rules.length; i++) {
    let rule = rules[i];
    let match = ruleMatches(index, rule, flow);
    steps?.push({ kind: 'rule', priority: rule.priority, verdict: match.matched ? 'matched' : 'no-match', text: formatRule(rule), reason: match.reason });
    if (!match.matched) continue;
    // goto jumps to the first rule of the target priority, which must itself match.
    while (rule.action === 'goto') {
      const target = rules.findIndex((candidate, j) => j > i && candidate.priority === rule.gotoPriority);
      if (target < 0) {
        steps?.push({ kind: 'rule', priority: rule.priority, verdict: 'no-match', text: formatRule(rule), reason: `goto ${rule.gotoPriority}: no rule has that priority, so the rule is skipped` });
        break;
      }
      i = target;
      rule = rules[i];
      match = ruleMatches(index, rule, flow);
      steps?.push({ kind: 'rule', priority: rule.priority, verdict: match.matched ? 'goto' : 'no-match', text: formatRule(rule), reason: `jumped here by goto; ${match.reason}` });
      if (!match.matched) break;
    }
    if (!match.matched || rule.action === 'goto') continue;
    if (rule.action === 'nop') {
      steps?.push({ kind: 'rule', priority: rule.priority, verdict: 'no-route', text: formatRule(rule), reason: 'nop: continue with the next rule' });
      continue;
    }
    const actionError = ruleActionError(rule);
    if (actionError) {
      steps?.push({ kind: 'rule', priority: rule.priority, verdict: 'error', text: formatRule(rule), reason: `the rule's action is ${rule.action}: ${actionError} (${ERROR_TEXT[actionError]})` });
      return { ok: false, error: actionError, rule, why: `rule ${rule.priority} ${rule.action}` };
    }
    const table = rule.table ?? 254;
    const found = lookupTable(index, table, flow);
    if (found === null || found === undefined) {
      steps?.push({
        kind: 'table', table, verdict: 'no-route', text: `table ${tableName(table)}`,
        reason: found === null ? 'the table has no routes of this family: continue with the next rule' : `no route in table ${tableName(table)} contains ${formatAddress(flow.dst)}: continue with the next rule`,
      });
      continue;
    }
    const { route, prefixLength, candidates } = found;
    const choice = `longest prefix /${prefixLength}${candidates > 1 ? `, lowest metric of ${candidates} routes with that prefix` : ''}`;
    const error = routeError(route);
    if (error === 'EAGAIN') {
      steps?.push({ kind: 'table', table, verdict: 'throw', text: formatRoute(route), reason: `${choice}: a throw route, continue with the next rule` });
      continue;
    }
    if (error) {
      steps?.push({ kind: 'table', table, verdict: 'error', text: formatRoute(route), reason: `${choice}: a ${route.type} route: ${error} (${ERROR_TEXT[error]})` });
      return { ok: false, error, rule, route, table, why: `${route.type} route ${route.dst} in table ${tableName(table)}` };
    }
    if (rule.suppressPrefixlen !== undefined && rule.suppressPrefixlen >= 0 && prefixLength <= rule.suppressPrefixlen) {
      steps?.push({ kind: 'table', table, verdict: 'suppressed', text: formatRoute(route), reason: `${choice}, but suppress_prefixlength ${rule.suppressPrefixlen} rejects prefixes of length ${rule.suppressPrefixlen} or less: continue with the next rule` });
      continue;
    }
    // The snapshot has no interface groups; every device is in group 0 (the kernel default).
    if (rule.suppressIfgroup !== undefined && rule.suppressIfgroup >= 0 && rule.suppressIfgroup === 0 && routeDev(route)) {
      steps?.push({ kind: 'table', table, verdict: 'suppressed', text: formatRoute(route), reason: `${choice}, but suppress_ifgroup 0 rejects routes through devices of group 0: continue with the next rule` });
      continue;
    }
    steps?.push({ kind: 'table', table, verdict: 'chosen', text: formatRoute(route), reason: choice });
    return { ok: true, rule, route, table, prefixLength };
  }
  return { ok: false, error: 'ENETUNREACH', why: 'no rule gave a route' };
}

function sysctl(snapshot: Snapshot, dev: string, key: 'forwarding4' | 'forwarding6' | 'rpFilter' | 'srcValidMark'): number | undefined {
  return snapshot.sysctls?.interfaces?.[dev]?.[key];
}

function ipv4Forwarding(snapshot: Snapshot, dev: string): boolean {
  return (sysctl(snapshot, dev, 'forwarding4') ?? snapshot.sysctls?.ipForward ?? 0) !== 0;
}

const DEFAULT_RULES_4 = new Set(['0:255', '32766:254', '32767:253']);

/** fib4_has_custom_rules: any IPv4 rule beyond the three the kernel starts with. */
function hasCustomRules4(index: SnapshotIndex): boolean {
  return index.rules[4].some((rule) => !(rule.action === 'lookup' && !rule.not && !rule.from && !rule.to && !rule.iif && !rule.oif
    && rule.fwmark === undefined && DEFAULT_RULES_4.has(`${rule.priority}:${rule.table}`)));
}

function isLocalIPv4(index: SnapshotIndex, address: ParsedAddress): boolean {
  const found = lookupTable(index, 255, { family: 4, dst: address, iif: 'lo', mark: 0, uid: 0, forwarded: false });
  return !!found && found.route.type === 'local';
}

/**
 * fib_validate_source for a forwarded or locally delivered IPv4 packet: the reverse lookup
 * (destination = the packet's source) must not end at a local or broadcast route, and under
 * rp_filter it must go back out of the interface the packet came in on.
 */
function validateSourceIPv4(snapshot: Snapshot, index: SnapshotIndex, flow: Flow, oif: string | undefined, broadcast = false): { error?: RouteErrorName; reason: string } {
  const src = flow.src!;
  const rpf = Math.max(sysctl(snapshot, 'all', 'rpFilter') ?? 0, sysctl(snapshot, flow.iif, 'rpFilter') ?? 0);
  if (rpf === 0 && flow.iif !== oif && !hasCustomRules4(index) && !index.customLocalRoutes4) {
    if ((index.addressesByDev.size > 0) && [...index.addressesByDev.values()].some((list) => list.some((a) => a.family === 4 && a.local === formatAddress(src)))) {
      return { error: 'EINVAL', reason: `source ${formatAddress(src)} is one of this host's own addresses (martian source)` };
    }
    return { reason: 'source accepted (rp_filter off)' };
  }
  // For a broadcast the kernel validates with destination 0.0.0.0, so from-rules see no source.
  const reverseSource: ParsedAddress = broadcast ? { family: 4, value: 0 } : flow.dst;
  // IN_DEV_SRC_VMARK (all OR the interface): the reverse lookup carries the packet's mark, so
  // fwmark rules can send it back the way a marked reply leaves; otherwise it looks up with mark 0.
  const validMark = Math.max(sysctl(snapshot, 'all', 'srcValidMark') ?? 0, sysctl(snapshot, flow.iif, 'srcValidMark') ?? 0) !== 0;
  const reverseMark = validMark ? flow.mark : 0;
  const withMark = reverseMark ? ` with mark ${formatMark(reverseMark)} (src_valid_mark=1)` : !validMark && flow.mark ? ` (src_valid_mark=0: the lookup ignores the packet's mark ${formatMark(flow.mark)})` : '';
  const reverse = walkRules(index, { family: 4, dst: src, src: reverseSource, iif: oif ?? 'lo', mark: reverseMark, uid: ROOT_UID, forwarded: false });
  if (!reverse.ok) {
    return rpf ? { error: 'EINVAL', reason: `rp_filter ${rpf}: no route back to source ${formatAddress(src)}${withMark} (reverse path filter drops it as a martian source)` } : { reason: 'source accepted (no route back, but rp_filter is off)' };
  }
  if (reverse.route.type !== 'unicast') {
    return { error: 'EINVAL', reason: `the route back to source ${formatAddress(src)} is ${reverse.route.type} (martian source)` };
  }
  const backDevs = [reverse.route.dev, ...(reverse.route.nexthops ?? []).map((hop) => hop.dev)].filter(Boolean);
  if (backDevs.includes(flow.iif)) return { reason: `the route back to ${formatAddress(src)}${withMark} goes out of ${flow.iif}` };
  if (!(index.addressesByDev.get(flow.iif) ?? []).some((a) => a.family === 4)) {
    return rpf ? { error: 'EINVAL', reason: `rp_filter ${rpf}: ${flow.iif} has no IPv4 address (reverse path filter)` } : { reason: 'source accepted' };
  }
  if (rpf === 1) return { error: 'EINVAL', reason: `rp_filter 1 (strict): the route back to ${formatAddress(src)}${withMark} goes out of ${backDevs.join(',') || 'nowhere'}, not ${flow.iif} (martian source)` };
  return { reason: rpf === 2 ? 'rp_filter 2 (loose): a route back to the source exists' : 'source accepted (rp_filter off)' };
}

/** The source the kernel picks for a route without `src`: fib_result_prefsrc / ip6_route_get_saddr. */
function preferredSource(index: SnapshotIndex, route: Route, destination: ParsedAddress, gateway?: string): string | undefined {
  if (route.prefsrc) return route.prefsrc;
  const dev = routeDev(route);
  if (destination.family === 6) return selectIPv6Source(index, dev, destination.value);
  return selectIPv4Source(index, dev, gateway ? parseAddress(gateway) : undefined, scopeNumber(route.scope));
}

export interface ParsedQuery {
  family: Family;
  destination: ParsedAddress;
  source?: ParsedAddress;
  /** The interface a scoped destination (fe80::1%eth0) names: the output interface. */
  zone?: string;
}

/** The interface named by an address's zone ("eth0", or an ifindex as getaddrinfo allows). */
function zoneInterface(snapshot: Snapshot, zone: string, address: string): string {
  const link = snapshot.links.find((candidate) => candidate.name === zone) ?? (/^\d+$/.test(zone) ? snapshot.links.find((candidate) => candidate.index === Number(zone)) : undefined);
  if (!link) throw new InputError(`destination ${address}: no interface named '${zone}' (the zone after % is the output interface)`, `interfaces: ${snapshot.links.map((candidate) => candidate.name).join(', ') || 'none'}`);
  return link.name;
}

/** A destination as the user writes it: an address, for IPv6 optionally with a %zone. Syntax only. */
export function parseDestination(text: string): { address: ParsedAddress; zone?: string } {
  const percent = text.indexOf('%');
  const address = parseAddress(percent < 0 ? text : text.slice(0, percent));
  if (!address) throw new InputError(`destination '${text}' is not an IPv4 or IPv6 address`, 'give an address such as 10.0.0.1 or 2001:db8::1, without a prefix length');
  if (percent < 0) return { address };
  if (address.family !== 6) throw new InputError(`destination '${text}': only IPv6 addresses take a zone (%interface)`);
  const zone = text.slice(percent + 1);
  if (zone === '') throw new InputError(`destination '${text}' has an empty zone`, 'write the output interface after %, e.g. fe80::1%eth0');
  return { address, zone };
}

/** Validates a query against the snapshot; bad syntax or an unknown interface is an InputError. */
export function parseQuery(snapshot: Snapshot, query: RouteQuery): ParsedQuery {
  const parsed = parseDestination(query.destination);
  const destination = parsed.address;
  const zone = parsed.zone === undefined ? undefined : zoneInterface(snapshot, parsed.zone, query.destination);
  let source: ParsedAddress | undefined;
  if (query.from !== undefined) {
    if (query.from.includes('%')) throw new InputError(`--from: '${query.from}' has a zone; give the zone on the destination (it names the output interface)`);
    source = parseAddress(query.from);
    if (!source) throw new InputError(`--from: '${query.from}' is not an IPv4 or IPv6 address`);
    if (source.family !== destination.family) throw new InputError(`--from ${query.from} is IPv${source.family} but the destination ${query.destination} is IPv${destination.family}`);
  }
  if (query.iif !== undefined && query.iif !== 'lo' && !snapshot.links.some((link) => link.name === query.iif)) {
    throw new InputError(`--iif: no interface named '${query.iif}'`, `interfaces: ${snapshot.links.map((link) => link.name).join(', ') || 'none'}`);
  }
  if (query.mark !== undefined && (!Number.isInteger(query.mark) || query.mark < 0 || query.mark > 0xffffffff)) {
    throw new InputError(`--mark: '${query.mark}' is not a 32-bit mark`);
  }
  return { family: destination.family, destination, source, zone };
}

const LIMITED_BROADCAST = 0xffffffff;
/** ipv4_is_zeronet: since Linux 5.3 only 0.0.0.0 itself; the rest of 0.0.0.0/8 is ordinary unicast. */
const isZeronet = (value: number) => value === 0;
const isLoopback4 = (value: number) => value >>> 24 === 0x7f;

/** The kernel's routing decision for one query, with the steps that led to it. */
export function simulateRoute(snapshot: Snapshot, query: RouteQuery): RouteDecision {
  // The snapshot is treated as immutable: its index is built on first use and cached.
  const { family, destination, source, zone } = parseQuery(snapshot, query);
  const index = indexSnapshot(snapshot);
  const forwarded = query.iif !== undefined && query.iif !== 'lo';
  const flow: Flow = {
    family, dst: destination, src: source, iif: query.iif ?? 'lo', oif: zone, mark: (query.mark ?? 0) >>> 0,
    uid: family === 6 && forwarded ? INVALID_UID : ROOT_UID, forwarded,
  };
  if (zone && family === 6) {
    const dst = destination.value as bigint;
    flow.strictOif = !source || isIPv6Multicast(dst) || isIPv6LinkLocal(dst) || dst === 1n;
  }
  const steps: RouteStep[] = [];
  const decision = (result: RouteResult, extra: { rule?: Rule; route?: Route; reason: string; verdict?: RouteStep['verdict'] }): RouteDecision => {
    steps.push({ kind: 'final', verdict: extra.verdict ?? (result.type === 'error' ? 'error' : 'chosen'), text: formatResult(query, result), reason: extra.reason });
    return { destination: formatAddress(destination), family, result, rule: extra.rule, route: extra.route, steps };
  };
  const fail = (error: RouteErrorName, reason: string, rule?: Rule, route?: Route, table?: number) =>
    decision(table === undefined ? { type: 'error', error } : { type: 'error', error, table }, { rule, route, reason });
  /** A result the kernel builds without consulting any table (RTA_TABLE 0). */
  const direct = (type: RouteResult['type'], dev: string, reason: string, prefsrc?: string) =>
    decision(prefsrc ? { type, dev, prefsrc } : { type, dev }, { reason });

  if (family === 4) {
    const dst = destination.value as number;
    const src = source?.value as number | undefined;
    if (forwarded) {
      const special = forwardedIPv4Special(snapshot, index, flow, dst, src ?? 0);
      if (special) return special.error ? fail(special.error, special.reason) : direct(special.type!, 'lo', special.reason);
    } else if (src !== undefined && src !== 0) {
      if (isIPv4Multicast(src) || src === LIMITED_BROADCAST) return fail('EINVAL', 'a multicast or broadcast source address is invalid');
      if (isIPv4Multicast(dst) || dst === LIMITED_BROADCAST) {
        // ip_route_output_key: multicast and limited broadcast leave through the device that
        // owns the source address, without a routing lookup.
        const owner = snapshot.addresses.find((address) => address.family === 4 && address.local === formatAddress(source!));
        if (!owner) return fail('ENETUNREACH', `source ${query.from} is not an address of this host, so the kernel refuses the lookup`);
        const type = dst === LIMITED_BROADCAST ? 'broadcast' : 'multicast';
        return direct(type, owner.dev, `${type} to ${formatAddress(destination)} from ${query.from} leaves through ${owner.dev}, the device that owns the source (no table is consulted)`);
      }
      if (!isLocalIPv4(index, source!)) return fail('ENETUNREACH', `source ${query.from} is not an address of this host, so the kernel refuses the lookup`);
    }
    if (!forwarded && dst === 0) {
      return direct('local', 'lo', `0.0.0.0 means this host: the kernel sends it over lo to ${src ? query.from : '127.0.0.1'} without consulting any table`, src ? undefined : '127.0.0.1');
    }
  }

  const outcome = walkRules(index, flow, steps);
  if (!outcome.ok) {
    if (family === 4 && forwarded && !ipv4Forwarding(snapshot, flow.iif)) {
      return fail('EHOSTUNREACH', `${outcome.why}; and forwarding is off on ${flow.iif}, which makes every failed input lookup EHOSTUNREACH`, outcome.rule, outcome.route);
    }
    return fail(outcome.error, `${outcome.why}: ${outcome.error} (${ERROR_TEXT[outcome.error]})`, outcome.rule, outcome.route, outcome.table);
  }
  const { rule, route, table, prefixLength } = outcome;
  const isLocalDelivery = route.type === 'local' || (family === 6 && route.type === 'anycast') || (forwarded && route.type === 'broadcast');
  const dev = isLocalDelivery ? 'lo' : routeDev(route);
  let gateway = route.gateway ?? route.nexthops?.find((hop) => hop.gateway)?.gateway;
  const multipath = route.nexthops && route.nexthops.length > 1 ? ' (multipath: the kernel picks a nexthop by flow hash; the first is shown)' : '';

  if (family === 4 && forwarded) {
    if (route.type === 'local' || route.type === 'broadcast') {
      const check = validateSourceIPv4(snapshot, index, flow, undefined, route.type === 'broadcast');
      if (check.error) return fail(check.error, check.reason, rule, route);
    } else {
      if (!ipv4Forwarding(snapshot, flow.iif)) return fail('EHOSTUNREACH', `forwarding is off on ${flow.iif} (net.ipv4.conf.${flow.iif}.forwarding=0): the packet is not routed`, rule, route);
      if (route.type !== 'unicast') return fail('EINVAL', `a forwarded packet cannot use a ${route.type} route (martian destination)`, rule, route);
      const check = validateSourceIPv4(snapshot, index, flow, dev);
      if (check.error) return fail(check.error, check.reason, rule, route);
    }
  }
  let type = route.type;
  let note = '';
  if (family === 4 && !forwarded && !isLocalDelivery) {
    // __mkroute_output: the destination, not the route, makes multicast and broadcast.
    const dst = destination.value as number;
    if (dst === LIMITED_BROADCAST) {
      type = 'broadcast';
      gateway = undefined;
      note = `; 255.255.255.255 is a limited broadcast: sent on ${dev}'s link, never to a gateway`;
    } else if (isIPv4Multicast(dst)) {
      type = 'multicast';
      if (prefixLength < 4) gateway = undefined;
      note = `; ${formatAddress(destination)} is multicast: sent on ${dev}'s link${prefixLength < 4 ? ', not to the route\'s gateway' : ''}`;
    } else if (type === 'broadcast') {
      gateway = undefined;
    }
  }
  const result: RouteResult = { type, table };
  if (dev) result.dev = dev;
  if (gateway && !isLocalDelivery) result.gateway = gateway;
  let prefsrc: string | undefined;
  if (!forwarded) {
    if (family === 4 && source) prefsrc = formatAddress(source);
    else if (route.type === 'local' && family === 4) prefsrc = route.prefsrc ?? formatAddress(destination);
    else prefsrc = preferredSource(index, route, destination, gateway);
  }
  if (family === 4 && !forwarded && prefsrc && dev !== 'lo' && isLoopback4(parseAddress(prefsrc)?.value as number)) {
    return fail('EINVAL', `a loopback source (${prefsrc}) cannot leave through ${dev} (net.ipv4.conf.*.route_localnet is off)`, rule, route, table);
  }
  if (prefsrc) result.prefsrc = prefsrc;
  const how = isLocalDelivery ? `delivered locally (${route.type} route, through lo)` : `${type} ${type === route.type ? 'route' : `via a ${route.type} route`}${result.gateway ? ` via ${result.gateway}` : ''} out of ${dev ?? 'no device'}`;
  return decision(result, { rule, route, reason: `rule ${rule.priority} → table ${tableName(table)} → ${route.dst}: ${how}${multipath}${note}${zone ? ` (zone ${zone}: only routes through ${zone}${flow.strictOif ? '' : ' preferred'})` : ''}` });
}

/**
 * ip_route_input for the destinations the kernel handles before any table: multicast (delivered
 * locally when the interface joined the group, e.g. 224.0.0.1 on every interface), the limited
 * broadcast, 0.0.0.0 and loopback. Undefined when the normal lookup decides.
 */
function forwardedIPv4Special(snapshot: Snapshot, index: SnapshotIndex, flow: Flow, dst: number, src: number): { type?: 'broadcast' | 'multicast'; error?: RouteErrorName; reason: string } | undefined {
  const isUp = index.links.get(flow.iif)?.flags.includes('UP') ?? false;
  if (isIPv4Multicast(dst)) {
    // Every IPv4 interface that is up joins 224.0.0.1 (all hosts); other groups need a member.
    if (dst !== 0xe0000001 || !isUp) return { error: 'EINVAL', reason: `no socket on ${flow.iif} joined ${formatIPv4(dst)} and multicast forwarding is off` };
    if (isIPv4Multicast(src) || src === LIMITED_BROADCAST || isLoopback4(src)) return { error: 'EINVAL', reason: 'a multicast, broadcast or loopback source is martian' };
    if (src !== 0) {
      const check = validateSourceIPv4(snapshot, index, flow, undefined, true);
      if (check.error) return { error: check.error, reason: check.reason };
    }
    return { type: 'multicast', reason: `${formatIPv4(dst)} (all hosts) is delivered locally: ${flow.iif} is a member` };
  }
  if (isIPv4Multicast(src) || src === LIMITED_BROADCAST) return { error: 'EINVAL', reason: 'a multicast or broadcast source is martian' };
  if (dst === LIMITED_BROADCAST || (src === 0 && dst === 0)) {
    if (src !== 0) {
      const check = validateSourceIPv4(snapshot, index, flow, undefined, true);
      if (check.error) return { error: check.error, reason: check.reason };
    }
    return { type: 'broadcast', reason: `${formatIPv4(dst)} is a broadcast to this host: delivered locally without consulting any table` };
  }
  if (isZeronet(src)) return { error: 'EINVAL', reason: 'a forwarded IPv4 packet needs a source address (--from): 0.0.0.0 is a martian source' };
  if (isZeronet(dst) || isLoopback4(dst) || isLoopback4(src)) return { error: 'EINVAL', reason: 'loopback addresses, and 0.0.0.0 as a destination, are martian on a forwarded packet' };
  return undefined;
}

/** The decision in `ip route get`'s words: "10.0.0.3 via 10.0.0.1 dev eth0 table 52 src 10.0.0.2". */
export function formatResult(query: RouteQuery, result: RouteResult): string {
  if (result.type === 'error') return `RTNETLINK answers: ${ERROR_TEXT[result.error!]} (${result.error})`;
  const parts: string[] = [];
  if (result.type !== 'unicast') parts.push(result.type);
  parts.push(canonical(query.destination));
  if (query.from) parts.push('from', canonical(query.from));
  if (result.gateway) parts.push('via', result.gateway);
  if (result.dev) parts.push('dev', result.dev);
  if (result.table !== undefined && result.table !== 254) parts.push('table', tableName(result.table));
  if (result.prefsrc) parts.push('src', result.prefsrc);
  if (query.mark) parts.push('mark', formatMark(query.mark));
  if (query.iif && query.iif !== 'lo') parts.push('iif', query.iif);
  return parts.join(' ');
}

function canonical(text: string): string {
  const address = parseAddress(text);
  return address ? formatAddress(address) : text;
}

/** Whether the snapshot's IPv4 rules are just the kernel's three defaults (local, main, default). */
export function ipv4RulesAreDefault(snapshot: Snapshot): boolean {
  return !hasCustomRules4(indexSnapshot(snapshot));
}
