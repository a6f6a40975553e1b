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

interface SignalState {
  cleanups: Array<{ run: SignalCleanup; limitMs: number }>;
  takenOverBy?: (signal: HandledSignal) => void;
  installed: boolean;
  exiting: boolean;
}

// One state per process, not per copy of this module: bin/run.js installs the handlers from
// dist/src while a fast runner's bundle carries a copy of its own that registers the cleanups.
const STATE_KEY = Symbol.for('netmend.signals');
const state: SignalState = ((globalThis as Record<symbol, SignalState | undefined>)[STATE_KEY] ??= { cleanups: [], installed: false, exiting: false });
const { cleanups } = state;

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
  state.takenOverBy = handler;
  return () => {
    if (state.takenOverBy === handler) state.takenOverBy = undefined;
  };
}

export function exitOnSignals(): void {
  if (state.installed) return;
  state.installed = true;
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[]) {
    process.on(signal, () => void received(signal));
  }
}

async function received(signal: HandledSignal): Promise<void> {
  if (state.takenOverBy) {
    state.takenOverBy(signal);
    return;
  }
  const code = SIGNAL_EXIT_CODES[signal];
  if (state.exiting) process.exit(code);
  state.exiting = true;
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
