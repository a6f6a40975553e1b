/**
 * `netmend snapshot` without oclif (bin/run.js calls runFast): loading oclif costs about a third
 * of a second of CPU, which matters when the command is benchmarked against `ip -json`. Flags
 * come from the spec commands/snapshot.ts uses too; anything unusual (unknown flag, a positional, --snapshot with
 * --ssh) returns undefined and oclif runs the command with its usual usage errors.
 */
import { parseArgs } from 'node:util';
import { debugFlagSpec, parseArgsOptions, stateFlagSpec } from '../cli/flag-spec.js';
import { debugRequested, reportError } from '../cli/report-error.js';
import { snapshotFlagSpec } from './snapshot-flags.js';

const SOURCES: readonly string[] = stateFlagSpec.source.options;

export async function runFast(argv: string[]): Promise<number | undefined> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: parseArgsOptions({ ...snapshotFlagSpec, ...debugFlagSpec }),
      allowPositionals: false,
      strict: true,
    });
  } catch {
    return undefined;
  }
  const values = parsed.values as { snapshot?: string; ssh?: string; source?: string; out?: string; debug?: boolean };
  if (values.source !== undefined && !SOURCES.includes(values.source)) return undefined;
  if (values.snapshot !== undefined && values.ssh !== undefined) return undefined;
  try {
    const { readState } = await import('./load.js');
    const snapshot = await readState({ snapshotFile: values.snapshot, ssh: values.ssh, source: values.source });
    const { attachFirewall } = await import('../netfilter/read.js');
    await attachFirewall(snapshot, { snapshotFile: values.snapshot, ssh: values.ssh });
    const { writeSnapshot } = await import('./file.js');
    await writeSnapshot(snapshot, values.out);
    return 0;
  } catch (error) {
    return reportError(error, debugRequested(values.debug));
  }
}
