/**
 * The mesh's policy rules must (1) send ordinary traffic for mesh destinations into the mesh
 * table, and (2) let the mesh daemon's own marked packets (Tailscale marks them 0x80000) bypass
 * that table, or the tunnel's encrypted packets are routed into the tunnel itself. Layouts vary:
 * Tailscale's 5210-5270, mwan3's shift to 1310-1370, UniFi's single `not fwmark … lookup 52`,
 * busybox rules without a mask, wg-quick's `not fwmark 51820`. Rather than match one layout, the
 * check simulates both kinds of packet and reports missing, duplicated or misplaced rules that
 * change the outcome.
 */
import { formatRule } from '../../../snapshot/format.js';
import type { Family, Route, Rule } from '../../../snapshot/types.js';
import { isDefaultRoute, mainRule, routingView, tableKey, type RoutingView } from '../../analysis.js';
import { decisionViaMesh } from '../../lan-paths.js';
import { formatPrefix, prefixesOverlap } from '../../../net/address.js';
import { parseRouteDst, sampleAddress } from '../../prefix.js';
import { finding, listSome, pass, skipWithoutMesh } from '../../result.js';
import { decide, decisionEvidence, describeDecision } from '../../simulate.js';
import type { Check } from '../../types.js';
import { platformOf } from '../../gather/platform.js';
import { bypassMark, tailscaleRestartCommand } from '../../tailscale-rules.js';

const INTERNET_SAMPLE: Record<Family, string> = { 4: '198.51.100.1', 6: '2001:db8:ffff::1' };

function ruleLine(rule: Rule): string {
  return formatRule(rule).replace('\t', ' ');
}

/** Same selector and action, ignoring the priority: the signature of a rule added twice. */
function ruleSignature(rule: Rule): string {
  const { priority: _priority, protocol: _protocol, flags: _flags, ...rest } = rule;
  return JSON.stringify(rest, Object.keys(rest).sort());
}

/**
 * A mesh destination to probe with: a host inside the first non-default mesh route of the table.
 * Routes overlapping a LAN are left out: keeping the LAN on main is a deliberate bypass (and the
 * shadowing check's business), not a broken rule order.
 */
function meshSample(routes: Route[], view: RoutingView): { sample: string; route: Route } | undefined {
  for (const route of routes) {
    if (route.type !== 'unicast' || isDefaultRoute(route) || !route.dev || !view.meshIfaces.has(route.dev)) continue;
    const prefix = parseRouteDst(route.dst, route.family);
    if (!prefix || formatPrefix(prefix).toLowerCase().startsWith('fe80')) continue;
    if (view.lans.some((lan) => prefixesOverlap(lan.prefix, prefix))) continue;
    return { sample: sampleAddress(prefix, view.ownAddresses), route };
  }
  return undefined;
}

