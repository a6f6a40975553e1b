/**
 * What netmend may do to the terminal: colour on a terminal without NO_COLOR or TERM=dumb, and a
 * progress spinner on stderr only when both streams are terminals of known width and neither
 * NO_COLOR, TERM=dumb nor CI is set. ora's redraw divides by the terminal width, so a pty that
 * reports 0 columns (serial consoles do) made it loop forever inside one synchronous redraw, deaf
 * to signals: a spinner never runs without a known width.
 * Must not import @oclif/core (the fast paths use it).
 */
import { onSignal } from './signals.js';

type Env = NodeJS.ProcessEnv;

interface TerminalStream {
  isTTY?: boolean;
  columns?: number;
}

/** The user or the environment asked for plain output. */
function plainRequested(env: Env): boolean {
  return env.NO_COLOR !== undefined || env.TERM === 'dumb' || (env.CI !== undefined && env.CI !== '' && env.CI !== 'false');
}

export function useColour(stream: TerminalStream, env: Env = process.env): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

/** Whether a spinner may draw: both streams are terminals, the width is known and not 0, nobody opted out. */
export function spinnerAllowed(streams: { stdout: TerminalStream; stderr: TerminalStream } = process, env: Env = process.env): boolean {
  if (plainRequested(env)) return false;
  const { stdout, stderr } = streams;
  return Boolean(stdout.isTTY && stderr.isTTY) && typeof stderr.columns === 'number' && stderr.columns > 0;
}

/** Progress on stderr: a spinner where allowed, nothing at all otherwise. */
export interface Progress {
  /** Change what the current step says. */
  update(text: string): void;
  /** Mark the current step done (when any) and start the next one. */
  step(text: string): void;
  /** Mark the current step done. */
  done(): void;
  /** Mark the current step failed. */
  fail(): void;
  /** Remove the spinner without a mark. */
  stop(): void;
}

const silent: Progress = { update() {}, step() {}, done() {}, fail() {}, stop() {} };

export async function startProgress(text?: string): Promise<Progress> {
  if (!spinnerAllowed()) return silent;
  const { default: ora } = await import('ora');
  const stream = process.stderr;
  // discardStdin off: Ctrl-C stays a SIGINT from the terminal driver, not a byte ora must relay.
  const spinner = ora({ stream, discardStdin: false });
  const finish = (mark: 'succeed' | 'fail' | 'stop') => {
    if (spinner.isSpinning) spinner[mark]();
  };
  // A terminal resized to 0 columns mid-run: stop before the next redraw divides by 0.
  const onResize = () => {
    if (!(stream.columns > 0)) finish('stop');
  };
  stream.on('resize', onResize);
  const removeSignalHook = onSignal(() => finish('stop'));
  if (text !== undefined) spinner.start(text);
  return {
    update(next) { if (spinner.isSpinning) spinner.text = next; },
    step(next) {
      finish('succeed');
      if (stream.columns > 0) spinner.start(next);
    },
    done() { finish('succeed'); },
    fail() { finish('fail'); },
    stop() {
      finish('stop');
      stream.off('resize', onResize);
      removeSignalHook();
    },
  };
}
