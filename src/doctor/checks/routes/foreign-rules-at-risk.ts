/**
 * systemd-networkd deletes routing policy rules and routes it did not create
 * (ManageForeignRoutingPolicyRules=, ManageForeignRoutes=, both default yes) whenever it
 * (re)configures a link. tailscaled re-adds its rules after a while, but not the routes of
 * table 52, so the mesh silently loses its routes on the next `networkctl reload`.
 */
import { formatRoute, formatRule } from '../../../snapshot/format.js';
import { routingView, tableKey } from '../../analysis.js';
import { NETWORKD_GATHERER, type NetworkdFacts } from '../../gather/networkd.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

export const FOREIGN_DROP_IN = '/etc/systemd/networkd.conf.d/60-netmend-keep-foreign.conf';

const check: Check = {
  id: 'routes.foreign-rules-at-risk',
  topic: 'routes',
  title: 'systemd-networkd would delete the mesh\'s rules and routes',
  needs: [NETWORKD_GATHERER],
  run(state, options) {
    const networkd = state.facts[NETWORKD_GATHERER] as NetworkdFacts | undefined;
    if (!networkd) return skip(check, `systemd-networkd state unknown: ${state.gatherErrors[NETWORKD_GATHERER] ?? 'not gathered'}`);
    if (!networkd.running && !networkd.enabled) return skip(check, 'systemd-networkd is not running');

    const view = routingView(state, options);
    const meshRules = [...view.rules[4], ...view.rules[6]].filter((rule) => rule.action === 'lookup' && rule.table !== undefined && view.meshTableRoutes.has(tableKey(rule.family, rule.table)));
    const foreignRules = [...view.rules[4], ...view.rules[6]].filter((rule) => rule.protocol !== 'kernel' && rule.protocol !== 'static' && !(rule.priority === 0 || rule.priority >= 32766));
    const meshRoutes = view.meshRoutes.filter((route) => route.protocol !== 'kernel' && route.protocol !== 'static');
    if (meshRules.length === 0 && meshRoutes.length === 0) return skip(check, 'no mesh rules or routes for networkd to delete');

    const atRisk = [networkd.manageForeignRoutingPolicyRules, networkd.manageForeignRoutes].filter((setting) => setting.value);
    if (atRisk.length === 0) {
      return pass(check, `networkd keeps foreign rules and routes (${networkd.manageForeignRoutingPolicyRules.text}, ${networkd.manageForeignRoutes.text})`);
    }
    const losing: string[] = [];
    if (networkd.manageForeignRoutingPolicyRules.value) losing.push(`${foreignRules.length} rule${foreignRules.length === 1 ? '' : 's'}`);
    if (networkd.manageForeignRoutes.value) losing.push(`${meshRoutes.length} mesh route${meshRoutes.length === 1 ? '' : 's'}`);
    const evidence = [
      networkd.runningEvidence,
      ...atRisk.map((setting) => (setting.source === 'default' ? setting.text : `${setting.source}: ${setting.text}`)),
      ...(networkd.manageForeignRoutingPolicyRules.value ? foreignRules.slice(0, 8).map(formatRule).map((line) => line.replace('\t', ' ')) : []),
      ...(networkd.manageForeignRoutes.value ? meshRoutes.slice(0, 8).map(formatRoute) : []),
    ];
    const when = networkd.running ? 'on its next reload or link change' : 'when it starts (it is enabled)';
    return finding(check, networkd.running ? 'fail' : 'warn', `systemd-networkd will delete ${losing.join(' and ')} it did not create ${when}`, evidence, {
      command: `mkdir -p /etc/systemd/networkd.conf.d && printf '[Network]\\nManageForeignRoutingPolicyRules=no\\nManageForeignRoutes=no\\n' > ${FOREIGN_DROP_IN} && systemctl restart systemd-networkd`,
      explanation: 'a drop-in that makes networkd leave rules and routes of other programs alone (a global setting; restart networkd from a console, not over a link it manages)',
    });
  },
};

export default check;
