/**
 * The checks prove a finding by asking the route simulator what the kernel would do, the same
 * engine `netmend route explain` uses, so the evidence is the decision itself (rule, route,
 * interface) rather than a guess from overlapping prefixes.
 */
import { simulateRoute } from '../route/simulate.js';
import type { RouteDecision, RouteQuery } from '../route/types.js';
import { formatRoute, formatRule } from '../snapshot/format.js';
import type { Snapshot } from '../snapshot/types.js';

export function decide(snapshot: Snapshot, query: RouteQuery): RouteDecision {
  return simulateRoute(snapshot, query);
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
