/**
 * The mesh node's log: one line per event on stderr, with a level. Keys never go through here
 * except as public keys, which identify peers (abbreviated as wg does).
 */
export type LogLevel = 'silent' | 'error' | 'info' | 'verbose';
const RANK: Record<LogLevel, number> = { silent: 0, error: 1, info: 2, verbose: 3 };

export class Logger {
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
    const time = new Date().toISOString().replace('T', ' ').replace('Z', '');
    this.sink(`${time} ${level.padEnd(7)} ${this.prefix}${message}\n`);
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