const check: Check = {
  id: 'routes.rule-order',
  topic: 'routes',
  title: 'mesh policy rules missing, duplicated or out of order',
  needs: ['platform'],
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0 && view.meshRoutes.length === 0) return skipWithoutMesh(check);
    const failures: string[] = [];
    const warnings: string[] = [];
    const evidence: string[] = [];
    const layouts: string[] = [];
    let duplicateFix: string | undefined;

    for (const family of [4, 6] as Family[]) {
      const rules = view.rules[family];
      const main = mainRule(view, family);
      for (const table of view.meshTables[family]) {
        const routes = view.meshTableRoutes.get(tableKey(family, table)) ?? [];
        const lookups = rules.filter((rule) => rule.action === 'lookup' && rule.table === table);
        const label = `IPv${family} table ${table}`;
        if (lookups.length === 0) {
          failures.push(`no IPv${family} rule looks up mesh table ${table}`);
          evidence.push(`${label} holds ${routes.length} route${routes.length === 1 ? '' : 's'} but no \`ip${family === 6 ? ' -6' : ''} rule\` looks it up`);
          continue;
        }
        layouts.push(`${label} at ${lookups.map((rule) => rule.priority).join('/')}`);

        // (1) Ordinary traffic to a mesh peer must reach the tunnel.
        const target = meshSample(routes, view);
        if (target) {
          const decision = decide(state.snapshot, { destination: target.sample });
          if (!decisionViaMesh(view, decision)) {
            failures.push(`IPv${family} traffic to mesh peer ${target.sample} does not reach the tunnel`);
            evidence.push(`${target.sample} (mesh route ${formatPrefix(parseRouteDst(target.route.dst, family)!)} in table ${table}) goes ${describeDecision(decision)}`, ...decisionEvidence(decision));
            if (main && lookups.every((rule) => rule.priority > main.priority)) evidence.push(`  table ${table} is consulted only after main: ${lookups.map(ruleLine).join('; ')} comes after ${ruleLine(main)}`);
          }
        }

        // (2) The daemon's own (marked) packets must not be routed into the tunnel. This only
        // matters when the mesh table would catch them: an exit node's default route.
        const { mark } = bypassMark(rules, table);
        const catchAll = routes.find((route) => isDefaultRoute(route) && route.type !== 'throw');
        if (catchAll) {
          const unmarked = decide(state.snapshot, { destination: INTERNET_SAMPLE[family] });
          const marked = decide(state.snapshot, { destination: INTERNET_SAMPLE[family], mark });
          if (decisionViaMesh(view, unmarked) && decisionViaMesh(view, marked)) {
            failures.push(`IPv${family} packets the mesh daemon marks 0x${mark.toString(16)} are routed back into the tunnel (a routing loop)`);
            evidence.push(`mark 0x${mark.toString(16)} to ${INTERNET_SAMPLE[family]} goes ${describeDecision(marked)}`, ...decisionEvidence(marked));
            const lookupPriority = Math.min(...lookups.map((rule) => rule.priority));
            const bypass = rules.filter((rule) => rule.fwmark !== undefined && !rule.not && rule.action === 'lookup' && rule.table === 254);
            evidence.push(bypass.length
              ? `  bypass rule after the mesh lookup at ${lookupPriority}: ${bypass.map(ruleLine).join('; ')}`
              : `  no \`fwmark 0x${mark.toString(16)} lookup main\` rule ahead of ${lookupPriority}`);
          }
        }
      }

      // Duplicates: the same selector and action at two priorities (two daemon instances, or
      // rules restored by one manager while another already re-added them).
      const bySignature = new Map<string, Rule[]>();
      for (const rule of rules) {
        if (rule.priority === 0 || rule.priority >= 32766) continue;
        const key = ruleSignature(rule);
        const list = bySignature.get(key) ?? [];
        list.push(rule);
        bySignature.set(key, list);
      }
      for (const list of bySignature.values()) {
        if (list.length < 2) continue;
        const isMesh = list.some((rule) => (rule.table !== undefined && view.meshTables[family].has(rule.table)) || rule.fwmark !== undefined);
        if (!isMesh) continue;
        duplicateFix ??= `ip${family === 6 ? ' -6' : ''} rule del priority ${list[list.length - 1].priority}`;
        warnings.push(`IPv${family} rule duplicated at ${list.map((rule) => rule.priority).join(' and ')}`);
        evidence.push(...list.map(ruleLine));
      }
    }

    if (failures.length) {
      // tailscaled installs its rules when it starts; `tailscale down && tailscale up` keeps the
      // running router and does not put deleted rules back.
      const tailscale = view.meshTables[4].has(52) || view.meshTables[6].has(52) || [...view.meshIfaces].some((name) => name.startsWith('tailscale'));
      if (!tailscale) {
        const tunnel = view.meshLinks[0]?.name ?? [...view.meshIfaces][0];
        return finding(check, 'fail', listSome(failures, 2), [...evidence], {
          command: `wg-quick down ${tunnel} && wg-quick up ${tunnel}`,
          explanation: 'reinstalls wg-quick\'s rules; for another mesh daemon restart it, and move any rule that catches everything (mwan3, PBR) after the mesh\'s',
        });
      }
      const platform = platformOf(state);
      const elsewhere = platform ? '' : ` (on OpenWrt: ${tailscaleRestartCommand(true)})`;
      return finding(check, 'fail', listSome(failures, 2), [...evidence], {
        command: tailscaleRestartCommand(platform?.openwrt),
        explanation: `restarts tailscaled${elsewhere}: it installs its rules (5210 bypass, 5230, 5250, 5270 lookup 52; 1310-1370 under mwan3) only when it starts, so \`tailscale down && tailscale up\` does not put deleted rules back; move any rule that catches everything (mwan3, PBR) after the mesh's`,
      });
    }
    if (warnings.length) {
      return finding(check, 'warn', listSome(warnings, 2), evidence, {
        command: duplicateFix ?? 'ip rule show',
        explanation: 'removes the later copy; the rules work, but two sets mean two managers fight over them',
      });
    }
    if (view.meshTables[4].size === 0 && view.meshTables[6].size === 0) return pass(check, 'mesh routes live in main; no policy rules needed');
    return pass(check, `mesh rules in order (${listSome(layouts, 4)})`);
  },
};

export default check;
