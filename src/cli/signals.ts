/**
 * Every command ends promptly on a signal, with the shell's exit codes: SIGINT 130, SIGTERM 143,
 * SIGHUP 129 (the terminal went away). bin/run.js installs this first thing. Work that must not
 * be left half-done (a spinner hiding the cursor, a fix in progress) registers a cleanup with
 * onSignal; cleanups run newest first, and the process exits when they finish, after their time
 * limit, or at once on a second signal. A long-running service (`node up`) takes the signals
 * over with takeOverSignals and shuts itself down. Must not import @oclif/core.
 */

export const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

export type SignalCleanup = (signal: HandledSignal) => void | Promise<void>;

const DEFAULT_CLEANUP_LIMIT_MS = 3000;

const cleanups: Array<{ run: SignalCleanup; limitMs: number }> = [];
let takenOverBy: ((signal: HandledSignal) => void) | undefined;
let installed = false;
let exiting = false;

/** Run `cleanup` before the process exits on a signal; returns the function that unregisters it. */
export function onSignal(cleanup: SignalCleanup, options: { limitMs?: number } = {}): () => void {
  const entry = { run: cleanup, limitMs: options.limitMs ?? DEFAULT_CLEANUP_LIMIT_MS };
  cleanups.push(entry);
  return () => {
    const index = cleanups.indexOf(entry);
    if (index >= 0) cleanups.splice(index, 1);
  };
}

/** The caller handles SIGINT, SIGTERM and SIGHUP itself (and ends the process); returns the release. */
export function takeOverSignals(handler: (signal: HandledSignal) => void): () => void {
  takenOverBy = handler;
  return () => {
    if (takenOverBy === handler) takenOverBy = undefined;
  };
}

export function exitOnSignals(): void {
  if (installed) return;
  installed = true;
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[]) {
    process.on(signal, () => void received(signal));
  }
}

async function received(signal: HandledSignal): Promise<void> {
  if (takenOverBy) {
    takenOverBy(signal);
    return;
  }
  const code = SIGNAL_EXIT_CODES[signal];
  if (exiting) process.exit(code);
  exiting = true;
  const pending = cleanups.splice(0).reverse();
  if (pending.length === 0) process.exit(code);
  const limit = setTimeout(() => process.exit(code), Math.max(...pending.map((entry) => entry.limitMs)));
  for (const entry of pending) {
    try {
      await entry.run(signal);
    } catch (error) {
      process.stderr.write(`netmend: while stopping on ${signal}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  clearTimeout(limit);
  process.exit(code);
}
