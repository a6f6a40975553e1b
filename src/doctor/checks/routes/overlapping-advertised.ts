/**
 * Two mesh routes for overlapping prefixes through different paths (which one wins depends on
 * prefix length and table order, and changes as peers come and go), and a mesh that uses the
 * carrier-grade NAT range 100.64.0.0/10 on a host whose LAN or WAN is numbered from it too.
 * Overlaps are found by sorting the prefixes and sweeping with a stack of enclosing prefixes:
 * n log n, never every pair.
 */
import { formatAddress, formatRoute } from '../../../snapshot/format.js';
import type { Family, Route } from '../../../snapshot/types.js';
import { isDefaultRoute, routeDevices, routingView } from '../../analysis.js';
import { formatPrefix, prefixContainsPrefix, type ParsedPrefix } from '../../../net/address.js';
import { CGNAT_RANGE, parseRouteDst, prefixContainsAddress } from '../../prefix.js';
import { finding, listSome, pass, skipWithoutMesh } from '../../result.js';
import type { Check } from '../../types.js';

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
      const meshEvidence = meshCgnatAddresses.length ? meshCgnatAddresses.slice(0, 2).map(formatAddress) : meshCgnatRoutes.slice(0, 2).map(formatRoute);
      return finding(check, 'fail', `${listSome(clashes.map((a) => `${a.local}/${a.prefixlen} on ${a.dev}`))} ${clashes.length === 1 ? 'is' : 'are'} inside ${formatPrefix(CGNAT_RANGE)}, the range the mesh uses (ISP carrier-grade NAT uses it too)`, [
        ...clashes.map(formatAddress),
        ...meshEvidence,
        ...pairs.flatMap(([outer, inner]) => [`${formatRoute(outer.route)}`, `  overlaps ${formatRoute(inner.route)}`]),
      ], {
        command: 'tailscale set --accept-routes=false',
        explanation: 'the mesh\'s routes and firewall rules for 100.64.0.0/10 capture or drop traffic to this network: renumber the LAN, or on Tailscale keep its routes out of the way (--accept-routes=false; the disable-linux-cgnat-drop-rule node attribute for the input filter)',
      });
    }
    if (pairs.length) {
      const summaries = pairs.map(([outer, inner]) => `${formatPrefix(inner.prefix)} ${describePath(inner.route)} inside ${formatPrefix(outer.prefix)} ${describePath(outer.route)}`);
      return finding(check, 'warn', `overlapping mesh routes through different paths: ${listSome(summaries, 2)}`, [
        ...pairs.flatMap(([outer, inner]) => [formatRoute(outer.route), `  overlaps ${formatRoute(inner.route)}`]),
        'the longest prefix (then the table consulted first) wins, so the inner prefix takes a different tunnel than its surroundings: withdraw or stop accepting one of the two',
      ]);
    }
    return pass(check, `${view.meshRoutes.length} mesh route${view.meshRoutes.length === 1 ? '' : 's'}, no overlaps through different paths${meshCgnatAddresses.length ? '; no LAN/WAN address in 100.64.0.0/10' : ''}`);
  },
};

export default check;
