/**
 * Runs the selected checks over a gathered HostState and builds the versioned JSON document
 * (`--json` prints it as is; the human renderer reads the same document). A check that throws
 * becomes status `error` with its message, and the others still run.
 */
import { ExitCode, InputError } from '../errors.js';
import { checksOf, findCheck, topics as allTopics } from './registry.js';
import type { Check, CheckOptions, CheckResult, CheckStatus, DoctorTopic, FixSuggestion, HostState } from './types.js';

export const DOCTOR_DOCUMENT_VERSION = 1;

export interface DoctorCheckEntry {
  id: string;
  status: CheckStatus;
  summary: string;
  evidence: string[];
  fix: FixSuggestion | null;
}

export interface DoctorDocument {
  version: typeof DOCTOR_DOCUMENT_VERSION;
  host: string;
  checks: DoctorCheckEntry[];
  summary: Record<CheckStatus, number>;
}

export type FailOn = 'warn' | 'fail' | 'never';

/** The checks a run selects: every check of the topics, or only the `--check` ids among them. */
export function selectChecks(topics: readonly DoctorTopic[] = allTopics(), checkIds: readonly string[] = []): Check[] {
  const inTopics = checksOf(topics);
  if (checkIds.length === 0) return inTopics;
  return checkIds.map((id) => {
    const check = inTopics.find((candidate) => candidate.id === id);
    if (check) return check;
    const elsewhere = findCheck(id);
    const known = inTopics.map((candidate) => candidate.id);
    throw new InputError(
      elsewhere ? `--check: ${id} belongs to \`netmend doctor ${elsewhere.topic}\`, not this topic` : `--check: unknown check id '${id}'`,
      `known ids: ${known.join(', ')} (see --list-checks)`,
    );
  });
}

/** Runs one check, turning a crash into an `error` result. */
export function runCheck(check: Check, state: HostState, options: CheckOptions): CheckResult {
  try {
    const result = check.run(state, options);
    return { ...result, id: check.id };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { id: check.id, status: 'error', summary: `the check could not run: ${message}`, evidence: [] };
  }
}

export function emptySummary(): Record<CheckStatus, number> {
  return { pass: 0, warn: 0, fail: 0, skip: 0, error: 0, info: 0 };
}

export function buildDocument(host: string, results: readonly CheckResult[]): DoctorDocument {
  const summary = emptySummary();
  const checks = results.map((result) => {
    summary[result.status] += 1;
    return { id: result.id, status: result.status, summary: result.summary, evidence: result.evidence, fix: result.fix ?? null };
  });
  return { version: DOCTOR_DOCUMENT_VERSION, host, checks, summary };
}

export interface RunDoctorOptions {
  topics?: readonly DoctorTopic[];
  checkIds?: readonly string[];
  options: CheckOptions;
  state: HostState;
  /** Called before each check, e.g. to update a spinner. */
  onCheck?: (check: Check) => void;
}

export function runDoctor({ topics, checkIds, options, state, onCheck }: RunDoctorOptions): DoctorDocument {
  const results = selectChecks(topics, checkIds).map((check) => {
    onCheck?.(check);
    return runCheck(check, state, options);
  });
  return buildDocument(state.snapshot.host, results);
}

/** 3 when a check could not run, 1 for findings at or above `failOn`, else 0. */
export function exitCodeOf(document: DoctorDocument, failOn: FailOn = 'fail'): number {
  if (document.summary.error > 0) return ExitCode.checkFailed;
  if (failOn === 'never') return ExitCode.ok;
  if (document.summary.fail > 0) return ExitCode.findings;
  if (failOn === 'warn' && document.summary.warn > 0) return ExitCode.findings;
  return ExitCode.ok;
}

/** Gatherer names the selected checks need. */
export function neededGatherers(checks: readonly Check[]): string[] {
  return [...new Set(checks.flatMap((check) => check.needs ?? []))];
}
