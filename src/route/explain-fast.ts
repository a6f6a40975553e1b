/**
 * `netmend route explain` without oclif (bin/run.js calls runFast): parses the same flag specs
 * with node:util parseArgs. Anything unusual (an unknown flag, a missing destination) returns
 * undefined so oclif runs the command and reports usage errors its usual way.
 */
import { parseArgs } from 'node:util';
import { debugFlagSpec, parseArgsOptions } from '../cli/flag-spec.js';
import { debugRequested, reportError } from '../cli/report-error.js';
import { runExplain } from './explain.js';
import { explainFlagSpec } from './explain-flags.js';

export async function runFast(argv: string[]): Promise<number | undefined> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: parseArgsOptions({ ...explainFlagSpec, ...debugFlagSpec }), allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return undefined;
  const source = values.source as string | undefined;
  if (source !== undefined && !explainFlagSpec.source.options.includes(source as never)) return undefined;
  if (values.snapshot !== undefined && values.ssh !== undefined) return undefined;
  try {
    const { output, exitCode } = await runExplain({
      destination: positionals[0],
      from: values.from as string | undefined,
      iif: values.iif as string | undefined,
      mark: values.mark as string | undefined,
      json: values.json === true,
      snapshot: values.snapshot as string | undefined,
      ssh: values.ssh as string | undefined,
      source,
    });
    process.stdout.write(output);
    return exitCode;
  } catch (error) {
    return reportError(error, debugRequested(values.debug));
  }
}
