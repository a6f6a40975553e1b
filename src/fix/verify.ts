/**
 * Post-apply verification: re-read the live state and re-run the doctor checks the plan names,
 * in-process. A check id 'topic.name' lives in src/doctor/checks/<topic>/<name>.ts (default
 * export). A plan's own `stillBroken` predicate is a second opinion, and the only one when the
 * check module cannot be loaded.
 */
import type { Check, CheckResult, HostState } from '../doctor/types.js';
import type { Snapshot } from '../snapshot/types.js';
import type { VerifySpec } from './plan.js';

export interface VerifyOutcome {
  ok: boolean;
  /** One line per check: id, status, summary; then evidence lines indented. */
  report: string[];
}

async function loadCheck(id: string): Promise<Check | undefined> {
  const match = /^([a-z0-9-]+)\.([a-z0-9-]+)$/.exec(id);
  if (!match) return undefined;
  const specifier = `../doctor/checks/${match[1]}/${match[2]}.js`;
  try {
    const module = (await import(specifier)) as { default?: Check };
    return module.default;
  } catch {
    return undefined;
  }
}

async function hostState(snapshot: Snapshot, needs: string[]): Promise<HostState> {
  if (needs.length > 0) {
    const specifier = '../doctor/gather/index.js';
    try {
      const module = (await import(specifier)) as { gatherHostState?: (options: Record<string, unknown>) => Promise<HostState> };
      if (module.gatherHostState) return await module.gatherHostState({ snapshot, needs });
    } catch { /* fall back to the snapshot alone */ }
  }
  return { snapshot, facts: {}, gatherErrors: {} };
}

export async function verifyChecks(specs: VerifySpec[], snapshot: Snapshot, ifaces: string[]): Promise<VerifyOutcome> {
  const report: string[] = [];
  let ok = true;
  for (const spec of specs) {
    const check = await loadCheck(spec.checkId);
    if (check) {
      let result: CheckResult;
      try {
        result = check.run(await hostState(snapshot, check.needs ?? []), { ifaces, domains: ['ts.net'], names: [] });
      } catch (error) {
        result = { id: spec.checkId, status: 'error', summary: (error as Error).message, evidence: [] };
      }
      const failing = result.status === 'fail' || result.status === 'error';
      if (failing) ok = false;
      report.push(`${spec.checkId}: ${result.status}: ${result.summary}`);
      if (failing) for (const line of result.evidence) report.push(`    ${line}`);
    }
    if (spec.stillBroken) {
      const evidence = spec.stillBroken(snapshot);
      if (evidence.length > 0) {
        ok = false;
        report.push(`${spec.checkId}${check ? ' (fix self-check)' : ''}: fail: the change is not visible in the kernel`);
        for (const line of evidence) report.push(`    ${line}`);
      } else if (!check) {
        report.push(`${spec.checkId}: pass (fix self-check; doctor check not available)`);
      }
    }
  }
  return { ok, report };
}
