/**
 * The fix journal: one JSON file per applied fix under <root>/var/lib/netmend/fixes, holding the
 * exact prior bytes (or absence) of every file the fix touched and every live change with its
 * undo commands. It is written before anything changes and updated after each step, so a fix
 * interrupted half way can still be undone. Undo restores exactly that and is safe to repeat.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { formatCommand, type CommandRunner } from '../system/exec.js';
import { underRoot } from './plan.js';

export const JOURNAL_DIR = '/var/lib/netmend/fixes';

export interface JournalFile {
  /** Path on the target system (without --root). */
  path: string;
  existed: boolean;
  /** Prior bytes, base64, when the file existed. */
  priorBase64?: string;
  priorMode?: number;
  /** Whether the framework has written the new content yet. */
  written: boolean;
}

export interface JournalLiveStep {
  description: string;
  command: string[];
  undo: string[][];
  done: boolean;
}

export type JournalState = 'applying' | 'applied' | 'undone' | 'rolled-back';

export interface JournalEntry {
  id: string;
  fix: string;
  method: string;
  summary: string;
  createdAt: string;
  /** The command line that applied it. */
  argv: string[];
  state: JournalState;
  files: JournalFile[];
  live: JournalLiveStep[];
  reloads: string[][];
  /** Set when the fix ran over SSH and waits for `netmend fix confirm`. */
  confirm?: { deadline: string; confirmed: boolean; watchdogPid?: number };
  undoneAt?: string;
  /** Why it was undone: 'undo', 'verification failed', 'not confirmed in time', ... */
  undoneBecause?: string;
}

export function journalDir(root: string): string {
  return underRoot(root, JOURNAL_DIR);
}

function entryPath(root: string, id: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new InputError(`'${id}' is not a fix id`, 'see `netmend fix list`');
  return join(journalDir(root), `${id}.json`);
}

export function saveEntry(root: string, entry: JournalEntry): void {
  const path = entryPath(root, entry.id);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600 });
}

export function loadEntry(root: string, id: string): JournalEntry {
  const path = entryPath(root, id);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(`no fix with id ${id} in ${journalDir(root)}`, 'see `netmend fix list`');
  }
  try {
    return JSON.parse(text) as JournalEntry;
  } catch (error) {
    throw new InputError(`journal entry ${path} is not JSON: ${(error as Error).message}`);
  }
}

/** All entries, oldest first. */
export function listEntries(root: string): JournalEntry[] {
  const dir = journalDir(root);
  if (!existsSync(dir)) return [];
  const entries: JournalEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    try {
      entries.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as JournalEntry);
    } catch {
      // A torn or foreign file is not ours to interpret; list the rest.
    }
  }
  return entries.sort((a, b) => (a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt)));
}

/** A new id: sortable UTC time plus the fix name, unique within the journal. */
export function newEntryId(root: string, fix: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let id = `${stamp}-${fix}`;
  for (let n = 2; existsSync(entryPath(root, id)); n++) id = `${stamp}-${fix}-${n}`;
  return id;
}

/** What a file looks like now, for the journal (before a change). */
export function captureFile(root: string, path: string): JournalFile {
  const real = underRoot(root, path);
  try {
    const stat = lstatSync(real);
    return { path, existed: true, priorBase64: readFileSync(real).toString('base64'), priorMode: stat.mode & 0o7777, written: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return { path, existed: false, written: false };
  }
}

/** Puts one file back exactly as journalled. */
export function restoreFile(root: string, file: JournalFile): void {
  const real = underRoot(root, file.path);
  if (!file.existed) {
    try { unlinkSync(real); } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return;
  }
  const prior = Buffer.from(file.priorBase64 ?? '', 'base64');
  try {
    if (statSync(real).isFile() && readFileSync(real).equals(prior)) {
      if (file.priorMode !== undefined) chmodSync(real, file.priorMode);
      return;
    }
  } catch { /* missing: write it */ }
  mkdirSync(dirname(real), { recursive: true });
  writeFileAtomic(real, prior, { mode: file.priorMode });
  // writeFileAtomic keeps the mode of the file it replaces (ours); the journalled one wins.
  if (file.priorMode !== undefined) chmodSync(real, file.priorMode);
}

/** Errors an undo command may answer with when its target is already as undo wants it. */
const ALREADY_UNDONE = /File exists|No such (file|process|device)|Cannot find|does not exist|not found/i;

export interface UndoReport {
  entry: JournalEntry;
  /** Lines saying what was restored. */
  done: string[];
  /** Undo commands that failed for another reason. */
  problems: string[];
  /** True when the entry had already been undone (nothing happened). */
  already: boolean;
}

/**
 * Restores everything an entry changed: live steps in reverse order, then files, then reloads.
 * Safe to repeat: an entry already undone is left alone.
 */
export async function undoEntry(root: string, entry: JournalEntry, runner: CommandRunner, because: string): Promise<UndoReport> {
  const report: UndoReport = { entry, done: [], problems: [], already: false };
  if (entry.state === 'undone' || entry.state === 'rolled-back') {
    report.already = true;
    return report;
  }
  for (const step of [...entry.live].reverse()) {
    if (!step.done) continue;
    for (const command of step.undo) {
      const [file, ...args] = command;
      const result = await runner.run(file, args, { allowFailure: true });
      if (result.exitCode !== 0 && !ALREADY_UNDONE.test(result.stderr)) {
        report.problems.push(`\`${formatCommand(file, args)}\`: ${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}`);
      } else {
        report.done.push(`ran ${formatCommand(file, args)}`);
      }
    }
    step.done = false;
  }
  for (const file of [...entry.files].reverse()) {
    if (!file.written) continue;
    restoreFile(root, file);
    report.done.push(file.existed ? `restored ${file.path}` : `removed ${file.path}`);
    file.written = false;
  }
  for (const command of entry.reloads) {
    const [file, ...args] = command;
    const result = await runner.run(file, args, { allowFailure: true });
    if (result.exitCode !== 0) report.problems.push(`\`${formatCommand(file, args)}\`: ${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}`);
    else report.done.push(`ran ${formatCommand(file, args)}`);
  }
  entry.state = because === 'undo' ? 'undone' : 'rolled-back';
  entry.undoneAt = new Date().toISOString();
  entry.undoneBecause = because;
  saveEntry(root, entry);
  return report;
}

/** The entry `fix undo` without an id means: the most recent one not yet undone. */
export function latestUndoable(root: string): JournalEntry | undefined {
  return listEntries(root).filter((entry) => entry.state === 'applied' || entry.state === 'applying').pop();
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Serialises everything that changes the journal (apply, undo, confirm, the watchdog), so a
 * confirm and a watchdog waking at the same moment cannot both act on one entry. The lock file
 * holds the owner's PID; a lock whose owner is gone is taken over.
 */
export async function withJournalLock<T>(root: string, fn: () => Promise<T>, waitMs = 15_000): Promise<T> {
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const dir = journalDir(root);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = join(dir, '.lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(readFileSync(lock, 'utf8') || '0', 10);
      if (!owner || !processAlive(owner)) {
        try { unlinkSync(lock); } catch { /* someone else took it over */ }
        continue;
      }
      if (Date.now() > deadline) throw new InputError(`another netmend fix is running (pid ${owner}, lock ${lock})`, 'wait for it to finish');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await fn();
  } finally {
    try { unlinkSync(lock); } catch { /* already gone */ }
  }
}
