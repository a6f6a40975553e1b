/**
 * Where traffic to each LAN actually goes: one simulated lookup per LAN (and per mesh route that
 * sits inside a LAN, to catch a partial shadow), answered by the route simulator. Shared by the
 * shadowing and exit-node checks, memoised per HostState.
 */
import type { RouteDecision } from '../route/types.js';
import { formatRoute } from '../snapshot/format.js';
import type { Route } from '../snapshot/types.js';
import { isDefaultRoute, routingView, tableKey, type LanPrefix, type RoutingView } from './analysis.js';
import { formatPrefix, prefixContainsPrefix } from '../net/address.js';
import { parseRouteDst, sampleAddress } from './prefix.js';
import { decide, decisionEvidence, describeDecision } from './simulate.js';
import { bypassPriorityAhead, tailscaleLookupPriority } from './tailscale-rules.js';
import type { CheckOptions, HostState } from './types.js';

export interface LanPath {
  lan: LanPrefix;
  /** The address whose path was simulated. */
  sample: string;
  decision: RouteDecision;
  /** The decision leaves through the LAN's own interface (or is local). */
  direct: boolean;
  /** The decision goes through the mesh: a mesh route or a reject route in a mesh table. */
  viaMesh: boolean;
  /** The route that decided is a default route (an exit node), not a subnet route. */
  byDefaultRoute: boolean;
}

export function decisionViaMesh(view: RoutingView, decision: RouteDecision): boolean {
  const { result, route } = decision;
  if (result.dev && view.meshIfaces.has(result.dev)) return true;
  if (route && result.type !== 'unicast' && result.type !== 'local' && view.meshTableRoutes.has(tableKey(route.family, route.table))) return true;
  return false;
}

const memo = new WeakMap<HostState, Map<string, LanPath[]>>();

export function lanPaths(state: HostState, options: Pick<CheckOptions, 'ifaces'>): LanPath[] {
  const key = [...options.ifaces].sort().join(',');
  let perState = memo.get(state);
  if (!perState) memo.set(state, (perState = new Map()));
  const cached = perState.get(key);
  if (cached) return cached;

  const view = routingView(state, options);
  const paths: LanPath[] = [];
  const seen = new Set<string>();
  const probe = (lan: LanPrefix, sample: string) => {
    if (seen.has(sample)) return;
    seen.add(sample);
    const decision = decide(state.snapshot, { destination: sample });
    const direct = decision.result.type === 'local' || (decision.result.type === 'unicast' && decision.result.dev === lan.dev);
    const viaMesh = !direct && decisionViaMesh(view, decision);
    paths.push({ lan, sample, decision, direct, viaMesh, byDefaultRoute: decision.route ? isDefaultRoute(decision.route) : false });
  };
  const meshSubnets = view.meshRoutes
    .filter((route) => !isDefaultRoute(route))
    .map((route) => ({ route, prefix: parseRouteDst(route.dst, route.family) }))
    .filter((entry): entry is { route: Route; prefix: NonNullable<typeof entry.prefix> } => entry.prefix !== undefined);
  for (const lan of view.lans) {
    probe(lan, sampleAddress(lan.prefix, view.ownAddresses));
    // A mesh route for part of the LAN (a /25 of a /24) misses the first sample; probe inside it.
    for (const { prefix } of meshSubnets) {
      if (prefix.length > lan.prefix.length && prefixContainsPrefix(lan.prefix, prefix)) probe(lan, sampleAddress(prefix, view.ownAddresses));
    }
  }
  perState.set(key, paths);
  return paths;
}

/** Evidence for one misrouted LAN: the sample, the rule and route that decided, the route it should have used. */
export function lanPathEvidence(path: LanPath): string[] {
  return [
    `${path.sample} (in ${formatPrefix(path.lan.prefix)} on ${path.lan.dev}) goes ${describeDecision(path.decision)}`,
    ...decisionEvidence(path.decision),
    `  should use: ${formatRoute(path.lan.route)}`,
  ];
}

/** A priority just ahead of the mesh rule that decided, where a `to LAN lookup main` rule belongs. */
export function bypassPriority(path: LanPath): number {
  return bypassPriorityAhead(path.decision.rule?.priority ?? tailscaleLookupPriority(false));
}
