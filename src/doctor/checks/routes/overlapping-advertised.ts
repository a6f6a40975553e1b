/**
 * Two mesh routes for overlapping prefixes through different paths (which one wins depends on
 * prefix length and table order, and changes as peers come and go), and a mesh that uses the
 * carrier-grade NAT range 100.64.0.0/10 on a host whose LAN or WAN is numbered from it too.
 * Overlaps are found by sorting the prefixes and sweeping with a stack of enclosing prefixes:
 * n log n, never every pair.
 */
import { formatAddress, formatRoute } from '../../../snapshot/format.js';
import type { Address, Family, Route, Rule } from '../../../snapshot/types.js';
import { isDefaultRoute, isUnconditional, MAIN_TABLE, routeDevices, routingView, type RoutingView } from '../../analysis.js';
import { decisionViaMesh, lanPathEvidence, lanPaths } from '../../lan-paths.js';
import { decide, decisionEvidence, describeDecision } from '../../simulate.js';
import { formatPrefix, prefixContainsPrefix, type ParsedPrefix } from '../../../net/address.js';
import { CGNAT_RANGE, parseRouteDst, prefixContainsAddress } from '../../prefix.js';
import { finding, listSome, pass, skipWithoutMesh } from '../../result.js';
import type { Check, CheckOptions, CheckResult, HostState } from '../../types.js';

interface Entry {
  prefix: ParsedPrefix;
  route: Route;
  path: string;
}

function pathOf(route: Route): string {
  if (route.type !== 'unicast') return route.type;
  if (route.nexthops?.length) return route.nexthops.map((hop) => `${hop.gateway ?? ''}@${hop.dev ?? ''}`).sort().join('+');
  return `${route.gateway ?? ''}@${route.dev ?? ''}`;
}

function describePath(route: Route): string {
  if (route.type !== 'unicast') return route.type;
  const devs = routeDevices(route).join('/');
  return route.gateway ? `via ${route.gateway} dev ${devs}` : `dev ${devs}`;
}

/** Pairs (outer, inner) of mesh routes whose prefixes overlap but whose paths differ. */
export function overlappingPairs(routes: Route[], limit = 20): Array<[Entry, Entry]> {
  const pairs: Array<[Entry, Entry]> = [];
  for (const family of [4, 6] as Family[]) {
    const entries: Entry[] = [];
    for (const route of routes) {
      if (route.family !== family || isDefaultRoute(route)) continue;
      const prefix = parseRouteDst(route.dst, family);
      if (prefix) entries.push({ prefix, route, path: pathOf(route) });
    }
    entries.sort((a, b) => (a.prefix.value < b.prefix.value ? -1 : a.prefix.value > b.prefix.value ? 1 : a.prefix.length - b.prefix.length));
    const stack: Entry[] = [];
    for (const entry of entries) {
      while (stack.length && !prefixContainsPrefix(stack[stack.length - 1].prefix, entry.prefix)) stack.pop();
      // Every entry on the stack encloses this one; report the nearest with a different path.
      for (let i = stack.length - 1; i >= 0; i--) {
        if (stack[i].path !== entry.path) {
          pairs.push([stack[i], entry]);
          break;
        }
      }
      if (pairs.length >= limit) return pairs;
      stack.push(entry);
    }
  }
  return pairs;
}

/** A `to PREFIX lookup main` rule ahead of every mesh lookup rule: the WAN/LAN stays on main. */
function bypassRuleFor(view: RoutingView, prefix: ParsedPrefix): Rule | undefined {
  const meshLookups = view.rules[4].filter((rule) => rule.action === 'lookup' && rule.table !== undefined && view.meshTables[4].has(rule.table)).map((rule) => rule.priority);
  const first = meshLookups.length ? Math.min(...meshLookups) : Infinity;
  return view.rules[4].find((rule) => {
    if (rule.action !== 'lookup' || (rule.table ?? MAIN_TABLE) !== MAIN_TABLE || rule.priority >= first || !rule.to || !isUnconditional({ ...rule, to: undefined })) return false;
    const to = parseRouteDst(rule.to, 4);
    return to !== undefined && prefixContainsPrefix(to, prefix);
  });
}

/**
 * An ISP's carrier-grade NAT puts the WAN inside 100.64.0.0/10. `tailscale set
 * --accept-routes=false` does not help: every peer's own /32 (or, past 10,000 peers, the whole
 * 100.64.0.0/10) is always routed into the tunnel, and the ts-input rule dropping 100.64.0.0/10
 * from other interfaces depends on the netfilter mode. What works: a rule ahead of the mesh's
 * lookup sending the WAN's own subnet (its gateway included) through main.
 */
