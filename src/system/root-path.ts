/**
 * Paths on the target system seen under --root. Whatever netmend reads or writes there (a fix's
 * files, the paths a journal entry names, the resolver configuration the doctor reads) must stay
 * inside the root: a `..`, or a symlink whose real location is outside it, would make netmend
 * act on, or report about, a file of the machine it runs on instead of the target's.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import { InputError } from '../errors.js';

/** The file path under --root. */
export function underRoot(root: string, path: string): string {
  if (!root || root === '/') return path;
  return `${root.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * Why a target path cannot be used, or undefined: it must be absolute and normalised, without
 * `..`, so that under --root it names exactly one file inside the root.
 */
export function unsafePathReason(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'a path that is not a string';
  const shown = JSON.stringify(path);
  if (path.includes('\0')) return `path ${shown} contains a NUL byte`;
  if (!path.startsWith('/')) return `path ${shown} is not absolute`;
  if (path.split('/').includes('..')) return `path ${shown} contains '..'`;
  if (path === '/' || posix.normalize(path) !== path || path.endsWith('/')) return `path ${shown} is not a normalised file path`;
  return undefined;
}

/**
 * Why a target path leads outside --root, or undefined when it stays inside. The deepest part of
 * the path that exists decides where it really is: its parent directory for a file about to be
 * written (the file itself is checked separately, never written through), the path itself when
 * reading (`final`), so a symlinked file is judged by what it points at.
 */
export function outsideRootReason(root: string, path: string, options: { final?: boolean } = {}): string | undefined {
  const syntax = unsafePathReason(path);
  if (syntax) return syntax;
  if (!root || root === '/') return undefined;
  let rootReal: string;
  try {
    rootReal = realpathSync(root);
  } catch {
    throw new InputError(`--root ${root} does not exist`);
  }
  let probe = options.final ? underRoot(root, path) : dirname(underRoot(root, path));
  // existsSync follows links: a dangling one is judged by the directory it sits in.
  while (!existsSync(probe)) probe = dirname(probe);
  const real = realpathSync(probe);
  if (real === rootReal || real.startsWith(`${rootReal}/`)) return undefined;
  return `${path}: under --root it leads to ${real}, outside ${rootReal} (a ${options.final ? 'symlink' : 'symlinked directory'} on the way)`;
}

/** Refuses (exit 2) a path that is not a normalised absolute path inside --root. */
export function assertInsideRoot(root: string, path: string): void {
  const reason = outsideRootReason(root, path);
  if (reason === undefined) return;
  throw new InputError(`refusing ${reason}`, reason.includes('leads to') ? 'replace the symlink with a directory, or use the real path as --root' : undefined);
}
