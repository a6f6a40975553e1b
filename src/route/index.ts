/**
 * Per-snapshot lookup structures for the route simulator, built once and cached by snapshot
 * identity (a snapshot is treated as immutable). Routes are grouped per table and family; the
 * first lookup in a table scans it (a one-shot `route explain` on a half-million-route table then
 * allocates nothing per route), the second builds a hash per prefix length so the thousands of
 * lookups the doctor runs are a handful of probes each, not scans.
 */
import { maskIPv4, maskIPv6, parsePrefix, scanIPv4Prefix, scannedIPv4, type ParsedAddress, type ParsedPrefix } from '../net/address.js';
import type { Family, Link, Route, Rule, Snapshot } from '../snapshot/types.js';

export interface TableIndex {
  family: Family;
  table: number;
  routes: Route[];
  lookups: number;
  /** Built on the second lookup: prefix lengths present, longest first, and their buckets. */
  lengths?: number[];
  byLength?: Map<number, Map<number | bigint, Route | Route[]>>;
}

export interface SnapshotIndex {
  /** Key: tableKey(family, table). */
  tables: Map<number, TableIndex>;
  /** Rules per family in the order the kernel walks them: priority, then snapshot order. */
  rules: { 4: Rule[]; 6: Rule[] };
  links: Map<string, Link>;
  /** Addresses per device name, in snapshot order. */
  addressesByDev: Map<string, Array<{ family: Family; local: string; prefix: ParsedPrefix; prefixlen: number; scope: string; flags: string[] }>>;
  /** Device names in the kernel's device-list order (ifindex), for source address selection. */
  linkOrder: string[];
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

/** Prefix of a route as (value, length) in the scratch variables; IPv6 values are returned. */
function routePrefix(route: Route): { value: number | bigint; length: number } | undefined {
  if (route.family === 4) {
    if (scanIPv4Prefix(route.dst)) return { value: scannedIPv4.value, length: scannedIPv4.length };
    if (route.dst === 'default') return { value: 0, length: 0 };
    return undefined;
  }
  const prefix = parseRouteDestination(route.dst, 6);
  return prefix && prefix.family === 6 ? { value: prefix.value, length: prefix.length } : undefined;
}

export function indexSnapshot(snapshot: Snapshot): SnapshotIndex {
  const cached = cache.get(snapshot);
  if (cached) return cached;
  const index: SnapshotIndex = {
    tables: new Map(),
    rules: { 4: [], 6: [] },
    links: new Map(),
    addressesByDev: new Map(),
    linkOrder: [],
    ruleFrom: new WeakMap(),
    ruleTo: new WeakMap(),
    customLocalRoutes4: false,
  };
  // Dumps come grouped by table, so the previous route's table is almost always this one's.
  let current: TableIndex | undefined;
  for (const route of snapshot.routes) {
    if (!current || current.table !== route.table || current.family !== route.family) {
      const key = tableKey(route.family, route.table);
      current = index.tables.get(key);
      if (!current) index.tables.set(key, (current = { family: route.family, table: route.table, routes: [], lookups: 0 }));
    }
    current.routes.push(route);
    if (route.family === 4 && (route.table === 255 ? route.protocol !== 'kernel' : route.type === 'local')) index.customLocalRoutes4 = true;
  }
  for (const family of [4, 6] as const) {
    // Array.prototype.sort is stable: equal priorities keep the snapshot's (the kernel's) order.
    index.rules[family] = snapshot.rules.filter((rule) => rule.family === family).sort((a, b) => a.priority - b.priority);
    for (const rule of index.rules[family]) {
      index.ruleFrom.set(rule, rule.from ? parseRouteDestination(rule.from, family) ?? null : null);
      index.ruleTo.set(rule, rule.to ? parseRouteDestination(rule.to, family) ?? null : null);
    }
  }
  for (const link of snapshot.links) index.links.set(link.name, link);
  index.linkOrder = [...snapshot.links].sort((a, b) => a.index - b.index).map((link) => link.name);
  for (const address of snapshot.addresses) {
    const prefix = parsePrefix(`${address.local}/${address.prefixlen}`);
    if (!prefix) continue;
    let list = index.addressesByDev.get(address.dev);
    if (!list) index.addressesByDev.set(address.dev, (list = []));
    list.push({ family: address.family, local: address.local, prefix, prefixlen: address.prefixlen, scope: address.scope, flags: address.flags ?? [] });
  }
  cache.set(snapshot, index);
  return index;
}

function buildBuckets(table: TableIndex): void {
  const byLength = new Map<number, Map<number | bigint, Route | Route[]>>();
  for (const route of table.routes) {
    const prefix = routePrefix(route);
    if (!prefix) continue;
    let bucket = byLength.get(prefix.length);
    if (!bucket) byLength.set(prefix.length, (bucket = new Map()));
    const same = bucket.get(prefix.value);
    if (same === undefined) bucket.set(prefix.value, route);
    else if (Array.isArray(same)) same.push(route);
    else bucket.set(prefix.value, [same, route]);
  }
  table.byLength = byLength;
  table.lengths = [...byLength.keys()].sort((a, b) => b - a);
}

/**
 * The routes of the table whose destination is the longest prefix containing `address` and that
 * `usable` accepts, with that length and how many routes share it; undefined when none.
 */
export function longestMatch(table: TableIndex, address: ParsedAddress, usable: (route: Route) => boolean): { routes: Route[]; length: number } | undefined {
  table.lookups++;
  if (table.lookups === 1 && table.routes.length > 256) return scanLongestMatch(table, address, usable);
  if (!table.byLength) buildBuckets(table);
  for (const length of table.lengths!) {
    const key = address.family === 4 ? maskIPv4(address.value, length) : maskIPv6(address.value, length);
    const found = table.byLength!.get(length)!.get(key);
    if (found === undefined) continue;
    const routes = (Array.isArray(found) ? found : [found]).filter(usable);
    if (routes.length) return { routes, length };
  }
  return undefined;
}

function scanLongestMatch(table: TableIndex, address: ParsedAddress, usable: (route: Route) => boolean): { routes: Route[]; length: number } | undefined {
  let bestLength = -1;
  let best: Route[] = [];
  for (const route of table.routes) {
    let length: number;
    if (route.family === 4 && address.family === 4) {
      if (!scanIPv4Prefix(route.dst)) {
        if (route.dst !== 'default') continue;
        scannedIPv4.value = 0;
        scannedIPv4.length = 0;
      }
      length = scannedIPv4.length;
      if (length < bestLength || maskIPv4(address.value, length) !== scannedIPv4.value) continue;
    } else {
      const prefix = routePrefix(route);
      if (!prefix || prefix.length < bestLength || maskIPv6(address.value as bigint, prefix.length) !== prefix.value) continue;
      length = prefix.length;
    }
    if (!usable(route)) continue;
    if (length > bestLength) {
      bestLength = length;
      best = [route];
    } else best.push(route);
  }
  return bestLength < 0 ? undefined : { routes: best, length: bestLength };
}