function cgnatClash(state: HostState, options: CheckOptions, clashes: Address[], meshEvidence: string[]): CheckResult | undefined {
  const view = routingView(state, options);
  const prefixes = new Map<string, { prefix: ParsedPrefix; dev: string }>();
  for (const address of clashes) {
    const lan = view.lans.find((candidate) => candidate.family === 4 && candidate.dev === address.dev && prefixContainsAddress(candidate.prefix, address.local));
    const prefix = lan?.prefix ?? parseRouteDst(`${address.local}/${address.prefixlen}`, 4);
    if (prefix) prefixes.set(formatPrefix(prefix), { prefix, dev: address.dev });
  }
  const captured = lanPaths(state, options).filter((path) => path.viaMesh && prefixes.has(formatPrefix(path.lan.prefix)));
  const evidence = [...clashes.map(formatAddress), ...meshEvidence, ...captured.flatMap(lanPathEvidence)];
  for (const gateway of view.defaultGateways) {
    if (gateway.family !== 4 || !prefixContainsAddress(CGNAT_RANGE, gateway.gateway)) continue;
    const decision = decide(state.snapshot, { destination: gateway.gateway });
    if (decisionViaMesh(view, decision)) evidence.push(`the WAN gateway ${gateway.gateway} goes ${describeDecision(decision)}`, ...decisionEvidence(decision));
  }
  const unprotected = [...prefixes.keys()].filter((key) => !bypassRuleFor(view, prefixes.get(key)!.prefix));
  if (captured.length === 0 && unprotected.length === 0) return undefined;
  const where = listSome(clashes.map((a) => `${a.local}/${a.prefixlen} on ${a.dev}`));
  const fix = {
    command: `netmend fix subnet-routes ${unprotected.map((prefix) => `--lan ${prefix}`).join(' ')}`,
    explanation: `routes ${listSome(unprotected)} through main ahead of the mesh's lookup rule (live and persistent); \`tailscale set --accept-routes=false\` does not help, since every peer's own 100.x address is always routed into the tunnel. With netfilter mode on, tailscaled's ts-input chain also drops packets from 100.64.0.0/10 arriving outside the tunnel (since v1.98 the disable-linux-cgnat-drop-rule node attribute turns that off)`,
  };
  if (captured.length > 0) {
    const lost = [...new Set(captured.map((path) => `${formatPrefix(path.lan.prefix)} (${path.lan.dev})`))];
    return finding(check, 'fail', `${where} ${clashes.length === 1 ? 'is' : 'are'} inside ${formatPrefix(CGNAT_RANGE)}, the range the mesh uses (ISP carrier-grade NAT): traffic to ${listSome(lost)} goes into the tunnel`, evidence, fix);
  }
  return finding(check, 'warn', `${where} ${clashes.length === 1 ? 'is' : 'are'} inside ${formatPrefix(CGNAT_RANGE)}, the range the mesh uses (ISP carrier-grade NAT): reachable now, but any peer given an address in ${listSome(unprotected)} takes that address off the WAN`, evidence, fix);
}

const check: Check = {
  id: 'routes.overlapping-advertised',
  topic: 'routes',
  title: 'overlapping mesh routes, or the mesh range overlaps the LAN/WAN',
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0 && view.meshRoutes.length === 0) return skipWithoutMesh(check);

    // The mesh uses the CGNAT range when a tunnel holds an address in it or routes into it.
    const meshCgnatAddresses = state.snapshot.addresses.filter((address) => address.family === 4 && view.meshIfaces.has(address.dev) && prefixContainsAddress(CGNAT_RANGE, address.local));
    const meshCgnatRoutes = view.meshRoutes.filter((route) => {
      if (route.family !== 4 || isDefaultRoute(route)) return false;
      const prefix = parseRouteDst(route.dst, 4);
      return prefix !== undefined && (prefixContainsPrefix(CGNAT_RANGE, prefix) || prefixContainsPrefix(prefix, CGNAT_RANGE));
    });
    const clashes = meshCgnatAddresses.length || meshCgnatRoutes.length
      ? state.snapshot.addresses.filter((address) => address.family === 4 && !view.meshIfaces.has(address.dev) && address.dev !== 'lo' && prefixContainsAddress(CGNAT_RANGE, address.local))
      : [];
    const pairs = overlappingPairs(view.meshRoutes);

    if (clashes.length) {
      const result = cgnatClash(state, options, clashes, meshCgnatAddresses.length ? meshCgnatAddresses.slice(0, 2).map(formatAddress) : meshCgnatRoutes.slice(0, 2).map(formatRoute));
      if (result) return result;
    }
    if (pairs.length) {
      const summaries = pairs.map(([outer, inner]) => `${formatPrefix(inner.prefix)} ${describePath(inner.route)} inside ${formatPrefix(outer.prefix)} ${describePath(outer.route)}`);
      return finding(check, 'warn', `overlapping mesh routes through different paths: ${listSome(summaries, 2)}`, [
        ...pairs.flatMap(([outer, inner]) => [formatRoute(outer.route), `  overlaps ${formatRoute(inner.route)}`]),
        'the longest prefix (then the table consulted first) wins, so the inner prefix takes a different tunnel than its surroundings: withdraw or stop accepting one of the two',
      ]);
    }
    if (clashes.length) return pass(check, `${listSome(clashes.map((a) => `${a.local}/${a.prefixlen} on ${a.dev}`))} inside 100.64.0.0/10 is kept on main by a rule ahead of the mesh's lookup`);
    return pass(check, `${view.meshRoutes.length} mesh route${view.meshRoutes.length === 1 ? '' : 's'}, no overlaps through different paths${meshCgnatAddresses.length ? '; no LAN/WAN address in 100.64.0.0/10' : ''}`);
  },
};

export default check;
