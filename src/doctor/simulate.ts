/**
 * The checks prove a finding by asking the route simulator what the kernel would do, the same
 * engine `netmend route explain` uses, so the evidence is the decision itself (rule, route,
 * interface) rather than a guess from overlapping prefixes.
 *
 * On a half-million-route host the simulator's full index costs more memory than the snapshot
 * itself, while the doctor asks about a dozen addresses. A route can only take part in a lookup
 * whose destination (or source) it contains, so each query runs on a small snapshot holding just
 * those routes, plus every local route (the kernel consults those for source checks). The
 * prefixes are parsed once into typed arrays; each new query is one linear scan of them.
 */
import { simulateRoute } from '../route/simulate.js';
import type { RouteDecision, RouteQuery } from '../route/types.js';
import { formatRoute, formatRule } from '../snapshot/format.js';
import { routeRemainder } from '../snapshot/raw-routes.js';
import type { Route, Snapshot } from '../snapshot/types.js';
import { maskIPv4, parseAddress, scanIPv4Prefix, scannedIPv4, type ParsedAddress } from '../net/address.js';
import { parseRouteDst } from './prefix.js';

interface PrefixTable {
  /** Positions (in snapshot.routes) always kept: local table, local-type routes, anything unparsed. */
  always: number[];
  v4Network: Uint32Array;
  v4Length: Uint8Array;
  v4Position: Uint32Array;
  v6High: BigUint64Array;
  v6Low: BigUint64Array;
  v6Length: Uint8Array;
  v6Position: Uint32Array;
}

const MASK64 = (1n << 64n) - 1n;

function buildPrefixTable(snapshot: Snapshot): PrefixTable {
  const always: number[] = [];
  const v4: number[] = [];
  const v6: Array<[bigint, number, number]> = [];
  const { routes } = snapshot;
  const v4Network = new Uint32Array(routes.length);
  const v4Length = new Uint8Array(routes.length);
  for (let position = 0; position < routes.length; position++) {
    const route = routes[position];
    if (route.table === 255 || route.type === 'local') {
      always.push(position);
    } else if (route.family === 4) {
      if (route.dst === 'default') {
        scannedIPv4.value = 0;
        scannedIPv4.length = 0;
      } else if (!scanIPv4Prefix(route.dst)) {
        always.push(position);
        continue;
      }
      // Host bits are cleared here, as the kernel stores the prefix.
      v4Network[v4.length] = scannedIPv4.value;
      v4Length[v4.length] = scannedIPv4.length;
      v4.push(position);
    } else {
      const prefix = parseRouteDst(route.dst, 6);
      if (prefix?.family === 6) v6.push([prefix.value, prefix.length, position]);
      else always.push(position);
    }
  }
  const table: PrefixTable = {
    always,
    v4Network: v4Network.slice(0, v4.length),
    v4Length: v4Length.slice(0, v4.length),
    v4Position: Uint32Array.from(v4),
    v6High: new BigUint64Array(v6.length),
    v6Low: new BigUint64Array(v6.length),
    v6Length: new Uint8Array(v6.length),
    v6Position: new Uint32Array(v6.length),
  };
  v6.forEach(([network, length, position], i) => {
    table.v6High[i] = network >> 64n;
    table.v6Low[i] = network & MASK64;
    table.v6Length[i] = length;
    table.v6Position[i] = position;
  });
  return table;
}

/** Positions of every route whose prefix contains one of the addresses, plus those always kept. */
function positionsContaining(table: PrefixTable, addresses: string[]): number[] {
  const picked = new Set<number>(table.always);
  for (const text of addresses) {
    const address = parseAddress(text);
    if (!address) continue;
    if (address.family === 4) {
      const value = Number(address.value);
      for (let i = 0; i < table.v4Network.length; i++) {
        if (maskIPv4(value, table.v4Length[i]) === table.v4Network[i]) picked.add(table.v4Position[i]);
      }
    } else {
      const high = address.value >> 64n;
      const low = address.value & MASK64;
      for (let i = 0; i < table.v6High.length; i++) {
        const length = table.v6Length[i];
        const highMask = length >= 64 ? MASK64 : length === 0 ? 0n : (MASK64 << BigInt(64 - length)) & MASK64;
        const lowMask = length <= 64 ? 0n : (MASK64 << BigInt(128 - length)) & MASK64;
        if ((high & highMask) === table.v6High[i] && (low & lowMask) === table.v6Low[i]) picked.add(table.v6Position[i]);
      }
    }
  }
  // Snapshot order: the simulator breaks ties between equal routes the way the dump lists them.
  return [...picked].sort((a, b) => a - b);
}

