/** Exit codes shared by every command (DEVELOPERS.md). */
export const ExitCode = {
  ok: 0,
  findings: 1,
  usage: 2,
  checkFailed: 3,
  needsRoot: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error the user can act on: one line of message, an optional hint, and the exit code the
 * process ends with. Anything that is not a NetmendError is a bug and is reported as such.
 */
export class NetmendError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  constructor(message: string, options: { exitCode?: ExitCodeValue; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NetmendError';
    this.exitCode = options.exitCode ?? ExitCode.usage;
    this.hint = options.hint;
  }
}

/** Bad input: a flag, an argument, a file or command output that does not parse. Exit 2. */
export class InputError extends NetmendError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.usage, hint });
    this.name = 'InputError';
  }
}

/** Something netmend needed to run could not run (a tool missing, a socket refused). Exit 3. */
export class CheckCouldNotRunError extends NetmendError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super(message, { exitCode: ExitCode.checkFailed, hint, cause });
    this.name = 'CheckCouldNotRunError';
  }
}

/** The action needs root. Exit 4. */
export class NeedsRootError extends NetmendError {
  constructor(what: string) {
    super(`${what} needs root`, { exitCode: ExitCode.needsRoot, hint: 'run it again with sudo' });
    this.name = 'NeedsRootError';
  }
}

/** One line for the terminal: message, then the hint after a separator. */
export function formatErrorLine(error: unknown): string {
  if (error instanceof NetmendError) return error.hint ? `${error.message} (hint: ${error.hint})` : error.message;
  if (error instanceof Error) return error.message.split('\n')[0];
  return String(error);
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof NetmendError) return error.exitCode;
  const oclif = (error as { oclif?: { exit?: number } } | undefined)?.oclif;
  if (oclif && typeof oclif.exit === 'number') return oclif.exit;
  return 1;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
