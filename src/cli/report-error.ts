/** How every command path (oclif or fast) reports a failure: one line on stderr, the exit code back. */
import { exitCodeOf, formatErrorLine, NetmendError } from '../errors.js';

export function debugRequested(flag: unknown): boolean {
  return flag === true || process.env.NETMEND_DEBUG === '1';
}

export function reportError(error: unknown, debug: boolean): number {
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  if (error instanceof NetmendError) process.stderr.write(`netmend: ${formatErrorLine(error)}\n`);
  else process.stderr.write(`netmend: internal error: ${formatErrorLine(error)}${debug ? '' : ' (run with --debug for details)'}\n`);
  return exitCodeOf(error);
}
