/**
 * What the routes checks share: which interfaces are the mesh, which prefixes are LANs, which
 * tables carry mesh routes, the rules in priority order. Built in one pass over the routes
 * (a half-million-route table costs one scan, never a comparison of every pair) and memoised per
 * HostState, so eight checks do not scan eight times.
 */
import type { Address, Family, Link, Route, Rule } from '../snapshot/types.js';
import type { ParsedPrefix } from '../net/address.js';
import { parseRouteDst } from './prefix.js';
import type { CheckOptions, HostState } from './types.js';

/** Interface names the common mesh daemons use: Tailscale, WireGuard, NetBird, ZeroTier, netmend. */
const MESH_NAME = /^(tailscale|wg|wt\d|zt|nm\d|netmend)/;
const MESH_KINDS = new Set(['tun', 'wireguard']);
const RESERVED_TABLES = new Set([253, 254, 255]);
export const MAIN_TABLE = 254;

export interface LanPrefix {
  family: Family;
  prefix: ParsedPrefix;
  dev: string;
  /** The connected route, as evidence of where the traffic should have gone. */
  route: Route;
}

export interface DefaultGateway {
  family: Family;
  gateway: string;
  dev: string;
  route: Route;
}

export interface RoutingView {
  meshIfaces: Set<string>;
  meshLinks: Link[];
  /** Connected prefixes on interfaces that are not the mesh and not loopback. */
  lans: LanPrefix[];
  /** Every address the host owns (the local table answers these, whatever else is routed). */
  ownAddresses: Set<string>;
  /** Routes that leave through a mesh interface, in any table except local. */
  meshRoutes: Route[];
  /** Tables other than main/default/local that hold mesh routes, per family. */
  meshTables: Record<Family, Set<number>>;
  /** Routes per mesh table (only mesh tables are kept, so this stays small). */
  meshTableRoutes: Map<string, Route[]>;
  /** Default routes in main through a gateway, not through the mesh. */
  defaultGateways: DefaultGateway[];
  rules: Record<Family, Rule[]>;
}

export function isMeshLink(link: Link, ifaces: readonly string[]): boolean {
  return ifaces.includes(link.name) || MESH_KINDS.has(link.kind) || MESH_NAME.test(link.name);
}

export function routeDevices(route: Route): string[] {
  if (route.nexthops?.length) return route.nexthops.flatMap((hop) => (hop.dev ? [hop.dev] : []));
  return route.dev ? [route.dev] : [];
}

export function isDefaultRoute(route: Route): boolean {
  return route.dst.endsWith('/0') || route.dst === 'default';
}

function isLinkLocalOrMulticast(dst: string): boolean {
  const lower = dst.toLowerCase();
  return lower.startsWith('fe8') || lower.startsWith('fe9') || lower.startsWith('fea') || lower.startsWith('feb') || lower.startsWith('ff');
}

export function tableKey(family: Family, table: number): string {
  return `${family}:${table}`;
}

const memo = new WeakMap<HostState, Map<string, RoutingView>>();

export function routingView(state: HostState, options: Pick<CheckOptions, 'ifaces'>): RoutingView {
  const key = [...options.ifaces].sort().join(',');
  let perState = memo.get(state);
  if (!perState) {
    perState = new Map();
    memo.set(state, perState);
  }
  let view = perState.get(key);
  if (!view) {
    view = buildView(state, options.ifaces);
    perState.set(key, view);
  }
  return view;
}

function buildView(state: HostState, ifaces: readonly string[]): RoutingView {
  const { snapshot } = state;
  const meshLinks = snapshot.links.filter((link) => isMeshLink(link, ifaces));
  const meshIfaces = new Set(meshLinks.map((link) => link.name));
  // A named --iface that is absent from the snapshot still counts: its routes may linger.
  for (const name of ifaces) meshIfaces.add(name);

  const ownAddresses = new Set(snapshot.addresses.map((address: Address) => address.local));
  const lans: LanPrefix[] = [];
  const meshRoutes: Route[] = [];
  const meshTables: Record<Family, Set<number>> = { 4: new Set(), 6: new Set() };
  const defaultGateways: DefaultGateway[] = [];

  for (const route of snapshot.routes) {
    if (route.table === 255) continue;
    let viaMesh = route.dev !== undefined && meshIfaces.has(route.dev);
    if (!viaMesh && route.nexthops) for (const hop of route.nexthops) if (hop.dev && meshIfaces.has(hop.dev)) viaMesh = true;
    if (viaMesh) {
      if (route.type === 'unicast' || route.type === 'blackhole' || route.type === 'unreachable' || route.type === 'prohibit') {
        meshRoutes.push(route);
        if (!RESERVED_TABLES.has(route.table)) meshTables[route.family].add(route.table);
      }
      continue;
    }
    if (route.table !== MAIN_TABLE || route.type !== 'unicast' || route.nexthops?.length) continue;
    const dev = route.dev;
    if (!dev || dev === 'lo') continue;
    if (route.gateway) {
      if (isDefaultRoute(route)) defaultGateways.push({ family: route.family, gateway: route.gateway, dev, route });
      continue;
    }
    if (isDefaultRoute(route) || isLinkLocalOrMulticast(route.dst)) continue;
    const prefix = parseRouteDst(route.dst, route.family);
    if (!prefix || prefix.length === (prefix.family === 4 ? 32 : 128)) continue;
    lans.push({ family: route.family, prefix, dev, route });
  }

  // Unreachable/blackhole routes in a table are the mesh's when the table also routes via the mesh.
  const meshTableRoutes = new Map<string, Route[]>();
  for (const family of [4, 6] as const) for (const table of meshTables[family]) meshTableRoutes.set(tableKey(family, table), []);
  if (meshTableRoutes.size > 0) {
    for (const route of snapshot.routes) {
      const list = meshTableRoutes.get(tableKey(route.family, route.table));
      if (list) list.push(route);
    }
  }

  const byPriority = (a: Rule, b: Rule) => a.priority - b.priority;
  const rules: Record<Family, Rule[]> = {
    4: snapshot.rules.filter((rule) => rule.family === 4).sort(byPriority),
    6: snapshot.rules.filter((rule) => rule.family === 6).sort(byPriority),
  };
  return { meshIfaces, meshLinks, lans, ownAddresses, meshRoutes, meshTables, meshTableRoutes, defaultGateways, rules };
}

/** A rule with no selector at all: it applies to every packet. */
export function isUnconditional(rule: Rule): boolean {
  return !rule.not && !rule.from && !rule.to && !rule.iif && !rule.oif && rule.fwmark === undefined && rule.tos === undefined
    && rule.ipproto === undefined && !rule.sport && !rule.dport && !rule.uidrange;
}

/** The rule that consults main for every packet (32766 on a stock kernel). */
export function mainRule(view: RoutingView, family: Family): Rule | undefined {
  return view.rules[family].find((rule) => rule.action === 'lookup' && (rule.table ?? MAIN_TABLE) === MAIN_TABLE && isUnconditional(rule) && rule.suppressPrefixlen === undefined);
}

export function ownAddressesOn(state: HostState, dev: string, family: Family): string[] {
  return state.snapshot.addresses.filter((address) => address.dev === dev && address.family === family && address.scope !== 'link' && address.scope !== 'host').map((address) => address.local);
}

export function hasMesh(view: RoutingView): boolean {
  return view.meshLinks.length > 0 || view.meshRoutes.length > 0;
}

export function meshNames(view: RoutingView): string {
  return [...view.meshIfaces].join(', ');
}
