/** Files under a --root for the `fix dns` lab tests: lay them out, and read them back to compare. */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Writes `text` to `path` under root, creating the directories on the way. */
export function write(root: string, path: string, text: string): void {
  const full = join(root, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
}

/**
 * Every file under root (the journal aside) with its bytes, to compare before and after undo. A
 * symlink whose target is missing (the resolved stub under a bare --root) counts as 'dangling'.
 */
export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const rel = relative(root, path);
      if (rel.startsWith('var/lib/netmend')) continue;
      const stat = statSync(path, { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(path);
      else out[rel] = stat ? readFileSync(path).toString('base64') : 'dangling';
    }
  };
  walk(root);
  return out;
}
