/**
 * Per-snapshot lookup structures for the route simulator, built once and cached by snapshot
 * identity: the doctor runs thousands of lookups on half-million-route snapshots, so a lookup
 * must be a handful of hash probes (one per prefix length present in the table), not a scan.
 */
import { maskIPv4, maskIPv6, parseAddress, parsePrefix, type ParsedAddress, type ParsedPrefix } from '../net/address.js';
import type { Family, Link, Route, Rule, Snapshot } from '../snapshot/types.js';

/** The routes of one table and family, bucketed by prefix length, then by masked destination. */
export interface TableIndex {
  family: Family;
  table: number;
  /** Prefix lengths present, longest first. */
  lengths: number[];
  byLength: Map<number, Map<number | bigint, Route[]>>;
  routeCount: number;
}

export interface SnapshotIndex {
  /** Key: family * 1e10 + table id (tables are u32). */
  tables: Map<number, TableIndex>;
  /** Rules per family in the order the kernel walks them: priority, then snapshot order. */
  rules: { 4: Rule[]; 6: Rule[] };
  links: Map<string, Link>;
  /** IPv4/IPv6 addresses per device name, in snapshot order. */
  addressesByDev: Map<string, Array<{ family: Family; local: string; prefix: ParsedPrefix; scope: string }>>;
  /** Parsed destination of every indexed route. */
  routeDst: WeakMap<Route, ParsedPrefix>;
  /** Parsed `from` / `to` of rules. */
  ruleFrom: WeakMap<Rule, ParsedPrefix | null>;
  ruleTo: WeakMap<Rule, ParsedPrefix | null>;
  /** net->ipv4.fib_has_custom_local_routes, as far as a snapshot shows it. */
  customLocalRoutes4: boolean;
}

const cache = new WeakMap<Snapshot, SnapshotIndex>();

export function tableKey(family: Family, table: number): number {
  return family * 1e10 + table;
}

/** Route destinations as snapshots hold them: "10.0.0.0/24", a bare host address, or "default". */
export function parseRouteDestination(dst: string, family: Family): ParsedPrefix | undefined {
  if (dst === 'default') return family === 4 ? { family: 4, value: 0, length: 0 } : { family: 6, value: 0n, length: 0 };
  return parsePrefix(dst);
}

export function indexSnapshot(snapshot: Snapshot): SnapshotIndex {
  const cached = cache.get(snapshot);
  if (cached) return cached;
  const index: SnapshotIndex = {
    tables: new Map(),
    rules: { 4: [], 6: [] },
    links: new Map(),
    addressesByDev: new Map(),
    routeDst: new WeakMap(),
    ruleFrom: new WeakMap(),
    ruleTo: new WeakMap(),
    customLocalRoutes4: false,
  };
  for (const route of snapshot.routes) {
    const prefix = parseRouteDestination(route.dst, route.family);
    if (!prefix || prefix.family !== route.family) continue;
    index.routeDst.set(route, prefix);
    if (route.family === 4 && ((route.table === 255 && route.protocol !== 'kernel') || (route.type === 'local' && route.table !== 255))) index.customLocalRoutes4 = true;
    const key = tableKey(route.family, route.table);
    let table = index.tables.get(key);
    if (!table) {
      table = { family: route.family, table: route.table, lengths: [], byLength: new Map(), routeCount: 0 };
      index.tables.set(key, table);
    }
    let bucket = table.byLength.get(prefix.length);
    if (!bucket) {
      bucket = new Map();
      table.byLength.set(prefix.length, bucket);
    }
    const same = bucket.get(prefix.value);
    if (same) same.push(route);
    else bucket.set(prefix.value, [route]);
    table.routeCount++;
  }
  for (const table of index.tables.values()) table.lengths = [...table.byLength.keys()].sort((a, b) => b - a);
  for (const family of [4, 6] as const) {
    // Array.prototype.sort is stable: equal priorities keep the snapshot's (the kernel's) order.
    index.rules[family] = snapshot.rules.filter((rule) => rule.family === family).sort((a, b) => a.priority - b.priority);
    for (const rule of index.rules[family]) {
      index.ruleFrom.set(rule, rule.from ? parseRouteDestination(rule.from, family) ?? null : null);
      index.ruleTo.set(rule, rule.to ? parseRouteDestination(rule.to, family) ?? null : null);
    }
  }
  for (const link of snapshot.links) index.links.set(link.name, link);
  for (const address of snapshot.addresses) {
    const prefix = parsePrefix(`${address.local}/${address.prefixlen}`);
    if (!prefix) continue;
    let list = index.addressesByDev.get(address.dev);
    if (!list) index.addressesByDev.set(address.dev, (list = []));
    list.push({ family: address.family, local: address.local, prefix, scope: address.scope });
  }
  cache.set(snapshot, index);
  return index;
}

/** The routes of a table whose destination is the longest prefix containing `address`, longest first. */
export function* candidateBuckets(table: TableIndex, address: ParsedAddress): Generator<{ length: number; routes: Route[] }> {
  for (const length of table.lengths) {
    const key = address.family === 4 ? maskIPv4(address.value, length) : maskIPv6(address.value, length);
    const routes = table.byLength.get(length)!.get(key);
    if (routes) yield { length, routes };
  }
}

export { parseAddress };
