/**
 * Atomic file replacement: write a temp file in the same directory, fsync it, rename it over
 * the target, fsync the directory. A reader sees the old file or the new one, never half.
 */
import { closeSync, fsyncSync, lstatSync, openSync, renameSync, statSync, unlinkSync, writeSync, chmodSync, chownSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NetmendError } from '../errors.js';

export interface AtomicWriteOptions {
  /** File mode for a new file; an existing file keeps its mode and owner. */
  mode?: number;
  /** Refuse when the target is a symlink (it belongs to another manager). Default true. */
  refuseSymlink?: boolean;
}

export function writeFileAtomic(path: string, data: string | Buffer | Iterable<string | Uint8Array>, options: AtomicWriteOptions = {}): void {
  let existing: import('node:fs').Stats | undefined;
  try {
    const link = lstatSync(path);
    if (link.isSymbolicLink() && options.refuseSymlink !== false) {
      throw new NetmendError(`${path} is a symlink managed by something else; not writing through it`, { hint: 'configure the program that owns the link instead' });
    }
    existing = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (existing && !existing.isFile()) {
    // A device or pipe (`--out /dev/null`, `/dev/stdout`): renaming over it would replace the device
    // node itself, so write straight into it.
    const fd = openSync(path, 'w');
    try { writeChunks(fd, data); } finally { closeSync(fd); }
    return;
  }
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.netmend-${process.pid}-${Date.now()}.tmp`);
  const fd = openSync(temp, 'wx', options.mode ?? existing?.mode ?? 0o644);
  try {
    writeChunks(fd, data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    if (existing) {
      chmodSync(temp, existing.mode & 0o7777);
      if (process.getuid?.() === 0) chownSync(temp, existing.uid, existing.gid);
    }
    renameSync(temp, path);
  } catch (error) {
    try { unlinkSync(temp); } catch { /* already gone */ }
    throw error;
  }
  const dirFd = openSync(dir, 'r');
  try { fsyncSync(dirFd); } finally { closeSync(dirFd); }
}

function writeChunks(fd: number, data: string | Buffer | Iterable<string | Uint8Array>): void {
  if (typeof data === 'string') writeSync(fd, data);
  else if (Buffer.isBuffer(data)) writeSync(fd, data);
  else for (const chunk of data) typeof chunk === 'string' ? writeSync(fd, chunk) : writeSync(fd, chunk);
}
