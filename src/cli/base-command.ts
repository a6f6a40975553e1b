/**
 * The base every netmend command extends: one-line errors with a hint, the project's exit codes,
 * stack traces only with --debug. Commands stay argument plumbing over the core library.
 */
import { Command, Flags } from '@oclif/core';
import type { Input, ParserOutput } from '@oclif/core/interfaces';
import { exitCodeOf, NetmendError } from '../errors.js';
import { reportError, reportUsageError } from './report-error.js';
import { requireRootDirectory } from './validate.js';

// oclif's parser output bounds (not exported by @oclif/core/interfaces).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type FlagOutput = { [name: string]: any };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ArgOutput = { [name: string]: any };

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'print stack traces and debug detail on errors', default: false, helpGroup: 'GLOBAL' }),
  };

  protected get debugEnabled(): boolean {
    return process.argv.includes('--debug') || process.env.NETMEND_DEBUG === '1';
  }

  /** oclif's parse, then what every command's flags must satisfy: a --root that exists. */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(options?: Input<F, B, A>, argv?: string[]): Promise<ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv);
    const root: unknown = parsed.flags.root;
    if (typeof root === 'string') requireRootDirectory(root);
    return parsed;
  }

  /** Write text to stdout without oclif's formatting (keeps JSON byte-exact). */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if ((error as { code?: string }).code === 'EEXIT') {
      process.exitCode = exitCodeOf(error);
      return undefined;
    }
    if (!(error instanceof NetmendError) && exitCodeOf(error) === 2) {
      // oclif's own usage errors (unknown flag, missing argument): its whole reason, one line.
      process.exitCode = reportUsageError(error, this.id, this.debugEnabled);
      return undefined;
    }
    process.exitCode = reportError(error, this.debugEnabled);
    return undefined;
  }
}
