/**
 * The base every netmend command extends: one-line errors with a hint, the project's exit codes,
 * stack traces only with --debug. Commands stay argument plumbing over the core library.
 */
import { Command, Flags } from '@oclif/core';
import { exitCodeOf, formatErrorLine, NetmendError } from '../errors.js';

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'print stack traces and debug detail on errors', default: false, helpGroup: 'GLOBAL' }),
  };

  protected get debugEnabled(): boolean {
    return process.argv.includes('--debug') || process.env.NETMEND_DEBUG === '1';
  }

  /** Write text to stdout without oclif's formatting (keeps JSON byte-exact). */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    const code = exitCodeOf(error);
    const isOclifParseError = !(error instanceof NetmendError) && code === 2;
    if (this.debugEnabled && error.stack) process.stderr.write(`${error.stack}\n`);
    if (isOclifParseError) {
      // oclif's own usage errors (unknown flag, missing argument): keep its message, one line.
      process.stderr.write(`netmend: ${formatErrorLine(error)}\n`);
    } else if (error instanceof NetmendError) {
      process.stderr.write(`netmend: ${formatErrorLine(error)}\n`);
    } else if ((error as { code?: string }).code === 'EEXIT') {
      process.exitCode = code;
      return;
    } else {
      process.stderr.write(`netmend: internal error: ${formatErrorLine(error)}${this.debugEnabled ? '' : ' (run with --debug for details)'}\n`);
    }
    process.exitCode = code;
    return undefined;
  }
}
