/**
 * Things a user names must exist: a mistyped --root or --iface is exit 2 with what does exist,
 * never a run that reports on nothing (a green tick for a missing interface, a "missing
 * resolv.conf" under a directory that is not there). Must not import @oclif/core.
 */
import { readdirSync, statSync } from 'node:fs';
import { InputError } from '../errors.js';
import { nearest } from '../suggest.js';

/** `--root DIR` must be an existing directory ('' and undefined mean /). */
export function requireRootDirectory(root: string | undefined, flag = '--root'): void {
  if (root === undefined || root === '') return;
  let isDirectory: boolean;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new InputError(`${flag}: the directory ${root} does not exist`, 'give the directory that holds the host\'s file tree (its /etc, /run, ...)');
    throw new InputError(`${flag}: cannot use ${root}: ${code ?? (error as Error).message}`);
  }
  if (!isDirectory) throw new InputError(`${flag}: ${root} is not a directory`, 'give the directory that holds the host\'s file tree (its /etc, /run, ...)');
}

/**
 * Every interface in `requested` must be one of `existing` (the links of the state analysed: the
 * live host, the ssh host or the saved snapshot, which `where` names).
 */
export function requireInterfaces(requested: readonly string[] | undefined, existing: readonly string[], flag: string, where?: string): void {
  for (const name of requested ?? []) {
    if (existing.includes(name)) continue;
    const guess = nearest(name, existing);
    throw new InputError(`${flag}: no interface named '${name}'${where ? ` on ${where}` : ''}`,
      `${guess ? `did you mean ${guess}? ` : ''}interfaces there: ${existing.join(', ') || 'none'}`);
  }
}

/** The interfaces of this host's network namespace. */
export function liveInterfaceNames(): string[] {
  try {
    return readdirSync('/sys/class/net').sort();
  } catch {
    return [];
  }
}