interface QueryCache {
  table: PrefixTable;
  snapshots: Map<string, Snapshot>;
}

const caches = new WeakMap<Snapshot, QueryCache>();

/** Below this many routes the full snapshot is simulated directly. */
const REDUCE_ABOVE = 5000;

function reducedSnapshot(snapshot: Snapshot, query: RouteQuery): Snapshot {
  const remainder = routeRemainder(snapshot);
  if (!remainder && snapshot.routes.length <= REDUCE_ABOVE) return snapshot;
  let cache = caches.get(snapshot);
  if (!cache) {
    cache = { table: buildPrefixTable(snapshot), snapshots: new Map() };
    caches.set(snapshot, cache);
  }
  const key = `${query.destination}|${query.from ?? ''}`;
  let reduced = cache.snapshots.get(key);
  if (!reduced) {
    const addresses = query.from ? [query.destination, query.from] : [query.destination];
    const positions = positionsContaining(cache.table, addresses);
    let routes = positions.map((position) => snapshot.routes[position]);
    // Routes the reader kept apart (plain gateway routes of a big table) join in dump order.
    const apart = remainder?.containing(addresses.map(parseAddress).filter((address): address is ParsedAddress => address !== undefined));
    if (remainder && apart?.length) routes = mergeByPosition(positions.map((position) => ({ position: remainder.positions[position], route: snapshot.routes[position] })), apart);
    reduced = { ...snapshot, routes };
    cache.snapshots.set(key, reduced);
  }
  return reduced;
}

function mergeByPosition(a: Array<{ position: number; route: Route }>, b: Array<{ position: number; route: Route }>): Route[] {
  return [...a, ...b].sort((x, y) => x.position - y.position).map((entry) => entry.route);
}

const wholeSnapshots = new WeakMap<Snapshot, Snapshot>();

/** The snapshot with the routes its reader kept apart put back, for queries that need every route. */
function wholeSnapshot(snapshot: Snapshot): Snapshot {
  const remainder = routeRemainder(snapshot);
  if (!remainder) return snapshot;
  let whole = wholeSnapshots.get(snapshot);
  if (!whole) {
    const own = snapshot.routes.map((route, index) => ({ position: remainder.positions[index], route }));
    whole = { ...snapshot, routes: mergeByPosition(own, remainder.all()) };
    wholeSnapshots.set(snapshot, whole);
  }
  return whole;
}

export function decide(snapshot: Snapshot, query: RouteQuery): RouteDecision {
  // A forwarded query (iif) validates its source against arbitrary routes: simulate it in full.
  if (query.iif !== undefined && query.iif !== 'lo') return simulateRoute(wholeSnapshot(snapshot), query);
  return simulateRoute(reducedSnapshot(snapshot, query), query);
}

/** Where a decision sends the packet, in words: "dev tailscale0 (table 52)" or "unreachable (table 52)". */
export function describeDecision(decision: RouteDecision): string {
  const { result } = decision;
  const table = result.table !== undefined ? ` (table ${result.table === 254 ? 'main' : result.table})` : '';
  if (result.type === 'error') return `error ${result.error ?? ''}${table}`.trim();
  if (result.type !== 'unicast' && result.type !== 'local') return `${result.type}${table}`;
  const via = result.gateway ? `via ${result.gateway} ` : '';
  return `${via}dev ${result.dev ?? '?'}${table}`;
}

/** The rule and route that decided, as `ip` prints them, indented for evidence. */
export function decisionEvidence(decision: RouteDecision): string[] {
  const lines: string[] = [];
  if (decision.rule) lines.push(`  rule:  ${formatRule(decision.rule).replace('\t', ' ')}`);
  if (decision.route) lines.push(`  route: ${formatRoute(decision.route)}`);
  return lines;
}
