/**
 * `netmend doctor` and `netmend doctor routes` without oclif (bin/run.js calls runFast): oclif's
 * load costs a third of a second or more of CPU, which counts when the doctor is measured against
 * `ip -json route show`. Flags come from the spec command.ts uses too; anything unusual (an
 * unknown flag, a positional such as another topic, a bad option value) returns undefined and
 * oclif runs the command with its usual usage errors.
 */
import { debugFlagSpec, parseFast, stateFlagSpec } from '../cli/flag-spec.js';
import { debugRequested, reportError } from '../cli/report-error.js';
import type { DoctorFlagValues } from './cli-run.js';
import { doctorFlagSpec, meshFlagSpec, meshNameFlagSpec } from './flag-spec.js';
import type { DoctorTopic } from './types.js';

async function runFastFor(topics: DoctorTopic[] | undefined, argv: string[]): Promise<number | undefined> {
  const parsed = parseFast(argv, { ...stateFlagSpec, ...doctorFlagSpec, ...debugFlagSpec, ...(topics === undefined ? { ...meshNameFlagSpec, ...meshFlagSpec } : {}) }, false);
  if (!parsed) return undefined;
  const values = parsed.values as unknown as DoctorFlagValues & { debug: boolean };
  try {
    // oclif's path checks --root in BaseCommand.parse.
    const { requireRootDirectory } = await import('../cli/validate.js');
    requireRootDirectory(values.root);
    const { runDoctorCommand } = await import('./cli-run.js');
    const { stdout, exitCode } = await runDoctorCommand(topics, values);
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
