/**
 * `netmend-wg [-f|--foreground] IFACE`: the mesh engine with wireguard-go's command-line
 * convention, so wg-quick (WG_QUICK_USERSPACE_IMPLEMENTATION=netmend-wg) and wireguard-go's own
 * tests/netns.sh can run it in wireguard-go's place.
 *  - Starts with no key and no peers, the link down with MTU 1420, the UDP sockets on a free
 *    port; everything else arrives over UAPI (`wg setconf`, `wg set`).
 *  - Daemonizes by default: the parent starts the daemon and returns only once the daemon
 *    reported that the TUN and the control socket exist (over a pipe), so the next command
 *    (`wg setconf`, `ip link set IF netns X`) finds both. Exit 0 then; 1 when the daemon could
 *    not start (its error is printed), 2 for bad arguments.
 *  - LOG_LEVEL: verbose (or debug), error (the default), silent. The daemon keeps the parent's
 *    stdout/stderr only when LOG_LEVEL is set and not silent, as wireguard-go.
 *  - Exits when the interface is deleted (wherever it was moved), when its socket file is
 *    removed, or on SIGTERM/SIGINT.
 */
import { spawn } from 'node:child_process';
import { closeSync, readFileSync, writeSync } from 'node:fs';
import { Device } from './device.js';
import { Logger, type LogLevel } from './log.js';
import { startEngine } from './engine.js';

const USAGE = 'Usage: netmend-wg [-f/--foreground] INTERFACE-NAME';
const READY_FD_ENV = 'NETMEND_WG_READY_FD';
const INTERFACE_NAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
const DEFAULT_MTU = 1420;

/** wireguard-go's reading of LOG_LEVEL: anything unknown is `error`. */
export function wgLogLevel(text: string | undefined): LogLevel {
  switch (text) {
    case 'verbose':
    case 'debug':
      return 'verbose';
    case 'silent':
      return 'silent';
    default:
      return 'error';
  }
}

export function parseWgArgs(argv: string[]): { foreground: boolean; iface: string } | { version: true } | { error: string } {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) return { version: true };
  let foreground = false;
  const rest: string[] = [];
  for (const arg of argv) {
    if (arg === '-f' || arg === '--foreground') foreground = true;
    else rest.push(arg);
  }
  if (rest.length !== 1) return { error: USAGE };
  const iface = rest[0];
  if (!INTERFACE_NAME.test(iface)) return { error: `netmend-wg: '${iface}' is not a valid interface name (1-15 letters, digits or _=+.-)` };
  return { foreground: foreground || process.env.WG_PROCESS_FOREGROUND === '1', iface };
}

function version(): string {
  const { version: v } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  return `netmend-wg v${v} (netmend's userspace WireGuard engine; wireguard-go command line)`;
}

/** Runs the engine in this process until the interface goes away; resolves with the exit code. */
async function runForeground(iface: string, readyFd: number | undefined): Promise<number> {
  const level = wgLogLevel(process.env.LOG_LEVEL);
  const log = new Logger(level, `(${iface}) `);
  const device = new Device({ name: iface, mtu: DEFAULT_MTU, logger: log });
  const report = (line: string) => {
    if (readyFd === undefined) return;
    try {
      writeSync(readyFd, `${line}\n`);
      closeSync(readyFd);
    } catch { /* the parent is gone: nothing to tell */ }
    readyFd = undefined;
  };
  let engine;
  try {
    device.setListenPort(0);
    engine = await startEngine(device, { mtu: DEFAULT_MTU });
  } catch (error) {
    device.close();
    const message = `Failed to start ${iface}: ${(error as Error).message}`;
    log.error(message);
    report(`error ${message}`);
    if (readyFd === undefined && level === 'silent') process.stderr.write(`netmend-wg: ${message}\n`);
    return 1;
  }
  const running = engine;
  process.on('SIGTERM', () => running.shutdown('SIGTERM'));
  process.on('SIGINT', () => running.shutdown('SIGINT'));
  // A closing terminal must not take the daemon with it.
  process.on('SIGHUP', () => undefined);
  log.info(`UAPI listener started, UDP port ${device.port}`);
  report('ok');
  const why = await running.stopped;
  log.info(`shutting down (${why})`);
  return 0;
}

/** Starts the daemon (this program again, in the foreground) and waits for its ready line. */
async function daemonize(argv: string[], iface: string): Promise<number> {
  const level = process.env.LOG_LEVEL;
  const keepOutput = level !== undefined && level !== '' && level !== 'silent';
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], {
    env: { ...process.env, WG_PROCESS_FOREGROUND: '1', [READY_FD_ENV]: '3' },
    stdio: ['ignore', keepOutput ? 'inherit' : 'ignore', keepOutput ? 'inherit' : 'ignore', 'pipe'],
  });
  const pipe = child.stdio[3]!;
  let text = '';
  const outcome = await new Promise<string>((resolve) => {
    pipe.on('data', (chunk) => {
      text += String(chunk);
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    pipe.on('end', () => resolve(text));
    pipe.on('error', () => resolve(text));
    child.once('exit', (code) => resolve(text || `error the daemon for ${iface} exited with status ${code}`));
    child.once('error', (error) => resolve(`error cannot start the daemon: ${error.message}`));
  });
  if (outcome === 'ok') {
    pipe.destroy();
    child.unref();
    return 0;
  }
  process.stdout.write(`ERROR: (${iface}) ${outcome.replace(/^error /, '') || 'the daemon exited before it was ready'}\n`);
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseWgArgs(argv);
  if ('version' in parsed) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if ('error' in parsed) {
    process.stderr.write(`${parsed.error}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('netmend-wg: needs root (CAP_NET_ADMIN) to create a TUN interface\n');
    return 4;
  }
  const readyFd = process.env[READY_FD_ENV] ? Number(process.env[READY_FD_ENV]) : undefined;
  delete process.env[READY_FD_ENV];
  if (parsed.foreground) return runForeground(parsed.iface, readyFd);
  return daemonize(argv, parsed.iface);
}
