/**
 * Post-apply verification: re-read the live state and re-run the doctor checks the plan names,
 * in-process, with the facts their gatherers collect (under --root). A plan's own `stillBroken`
 * predicate is a second opinion, and the only one for a check id the doctor does not have.
 */
import { gatherHostState } from '../doctor/gather/index.js';
import { findCheck } from '../doctor/registry.js';
import type { CheckResult } from '../doctor/types.js';
import type { Snapshot } from '../snapshot/types.js';
import { localRunner } from '../system/exec.js';
import type { VerifySpec } from './plan.js';

export interface VerifyOutcome {
  ok: boolean;
  /** One line per check: id, status, summary; then evidence lines indented. */
  report: string[];
}

export async function verifyChecks(specs: VerifySpec[], snapshot: Snapshot, ifaces: string[], root = '/'): Promise<VerifyOutcome> {
  const report: string[] = [];
  let ok = true;
  for (const spec of specs) {
    const check = findCheck(spec.checkId);
    if (check) {
      let result: CheckResult;
      try {
        const state = await gatherHostState(snapshot, { needs: check.needs ?? [], root, runner: localRunner });
        result = check.run(state, { ifaces, domains: ['ts.net'], names: [] });
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
