/** Saving and loading snapshots as JSON, with validation that names what is wrong. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CheckCouldNotRunError, InputError, NetmendError } from '../errors.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { untouchedRawRoutes } from './raw-routes.js';
import type { Snapshot } from './types.js';
import { validateSnapshot } from './validate.js';

export function readSnapshotFile(path: string): Snapshot {
  if (path === '') throw new InputError('--snapshot: the file name is empty', 'give the path of a file written by `netmend snapshot --out FILE`');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputError(`--snapshot: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError(`--snapshot: ${path} is not JSON: ${(error as Error).message}`, 'write one with `netmend snapshot --out FILE`');
  }
  return validateSnapshot(data, path);
}

/**
 * The snapshot as JSON text in chunks: one route per line, so half a million routes never need
 * one giant string in memory. Routes a reader kept in wire form are written straight from it
 * (raw-routes.ts), without decoding them into objects first; `snapshot.routes` is then never read.
 */
export function* snapshotJsonChunks(snapshot: Snapshot, options: { reuseBuffers?: boolean } = {}): Generator<string | Uint8Array> {
  const lists = ['links', 'addresses', 'rules', 'routes'] as const;
  const head: Record<string, unknown> = {};
  // Object.keys, not a rest pattern: reading `routes` would decode wire-form routes.
  for (const key of Object.keys(snapshot)) {
    if (!(lists as readonly string[]).includes(key)) head[key] = (snapshot as unknown as Record<string, unknown>)[key];
  }
  const headJson = JSON.stringify(head);
  yield `${headJson.slice(0, -1)},\n`;
  const raw = untouchedRawRoutes(snapshot);
  for (const [index, name] of lists.entries()) {
    const closing = index === lists.length - 1 ? '\n' : ',\n';
    yield `"${name}": [`;
    if (name === 'routes' && raw) {
      yield* raw.jsonChunks(options.reuseBuffers);
      yield `${raw.count ? '\n' : ''}]${closing}`;
      continue;
    }
    const list: unknown[] = snapshot[name];
    let buffer = '';
    for (let i = 0; i < list.length; i++) {
      buffer += `${i === 0 ? '\n' : ',\n'}${JSON.stringify(list[i])}`;
      if (buffer.length > 1 << 16) {
        yield buffer;
        buffer = '';
      }
    }
    yield `${buffer}${list.length ? '\n' : ''}]${closing}`;
  }
  yield '}\n';
}

/** Why `--out PATH` could not be written, as the user can act on it; undefined for a bug. */
function outputProblem(out: string, error: unknown): NetmendError | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  const dir = dirname(resolve(out));
  switch (code) {
    case 'ENOENT': return new InputError(`--out: cannot write ${out}: the directory ${dir} does not exist`, `create it first (mkdir -p ${dir}) or pick another path`);
    case 'ENOTDIR': return new InputError(`--out: cannot write ${out}: part of ${dir} is not a directory`);
    case 'EISDIR': return new InputError(`--out: ${out} is a directory`, 'give a file name, e.g. --out host.json');
    case 'EACCES':
    case 'EPERM': return new InputError(`--out: cannot write ${out}: permission denied`);
    case 'EROFS': return new InputError(`--out: cannot write ${out}: read-only file system`);
    case 'ENOSPC':
    case 'EDQUOT': return new CheckCouldNotRunError(`--out: cannot write ${out}: no space left on the device`);
    default: return undefined;
  }
}

export async function writeSnapshot(snapshot: Snapshot, out?: string): Promise<void> {
  if (out !== undefined) {
    if (out === '') throw new InputError('--out: the file name is empty');
    try {
      // writeFileAtomic writes each chunk before asking for the next: buffers can be reused.
      writeFileAtomic(out, snapshotJsonChunks(snapshot, { reuseBuffers: true }), { refuseSymlink: false });
    } catch (error) {
      throw outputProblem(out, error) ?? error;
    }
    return;
  }
  // A reader that stops early (`netmend snapshot | head`) closes the pipe: stop quietly, as
  // other Unix tools do, instead of dying on EPIPE or waiting forever for 'drain'.
  let closed = false;
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed = true;
  };
  process.stdout.on('error', onError);
  for (const chunk of snapshotJsonChunks(snapshot)) {
    if (closed) break;
    if (!process.stdout.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done);
          process.stdout.off('error', done);
          resolve();
        };
        process.stdout.once('drain', done);
        process.stdout.once('error', done);
      });
    }
  }
}
