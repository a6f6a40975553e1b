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

// oclif's framing around the reason, which says nothing on one line.
const OCLIF_FRAMING = [/^The following errors? occurred:?$/i, /^See more help with --help$/i];

/**
 * oclif's usage errors span several lines ("The following error occurred:\n  Missing required
 * flag ssh\nSee more help with --help"); the reason is all but the framing, joined on one line.
 * An argument listed as "name  description" reads as "name (description)".
 */
export function usageErrorReason(message: string): string {
  const lines = message.split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !OCLIF_FRAMING.some((framing) => framing.test(line)))
    .map((line) => line.replace(/^(\S+)\s{2,}(\S.*)$/, '$1 ($2)'));
  if (lines.length === 0) return message.trim();
  const [head, ...rest] = lines;
  if (rest.length === 0) return head;
  return `${head}${head.endsWith(':') ? ' ' : ': '}${rest.join('; ')}`;
}

/** A usage error oclif raised while parsing `commandId`'s arguments: one line, exit 2. */
export function reportUsageError(error: Error, commandId: string | undefined, debug: boolean): number {
  if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
  const help = commandId ? `netmend ${commandId.replaceAll(':', ' ')} --help` : 'netmend help';
  process.stderr.write(`netmend: ${usageErrorReason(error.message)} (hint: see \`${help}\`)\n`);
  return 2;
}
