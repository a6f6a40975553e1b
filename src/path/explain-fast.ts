/**
 * `netmend path explain` without oclif (bin/run.js calls runFast): the same flag spec through
 * node:util parseArgs; anything unusual returns undefined and oclif reports it its usual way.
 */
import { parseArgs } from 'node:util';
import { debugFlagSpec, parseArgsOptions } from '../cli/flag-spec.js';
import { debugRequested, reportError } from '../cli/report-error.js';
import { runPathExplain } from './explain.js';
import { pathFlagSpec } from './explain-flags.js';

export async function runFast(argv: string[]): Promise<number | undefined> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: parseArgsOptions({ ...pathFlagSpec, ...debugFlagSpec }), allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return undefined;
  const source = values.source as string | undefined;
  if (source !== undefined && !pathFlagSpec.source.options.includes(source as never)) return undefined;
  if (values.snapshot !== undefined && values.ssh !== undefined) return undefined;
  if (values.iif !== undefined && values.local === true) return undefined;
  try {
    const { output, exitCode } = await runPathExplain({ destination: positionals[0], ...(values as Record<string, never>) });
    process.stdout.write(output);
    return exitCode;
  } catch (error) {
    return reportError(error, debugRequested(values.debug));
  }
}
