/**
 * A mesh route in a table consulted before main (Tailscale: table 52 at 5270, main at 32766)
 * that covers a directly connected LAN sends LAN traffic into the tunnel: the host falls off its
 * own LAN. Proven per LAN by the route simulator, IPv4 and IPv6.
 */
import { formatPrefix } from '../../../net/address.js';
import { routingView } from '../../analysis.js';
import { bypassPriority, lanPathEvidence, lanPaths } from '../../lan-paths.js';
import { finding, listSome, pass, skip, skipWithoutMesh } from '../../result.js';
import type { Check } from '../../types.js';

const check: Check = {
  id: 'routes.subnet-shadows-lan',
  topic: 'routes',
  title: 'mesh subnet route shadows a connected LAN',
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0 && view.meshRoutes.length === 0) return skipWithoutMesh(check);
    if (view.lans.length === 0) return skip(check, 'no directly connected LAN prefix to shadow');
    const shadowed = lanPaths(state, options).filter((path) => path.viaMesh && !path.byDefaultRoute);
    if (shadowed.length === 0) {
      return pass(check, `${listSome([...new Set(view.lans.map((lan) => formatPrefix(lan.prefix)))], 4)} reached directly`);
    }
    const lans = [...new Set(shadowed.map((path) => `${formatPrefix(path.lan.prefix)} (${path.lan.dev})`))];
    const tunnels = [...new Set(shadowed.map((path) => path.decision.result.dev ?? `table ${path.decision.result.table}`))];
    const first = shadowed[0];
    const rules = [...new Set(shadowed.map((path) => `ip ${path.lan.family === 6 ? '-6 ' : ''}rule add to ${formatPrefix(path.lan.prefix)} lookup main priority ${bypassPriority(path)}`))];
    return finding(check, 'fail', `${listSome(lans)} ${lans.length === 1 ? 'is' : 'are'} routed through ${tunnels.join(', ')} instead of directly`, shadowed.flatMap(lanPathEvidence), {
      command: 'netmend fix subnet-routes',
      explanation: `adds a rule ahead of the mesh's rule ${first.decision.rule?.priority ?? ''} so the LAN uses main (${listSome(rules, 2)}), live and persistent`,
    });
  },
};

export default check;
