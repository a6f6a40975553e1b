/**
 * `netmend route explain` without oclif (bin/run.js calls runFast): parses the same flag specs
 * with node:util parseArgs. Anything unusual (an unknown flag, a missing destination) returns
 * undefined so oclif runs the command and reports usage errors its usual way.
 */
import { debugFlagSpec, parseFast } from '../cli/flag-spec.js';
import { debugRequested, reportError } from '../cli/report-error.js';
import { runExplain } from './explain.js';
import { explainFlagSpec } from './explain-flags.js';

export async function runFast(argv: string[]): Promise<number | undefined> {
  const parsed = parseFast(argv, { ...explainFlagSpec, ...debugFlagSpec }, true);
  if (!parsed || parsed.positionals.length !== 1) return undefined;
  const values = parsed.values as { from?: string; iif?: string; mark?: string; json: boolean; snapshot?: string; ssh?: string; source: string; debug: boolean };
  try {
    const { output, exitCode } = await runExplain({ destination: parsed.positionals[0], ...values });
    process.stdout.write(output);
    return exitCode;
  } catch (error) {
    return reportError(error, debugRequested(values.debug));
  }
}
