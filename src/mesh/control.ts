/** `netmend node down`: find the node's pid file, signal it, wait until its socket is gone. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckCouldNotRunError, InputError } from '../errors.js';
import { pidFileOf } from './node.js';
import { UAPI_DIR } from './uapi.js';

export async function stopNode(iface: string, timeoutMs: number, uapiDir = UAPI_DIR): Promise<void> {
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(iface)) throw new InputError(`'${iface}' is not an interface name`);
  const pidFile = pidFileOf(iface);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    throw new InputError(`no netmend node is running as ${iface} (${pidFile} does not exist)`, '`netmend node status` lists the running nodes');
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new CheckCouldNotRunError(`${pidFile} does not hold a process id`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new InputError(`the node for ${iface} (pid ${pid}) is not running; ${pidFile} is stale`, `remove ${pidFile}`);
    throw new CheckCouldNotRunError(`cannot signal pid ${pid}: ${code}`, 'run as root');
  }
  const socket = join(uapiDir, `${iface}.sock`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || (!existsSync(socket) && !existsSync(pidFile))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new CheckCouldNotRunError(`the node for ${iface} (pid ${pid}) did not stop within ${timeoutMs / 1000} s`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
