/** Small constructors so every check reports in the same shape. */
import type { Check, CheckResult, CheckStatus, FixSuggestion } from './types.js';

export function pass(check: Pick<Check, 'id'>, summary: string): CheckResult {
  return { id: check.id, status: 'pass', summary, evidence: [] };
}

export function skip(check: Pick<Check, 'id'>, reason: string): CheckResult {
  return { id: check.id, status: 'skip', summary: reason, evidence: [] };
}

/** The routes checks' skip when the host has no mesh tunnel to judge. */
export function skipWithoutMesh(check: Pick<Check, 'id'>): CheckResult {
  return skip(check, 'no mesh tunnel interface (tun/wireguard or a known mesh name; name one with --iface)');
}

export function finding(check: Pick<Check, 'id'>, status: Extract<CheckStatus, 'warn' | 'fail'>, summary: string, evidence: string[], fix?: FixSuggestion): CheckResult {
  return fix ? { id: check.id, status, summary, evidence, fix } : { id: check.id, status, summary, evidence };
}

/** "a, b and 3 more": keeps summaries one line on hosts with many findings. */
export function listSome(items: string[], max = 3): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
