/**
 * The mesh node's log: one line per event on stderr, with a level. Keys never go through here
 * except as public keys, which identify peers (abbreviated as wg does).
 *
 * Verbose lines are stamped when the event happens but formatted and written a moment later,
 * together: a handshake logs between a packet arriving and the next one leaving, and a
 * synchronous write to stderr there (plus waking whoever reads the pipe) delayed that packet by
 * a measurable share of the first ping. Info and error lines are written at once, after any
 * verbose lines before them; the process exiting writes whatever is left.
 */
export type LogLevel = 'silent' | 'error' | 'info' | 'verbose';
const RANK: Record<LogLevel, number> = { silent: 0, error: 1, info: 2, verbose: 3 };

/** Longest a verbose line waits. Long enough to be past a handshake's packets, short for a reader. */
export const VERBOSE_FLUSH_DELAY_MS = 50;

const waiting = new Set<Logger>();
let flushTimer: NodeJS.Timeout | undefined;
let exitHookInstalled = false;

function flushWaiting(): void {
  flushTimer = undefined;
  for (const logger of [...waiting]) logger.flush();
}

export class Logger {
  /** Lines not written yet, formatted only when they are (a date's text costs more than the event). */
  private pending: Array<{ at: number; level: LogLevel; message: string }> = [];

  constructor(
    readonly level: LogLevel = 'info',
    private readonly prefix = '',
    private readonly sink: (line: string) => void = (line) => process.stderr.write(line),
  ) {}

  get verboseEnabled(): boolean {
    return RANK[this.level] >= RANK.verbose;
  }

  private write(level: LogLevel, message: string): void {
    if (RANK[this.level] < RANK[level]) return;
    this.pending.push({ at: Date.now(), level, message });
    if (level !== 'verbose') {
      this.flush();
      return;
    }
    waiting.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', flushWaiting);
    }
    if (flushTimer === undefined) {
      flushTimer = setTimeout(flushWaiting, VERBOSE_FLUSH_DELAY_MS);
      flushTimer.unref();
    }
  }

  /** Writes the lines still waiting, in order. */
  flush(): void {
    waiting.delete(this);
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    let text = '';
    for (const { at, level, message } of lines) {
      const time = new Date(at).toISOString().replace('T', ' ').replace('Z', '');
      text += `${time} ${level.padEnd(7)} ${this.prefix}${message}\n`;
    }
    this.sink(text);
  }

  error(message: string): void { this.write('error', message); }
  info(message: string): void { this.write('info', message); }
  verbose(message: string): void { this.write('verbose', message); }
}

export function parseLogLevel(text: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  if (text === undefined || text === '') return fallback;
  const lower = text.toLowerCase();
  if (lower === 'debug') return 'verbose';
  if (lower in RANK) return lower as LogLevel;
  return fallback;
}

/** A peer as logs show it: the first characters of its base64 public key, like `wg` abbreviates. */
export function peerLabel(publicKey: Buffer): string {
  const text = publicKey.toString('base64');
  return `peer(${text.slice(0, 4)}…${text.slice(-5, -1)})`;
}
