/** `netmend node down`: find the node's pid file, signal it, wait until its socket is gone. */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { CheckCouldNotRunError, InputError } from '../errors.js';
import { pidFileOf } from './node.js';
import { UAPI_DIR } from './uapi.js';

/**
 * Stops the node running as `iface` and returns what it did beyond that. A pid file left by a
 * node that crashed names a process that is gone, or by now another program: that file (and the
 * crashed node's control socket, when nothing answers on it) is removed, never signalled.
 */
export async function stopNode(iface: string, timeoutMs: number, uapiDir = UAPI_DIR): Promise<string[]> {
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(iface)) throw new InputError(`'${iface}' is not an interface name`);
  const pidFile = pidFileOf(iface);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    throw new InputError(`no netmend node is running as ${iface} (${pidFile} does not exist)`, '`netmend node status` lists the running nodes');
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new CheckCouldNotRunError(`${pidFile} does not hold a process id`, `remove ${pidFile} if no node runs as ${iface}`);
  const socket = join(uapiDir, `${iface}.sock`);
  if (!isMeshNode(pid)) return removeLeftovers(iface, pid, pidFile, socket);
  try {
    process.kill(pid, 'SIGTERM');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return removeLeftovers(iface, pid, pidFile, socket);
    throw new CheckCouldNotRunError(`cannot signal pid ${pid}: ${code}`, 'run as root');
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || (!existsSync(socket) && !existsSync(pidFile))) return [];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new CheckCouldNotRunError(`the node for ${iface} (pid ${pid}) did not stop within ${timeoutMs / 1000} s`);
}

/** Whether `pid` is a running `netmend node up` (its command line has "node up"), not a reused pid. */
function isMeshNode(pid: number): boolean {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  return args.some((arg, i) => arg === 'node' && args[i + 1] === 'up');
}

async function removeLeftovers(iface: string, pid: number, pidFile: string, socket: string): Promise<string[]> {
  const notes: string[] = [];
  unlinkSync(pidFile);
  notes.push(`the node for ${iface} had stopped without cleaning up (pid ${pid} ${isAlive(pid) ? 'is another program now' : 'is gone'}): removed its stale pid file ${pidFile}`);
  if (existsSync(socket) && (await nobodyListens(socket))) {
    unlinkSync(socket);
    notes.push(`removed its stale control socket ${socket}`);
  }
  return notes;
}

/** A socket file nobody serves refuses connections; anything else (it answers, no permission) leaves it alone. */
function nobodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = createConnection(path);
    connection.once('connect', () => { connection.destroy(); resolve(false); });
    connection.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
