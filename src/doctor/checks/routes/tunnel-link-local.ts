/**
 * A tunnel with an IPv6 link-local address gets its own `fe80::/64` route. When its metric is
 * no worse than the LAN's `fe80::/64`, unscoped link-local traffic (fe80::1 without %eth0) may
 * leave through the tunnel, depending on which interface came up first.
 */
import { formatAddress, formatRoute } from '../../../snapshot/format.js';
import type { Route } from '../../../snapshot/types.js';
import { routingView } from '../../analysis.js';
import { isIPv6LinkLocal } from '../../../net/address.js';
import { parseRouteDst, prefixContainsAddress, LINK_LOCAL_V6 } from '../../prefix.js';
import { finding, pass, skipWithoutMesh } from '../../result.js';
import type { Check } from '../../types.js';

function isLinkLocalRoute(route: Route): boolean {
  if (route.family !== 6 || route.type !== 'unicast') return false;
  const prefix = parseRouteDst(route.dst, 6);
  return prefix?.family === 6 && prefix.length >= 10 && prefix.length <= 64 && isIPv6LinkLocal(prefix.value);
}

const check: Check = {
  id: 'routes.tunnel-link-local',
  topic: 'routes',
  title: 'tunnel link-local route competes with the LAN',
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0) return skipWithoutMesh(check);

    const tunnelRoutes: Route[] = [];
    const lanRoutes: Route[] = [];
    for (const route of state.snapshot.routes) {
      if (route.table === 255 || !isLinkLocalRoute(route) || !route.dev || route.dev === 'lo') continue;
      (view.meshIfaces.has(route.dev) ? tunnelRoutes : lanRoutes).push(route);
    }
    const tunnelAddresses = state.snapshot.addresses.filter((address) => address.family === 6 && view.meshIfaces.has(address.dev) && prefixContainsAddress(LINK_LOCAL_V6, address.local));
    if (tunnelRoutes.length === 0) {
      const names = [...view.meshIfaces].join(', ');
      return pass(check, tunnelAddresses.length ? `${names}: link-local address but no fe80::/64 route` : `no link-local route on ${names}`);
    }
    if (lanRoutes.length === 0) return pass(check, `${tunnelRoutes.map((r) => r.dev).join(', ')} has a fe80::/64 route, but no LAN has one to compete with`);

    // The kernel picks among equal prefixes by metric; equal metrics leave it to insertion order.
    const bestLanMetric = Math.min(...lanRoutes.map((route) => route.metric));
    const competing = tunnelRoutes.filter((route) => route.metric <= bestLanMetric || route.table !== 254);
    const ifaces = [...new Set(tunnelRoutes.map((route) => route.dev!))];
    if (competing.length === 0) {
      return finding(check, 'warn', `${ifaces.join(', ')} carries a fe80::/64 route, but at a worse metric than the LAN's`, [
        ...tunnelRoutes.map(formatRoute), ...lanRoutes.map(formatRoute),
      ], { command: `netmend fix link-local --iface ${ifaces[0]}`, explanation: 'removes link-local addressing from the tunnel, so no fe80::/64 route can ever compete with the LAN' });
    }
    const compIfaces = [...new Set(competing.map((route) => route.dev!))];
    const lanDevs = [...new Set(lanRoutes.filter((route) => route.metric === bestLanMetric).map((route) => route.dev!))];
    const evidence = [
      ...competing.map(formatRoute),
      ...lanRoutes.map(formatRoute),
      ...tunnelAddresses.filter((address) => compIfaces.includes(address.dev)).map(formatAddress),
    ];
    const relation = competing.some((route) => route.metric < bestLanMetric) ? 'ahead of' : 'at the same metric as';
    return finding(check, 'fail', `${compIfaces.join(', ')} has a fe80::/64 route ${relation} ${lanDevs.join(', ')}: unscoped link-local traffic to the LAN can leave through the tunnel`, evidence, {
      command: `netmend fix link-local --iface ${compIfaces[0]}`,
      explanation: `stops link-local addressing on ${compIfaces[0]} (addr_gen_mode none), removes its fe80 address and fe80::/64 route, and makes that persistent`,
    });
  },
};

export default check;
