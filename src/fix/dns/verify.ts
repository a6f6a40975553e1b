/**
 * After `fix dns --apply` reloaded a resolver: re-run the dns checks against the live resolvers
 * (they need queries, which the framework's snapshot-based verification cannot make), waiting a
 * few seconds for a restarted daemon. The plan's verifyAsync; the framework rolls back on failure.
 */
import { runDnsChecks, selectDnsChecks } from '../../dns/doctor.js';
import { gatherDns } from '../../doctor/gather/dns.js';
import type { CheckResult } from '../../doctor/types.js';

export interface DnsVerifyOptions {
  root: string;
  domains: string[];
  servers: string[];
  names: string[];
  checkIds: string[];
  timeoutMs: number;
  /** How long to keep retrying while a restarted resolver comes up. */
  settleMs?: number;
  /** Stops the retries (the fix is being interrupted and rolled back). */
  aborted?: AbortSignal;
}

export async function verifyDns(options: DnsVerifyOptions): Promise<{ ok: boolean; results: CheckResult[]; report: string[] }> {
  const checks = selectDnsChecks(options.checkIds);
  const deadline = Date.now() + (options.settleMs ?? 8000);
  for (;;) {
    const facts = await gatherDns({ root: options.root, domains: options.domains, servers: options.servers, names: options.names, timeoutMs: options.timeoutMs });
    const results = runDnsChecks(facts, checks, { ifaces: [], domains: options.domains, names: facts.names });
    const ok = results.every((result) => result.status !== 'fail' && result.status !== 'error');
    if (ok || Date.now() >= deadline || options.aborted?.aborted) {
      const report = results.flatMap((result) => [`${result.id}: ${result.status}: ${result.summary}`, ...(result.status === 'pass' ? [] : result.evidence.map((line) => `    ${line}`))]);
      return { ok, results, report };
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
