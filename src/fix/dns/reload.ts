/**
 * Making a running local resolver read its new configuration. dnsmasq re-reads only hosts and
 * resolv files on SIGHUP (server= and rebind-domain-ok= need a restart); unbound reloads its
 * whole configuration on SIGHUP. A resolver run by systemd is handled through its unit; any other
 * (a router script, the lab's daemons) is found by pid file or by what it listens on, and
 * restarted with its own command line. The reload target is always explicit: with --root the
 * host's services are never touched unless a pid file names the resolver.
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { CheckCouldNotRunError, InputError } from '../../errors.js';
import { findResolverProcesses, readArgv, type ResolverProcess } from '../../dns/processes.js';
import { spawnDetached } from '../../system/exec.js';
import type { Argv } from '../plan.js';

export type ResolverProgram = 'dnsmasq' | 'unbound';

/** Where to find the resolver again later (undo runs after it restarted with a new pid). */
export type ResolverTarget = { pidFile: string } | { program: ResolverProgram; address: string };

export function formatTarget(target: ResolverTarget): string {
  return 'pidFile' in target ? target.pidFile : `${target.program}@${target.address}`;
}

export function parseTarget(text: string): ResolverTarget {
  if (text.startsWith('/')) return { pidFile: text };
  const match = /^(dnsmasq|unbound)@(.+)$/.exec(text);
  if (!match) throw new InputError(`--restart-resolver: '${text}' is neither a pid file path nor dnsmasq@ADDRESS / unbound@ADDRESS`);
  return { program: match[1] as ResolverProgram, address: match[2] };
}

function readPidFile(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputError(`--pid-file: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 1) throw new InputError(`--pid-file: ${path} does not hold a process id`);
  return pid;
}

function processByPid(pid: number): ResolverProcess | undefined {
  // A daemon that has exited but is not yet reaped (a zombie) has a name and no program left.
  if (!alive(pid)) return undefined;
  const listening = findResolverProcesses().find((process) => process.pid === pid);
  if (listening) return listening;
  try {
    const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return { pid, name, argv: readArgv(pid) ?? [], listening: [] };
  } catch {
    return undefined;
  }
}

/** The running resolver a target names, or undefined when it does not run. */
export function findTarget(target: ResolverTarget): ResolverProcess | undefined {
  if ('pidFile' in target) {
    if (!existsSync(target.pidFile)) return undefined;
    return processByPid(readPidFile(target.pidFile));
  }
  const bracketed = target.address.includes(':') ? `[${target.address}]` : target.address;
  return findResolverProcesses().find((process) => process.name === target.program && process.listening.some((socket) => socket.startsWith(`${bracketed}:53/`)));
}

/**
 * The reload command for the plan (it runs again after undo). `self` is how to run netmend
 * itself (node and bin/run.js) for resolvers not run by systemd.
 */
export function reloadCommand(program: ResolverProgram, process: ResolverProcess, target: ResolverTarget, self: string[], openwrt: boolean): Argv {
  if (process.systemdUnit) return ['systemctl', program === 'dnsmasq' ? 'restart' : 'reload', process.systemdUnit];
  if (openwrt && program === 'dnsmasq') return ['/etc/init.d/dnsmasq', 'restart'];
  return [self[0], ...self.slice(1), 'fix', 'dns', '--restart-resolver', formatTarget(target)];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

/** Restart (dnsmasq) or SIGHUP (unbound) the resolver a target names; resolves once it listens again. */
export async function restartResolver(target: ResolverTarget): Promise<string> {
  const running = findTarget(target);
  if (!running) throw new CheckCouldNotRunError(`no running resolver at ${formatTarget(target)}`, 'start it, or check the pid file');
  const before = new Set(running.listening);
  if (running.name === 'unbound') {
    process.kill(running.pid, 'SIGHUP');
    // unbound closes and reopens its sockets while reloading.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const back = await waitFor(() => (findTarget(target)?.listening.length ?? 0) > 0, 10_000);
    if (!back) throw new CheckCouldNotRunError(`unbound (pid ${running.pid}) did not come back after SIGHUP`, 'see its log: the new configuration may be rejected (unbound-checkconf)');
    return `reloaded unbound (pid ${running.pid}) with SIGHUP`;
  }
  if (running.name !== 'dnsmasq') throw new CheckCouldNotRunError(`pid ${running.pid} is ${running.name}, not dnsmasq or unbound`);
  const executable = readlinkSync(`/proc/${running.pid}/exe`);
  const argv = running.argv.slice(1);
  process.kill(running.pid, 'SIGTERM');
  if (!(await waitFor(() => !alive(running.pid), 5000))) {
    process.kill(running.pid, 'SIGKILL');
    await waitFor(() => !alive(running.pid), 2000);
  }
  const spawned = await spawnDetached(executable, argv);
  // dnsmasq forks into the background unless run with -k/--keep-in-foreground (the default
  // is to fork): the pid spawned here then exits at once, and the daemon is its child. So the
  // daemon is found the way the target names it (its pid file, or what listens on the address),
  // as a new dnsmasq listening on every socket the old one had.
  let daemon: ResolverProcess | undefined;
  const back = await waitFor(() => {
    let now: ResolverProcess | undefined;
    try {
      now = findTarget(target);
    } catch {
      return false; // the pid file is being rewritten by the new daemon
    }
    if (now && now.pid !== running.pid && now.name === 'dnsmasq' && [...before].every((socket) => now.listening.includes(socket))) daemon = now;
    return daemon !== undefined;
  }, 10_000);
  if (!back || !daemon) {
    throw new CheckCouldNotRunError(`dnsmasq did not start again with its command line (nothing listens on ${[...before].join(', ')} after 10 s; the process started was pid ${spawned}${alive(spawned) ? '' : ', exited'})`, `check the configuration: ${executable} --test ${argv.join(' ')}`);
  }
  return `restarted dnsmasq: pid ${running.pid} -> ${daemon.pid}`;
}
