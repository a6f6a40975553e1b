/**
 * `netmend doctor` and `netmend doctor routes` without oclif (bin/run.js calls runFast): oclif's
 * load costs a third of a second or more of CPU, which counts when the doctor is measured against
 * `ip -json route show`. Flags come from the spec command.ts uses too; anything unusual (an
 * unknown flag, a positional such as another topic, a bad option value) returns undefined and
 * oclif runs the command with its usual usage errors.
 */
import { parseArgs } from 'node:util';
import { debugFlagSpec, parseArgsOptions, stateFlagSpec } from '../cli/flag-spec.js';
import { debugRequested, reportError } from '../cli/report-error.js';
import { doctorFlagSpec, meshFlagSpec, meshNameFlagSpec } from './flag-spec.js';
import type { DoctorTopic } from './types.js';

const SOURCES: readonly string[] = stateFlagSpec.source.options;
const FAIL_ON: readonly string[] = doctorFlagSpec['fail-on'].options;

async function runFastFor(topics: DoctorTopic[] | undefined, argv: string[]): Promise<number | undefined> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: parseArgsOptions({ ...stateFlagSpec, ...doctorFlagSpec, ...debugFlagSpec, ...(topics === undefined ? { ...meshNameFlagSpec, ...meshFlagSpec } : {}) }),
      allowPositionals: false,
      strict: true,
    });
  } catch {
    return undefined;
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const source = (values.source as string | undefined) ?? 'auto';
  const failOn = (values['fail-on'] as string | undefined) ?? 'fail';
  if (!SOURCES.includes(source) || !FAIL_ON.includes(failOn)) return undefined;
  if (values.snapshot !== undefined && values.ssh !== undefined) return undefined;
  try {
    const { runDoctorCommand } = await import('./cli-run.js');
    const { stdout, exitCode } = await runDoctorCommand(topics, {
      snapshot: values.snapshot as string | undefined,
      ssh: values.ssh as string | undefined,
      source,
      json: values.json === true,
      check: values.check as string[] | undefined,
      'list-checks': values['list-checks'] === true,
      iface: values.iface as string[] | undefined,
      root: values.root as string | undefined,
      'fail-on': failOn,
      domain: values.domain as string[] | undefined,
      name: values.name as string[] | undefined,
      stun: values.stun as string[] | undefined,
    });
    process.stdout.write(stdout);
    return exitCode;
  } catch (error) {
    return reportError(error, debugRequested(values.debug));
  }
}

/** `netmend doctor routes ...` */
export function runFast(argv: string[]): Promise<number | undefined> {
  return runFastFor(['routes'], argv);
}

/** `netmend doctor ...` (every topic). */
export function runFastAll(argv: string[]): Promise<number | undefined> {
  return runFastFor(undefined, argv);
}
