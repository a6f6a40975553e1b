/**
 * Runs a command through oclif (bin/run.js, when no fast path took it). Errors a command raises
 * are reported by BaseCommand.catch; this reports the ones raised before a command runs (an
 * unknown command, `help` for one) the same way: one line, the project's exit codes.
 */
import { run } from '@oclif/core';
import { exitCodeOf, NetmendError } from '../errors.js';
import { debugRequested, reportError, reportUsageError } from './report-error.js';

export async function runOclif(argv: string[], dir: string): Promise<number | undefined> {
  try {
    // No oclif flush(): it waits for a 'drain' that never comes once a reader (`| head`) has gone,
    // and stdout to a pipe or file is written synchronously on Linux anyway.
    await run(argv, dir);
    return undefined;
  } catch (error) {
    const debug = debugRequested(argv.includes('--debug'));
    if ((error as { code?: string }).code === 'EEXIT') return exitCodeOf(error);
    if (!(error instanceof NetmendError) && error instanceof Error && exitCodeOf(error) === 2) return reportUsageError(error, undefined, debug);
    return reportError(error, debug);
  }
}
