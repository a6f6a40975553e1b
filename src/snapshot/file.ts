/** Saving and loading snapshots as JSON, with validation that names what is wrong. */
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { untouchedRawRoutes } from './raw-routes.js';
import { validateFirewall } from './firewall.js';
import { SNAPSHOT_VERSIONS, type Snapshot } from './types.js';

const ARRAYS = ['links', 'addresses', 'routes', 'rules'] as const;

export function readSnapshotFile(path: string): Snapshot {
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

export function validateSnapshot(data: unknown, where: string): Snapshot {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InputError(`--snapshot: ${where} is not a netmend snapshot (expected an object)`);
  const object = data as Record<string, unknown>;
  if (!SNAPSHOT_VERSIONS.includes(object.version as number)) throw new InputError(`--snapshot: ${where} has version ${JSON.stringify(object.version)}, expected ${SNAPSHOT_VERSIONS.join(' or ')}`);
  for (const key of ARRAYS) {
    if (!Array.isArray(object[key])) throw new InputError(`--snapshot: ${where} has no "${key}" array`);
  }
  for (const [i, route] of (object.routes as unknown[]).entries()) {
    const r = route as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || (r.family !== 4 && r.family !== 6) || typeof r.dst !== 'string' || typeof r.table !== 'number' || typeof r.type !== 'string') {
      throw new InputError(`--snapshot: ${where}: routes[${i}] is malformed (needs family, dst, table, type)`);
    }
  }
  for (const [i, rule] of (object.rules as unknown[]).entries()) {
    const r = rule as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || (r.family !== 4 && r.family !== 6) || typeof r.priority !== 'number' || typeof r.action !== 'string') {
      throw new InputError(`--snapshot: ${where}: rules[${i}] is malformed (needs family, priority, action)`);
    }
  }
  for (const [i, link] of (object.links as unknown[]).entries()) {
    const l = link as Record<string, unknown>;
    if (typeof l !== 'object' || l === null || typeof l.name !== 'string' || typeof l.index !== 'number') {
      throw new InputError(`--snapshot: ${where}: links[${i}] is malformed (needs index, name)`);
    }
  }
  if (typeof object.sysctls !== 'object' || object.sysctls === null) object.sysctls = { interfaces: {} };
  if (object.version === 1) delete object.firewall;
  else if (object.firewall !== undefined) object.firewall = validateFirewall(object.firewall, where);
  return { ...(object as unknown as Snapshot), source: 'file' };
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

export async function writeSnapshot(snapshot: Snapshot, out?: string): Promise<void> {
  if (out) {
    // writeFileAtomic writes each chunk before asking for the next: buffers can be reused.
    writeFileAtomic(out, snapshotJsonChunks(snapshot, { reuseBuffers: true }), { refuseSymlink: false });
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
