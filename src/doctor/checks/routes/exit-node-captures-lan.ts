/**
 * With an exit node in use, the mesh table holds a default route. Unless the LAN is thrown back
 * to main (Tailscale's `throw` routes, --exit-node-allow-lan-access), connected LANs and the
 * host's own gateway are sent through the tunnel.
 */
import { formatRoute } from '../../../snapshot/format.js';
import { isDefaultRoute, routingView } from '../../analysis.js';
import { bypassPriority, decisionViaMesh, lanPathEvidence, lanPaths } from '../../lan-paths.js';
import { formatPrefix } from '../../../net/address.js';
import { finding, listSome, pass, skipWithoutMesh } from '../../result.js';
import { decide, decisionEvidence, describeDecision } from '../../simulate.js';
import type { Check } from '../../types.js';

const check: Check = {
  id: 'routes.exit-node-captures-lan',
  topic: 'routes',
  title: 'exit-node default route captures the LAN or the gateway',
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0 && view.meshRoutes.length === 0) return skipWithoutMesh(check);
    const meshDefaults = view.meshRoutes.filter((route) => isDefaultRoute(route) && route.table !== 254);
    if (meshDefaults.length === 0) return pass(check, 'no exit-node default route in a mesh table');

    const captured = lanPaths(state, options).filter((path) => path.viaMesh && path.byDefaultRoute);
    const evidence = captured.flatMap(lanPathEvidence);
    const gatewaysCaptured: string[] = [];
    for (const gateway of view.defaultGateways) {
      const decision = decide(state.snapshot, { destination: gateway.gateway });
      if (decision.result.dev === gateway.dev || !decisionViaMesh(view, decision)) continue;
      gatewaysCaptured.push(gateway.gateway);
      evidence.push(`gateway ${gateway.gateway} of \`${formatRoute(gateway.route)}\` goes ${describeDecision(decision)}`, ...decisionEvidence(decision));
    }
    if (captured.length === 0 && gatewaysCaptured.length === 0) {
      return pass(check, `exit-node default route present (${meshDefaults.map((route) => route.dev ?? route.type).join(', ')}), LANs and gateway still reached directly`);
    }
    const what = [...new Set(captured.map((path) => `${formatPrefix(path.lan.prefix)} (${path.lan.dev})`)), ...gatewaysCaptured.map((gw) => `gateway ${gw}`)];
    const rules = [...new Set(captured.map((path) => `ip ${path.lan.family === 6 ? '-6 ' : ''}rule add to ${formatPrefix(path.lan.prefix)} lookup main priority ${bypassPriority(path)}`))];
    return finding(check, 'fail', `the exit-node default route sends ${listSome(what)} through the tunnel`, evidence, {
      command: 'netmend fix subnet-routes',
      explanation: `keeps connected LANs on main ahead of the mesh table${rules.length ? ` (${listSome(rules, 2)})` : ''}; with Tailscale, \`tailscale set --exit-node-allow-lan-access\` does the same for the LAN`,
    });
  },
};

export default check;
