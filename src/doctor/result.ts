/** Small constructors so every check reports in the same shape. */
import type { Check, CheckResult, CheckStatus, FixSuggestion } from './types.js';

export function pass(check: Pick<Check, 'id'>, summary: string): CheckResult {
  return { id: check.id, status: 'pass', summary, evidence: [] };
}

export function skip(check: Pick<Check, 'id'>, reason: string): CheckResult {
  return { id: check.id, status: 'skip', summary: reason, evidence: [] };
}

/** What a check found that works as designed, with the evidence that shows how. */
export function info(check: Pick<Check, 'id'>, summary: string, evidence: string[]): CheckResult {
  return { id: check.id, status: 'info', summary, evidence };
}

/** Why the routes checks skip on a host without a mesh; the report prints it once as a headline. */
export const NO_MESH_REASON = 'no tunnel interface (tun/wireguard kind or a known mesh name such as tailscale0 or wg0; name an unusual one with --iface)';

/** The routes checks' skip when the host has no mesh tunnel to judge. */
export function skipWithoutMesh(check: Pick<Check, 'id'>): CheckResult {
  return skip(check, `no mesh VPN found: ${NO_MESH_REASON}`);
}

export function finding(check: Pick<Check, 'id'>, status: Extract<CheckStatus, 'warn' | 'fail'>, summary: string, evidence: string[], fix?: FixSuggestion): CheckResult {
  return fix ? { id: check.id, status, summary, evidence, fix } : { id: check.id, status, summary, evidence };
}

/** "a, b and 3 more": keeps summaries one line on hosts with many findings. */
export function listSome(items: string[], max = 3): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
