/**
 * The fix journal: one JSON file per applied fix under <root>/var/lib/netmend/fixes, holding the
 * exact prior bytes (or absence) of every file the fix touched, the directories it created, and
 * every live change with its undo commands. It is written before anything changes and updated
 * after each step, so a fix interrupted half way can still be undone. Undo restores exactly that
 * and is safe to repeat.
 *
 * An entry is trusted only as written: each carries a checksum of its own content, and every
 * path in it must be absolute, normalised and inside --root. An entry that fails any of that is
 * damaged: it is reported by id and path (exit 2) and never skipped over silently, because undoing
 * an older fix past it would leave the newer change in place while reporting success.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { formatCommand, type CommandRunner } from '../system/exec.js';
import { assertInsideRoot, underRoot, unsafePathReason } from '../system/root-path.js';
import { commandToRun, undoCommandProblem } from './undo-commands.js';

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
const STATES: readonly JournalState[] = ['applying', 'applied', 'undone', 'rolled-back'];

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
  /** Directories the fix created for its files (target paths), removed again by undo when empty. */
  createdDirs?: string[];
  live: JournalLiveStep[];
  reloads: string[][];
  /** Set when the fix ran over SSH and waits for `netmend fix confirm`. */
  confirm?: { deadline: string; confirmed: boolean; watchdogPid?: number };
  undoneAt?: string;
  /** Why it was undone: 'undo', 'verification failed', 'not confirmed in time', ... */
  undoneBecause?: string;
  /** sha256 of the entry's JSON without this field, set by saveEntry. */
  checksum?: string;
}

/** A journal file that cannot be trusted: unreadable, not JSON, checksum mismatch, unsafe path. */
export interface DamagedEntry {
  id: string;
  path: string;
  reason: string;
}

export type JournalRecord = { entry: JournalEntry; damaged?: undefined } | { entry?: undefined; damaged: DamagedEntry };

export class DamagedEntryError extends InputError {
  readonly damaged: DamagedEntry;
  constructor(damaged: DamagedEntry, hint = 'undo another fix by naming it (`netmend fix undo ID`, ids in `netmend fix list`); move the damaged file away once you have checked by hand what that fix changed') {
    super(`journal entry ${damaged.id} (${damaged.path}) is damaged: ${damaged.reason}`, hint);
    this.name = 'DamagedEntryError';
    this.damaged = damaged;
  }
}

export function journalDir(root: string): string {
  return underRoot(root, JOURNAL_DIR);
}

const ID = /^[A-Za-z0-9._-]+$/;

function entryPath(root: string, id: string): string {
  if (!ID.test(id) || id.startsWith('.')) throw new InputError(`'${id}' is not a fix id`, 'see `netmend fix list`');
  return join(journalDir(root), `${id}.json`);
}

function checksumOf(body: Omit<JournalEntry, 'checksum'>): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
}

export function saveEntry(root: string, entry: JournalEntry): void {
  const path = entryPath(root, entry.id);
  const { checksum: _old, ...body } = entry;
  entry.checksum = checksumOf(body);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify({ ...body, checksum: entry.checksum }, null, 2)}\n`, { mode: 0o600 });
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isArgv = (value: unknown): value is string[] => Array.isArray(value) && value.length > 0 && value.every(isString);

/** What is wrong with a parsed entry's shape and paths, or undefined when it can be used. */
function shapeProblem(value: Record<string, unknown>, id: string): string | undefined {
  if (value.id !== id) return `its id is ${JSON.stringify(value.id)}, not the file's name`;
  for (const key of ['fix', 'method', 'summary', 'createdAt'] as const) if (!isString(value[key])) return `'${key}' is missing or not text`;
  if (!STATES.includes(value.state as JournalState)) return `unknown state ${JSON.stringify(value.state)}`;
  if (!Array.isArray(value.argv) || !value.argv.every(isString)) return "'argv' is not a list of words";
  if (!Array.isArray(value.files)) return "'files' is not a list";
  for (const file of value.files as Array<Record<string, unknown>>) {
    if (typeof file !== 'object' || file === null) return "an entry of 'files' is not an object";
    const unsafe = unsafePathReason(file.path);
    if (unsafe) return unsafe;
    if (typeof file.existed !== 'boolean' || typeof file.written !== 'boolean') return `file ${file.path as string}: 'existed'/'written' are not true or false`;
    if (file.existed && !isString(file.priorBase64)) return `file ${file.path as string}: the prior content is missing`;
    if (file.priorMode !== undefined && !(Number.isInteger(file.priorMode) && (file.priorMode as number) >= 0 && (file.priorMode as number) <= 0o7777)) return `file ${file.path as string}: bad mode`;
  }
  if (value.createdDirs !== undefined) {
    if (!Array.isArray(value.createdDirs)) return "'createdDirs' is not a list";
    for (const dir of value.createdDirs) {
      const unsafe = unsafePathReason(dir);
      if (unsafe) return unsafe;
    }
  }
  if (!Array.isArray(value.live)) return "'live' is not a list";
  for (const step of value.live as Array<Record<string, unknown>>) {
    if (typeof step !== 'object' || step === null || !isArgv(step.command) || !Array.isArray(step.undo) || !step.undo.every(isArgv) || typeof step.done !== 'boolean') return 'a live step is malformed';
  }
  if (!Array.isArray(value.reloads) || !value.reloads.every(isArgv)) return "'reloads' is not a list of commands";
  // Checked before anything runs: undo runs these as root.
  for (const command of [...(value.live as JournalLiveStep[]).flatMap((step) => step.undo), ...(value.reloads as string[][])]) {
    const problem = undoCommandProblem(command);
    if (problem) return `undo would run ${problem}`;
  }
  return undefined;
}

/** Reads one journal file: the entry, or why it is damaged. */
function readRecord(root: string, id: string): JournalRecord {
  const path = entryPath(root, id);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return { damaged: { id, path, reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` } };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = text.trim() === '' ? 'it is empty' : `it does not parse, truncated or overwritten (${(error as Error).message})`;
    return { damaged: { id, path, reason } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { damaged: { id, path, reason: 'it is not a journal entry (not a JSON object)' } };
  const { checksum, ...body } = value as JournalEntry;
  if (!isString(checksum)) return { damaged: { id, path, reason: 'it has no checksum' } };
  if (checksum !== checksumOf(body)) return { damaged: { id, path, reason: 'its checksum does not match its content (changed or damaged after netmend wrote it)' } };
  const problem = shapeProblem(body as unknown as Record<string, unknown>, id);
  if (problem) return { damaged: { id, path, reason: problem } };
  return { entry: value as JournalEntry };
}

/** One entry by id; a damaged one is refused (exit 2) naming its id, path and damage. */
export function loadEntry(root: string, id: string): JournalEntry {
  const path = entryPath(root, id);
  if (!existsSync(path)) throw new InputError(`no fix with id ${id} in ${journalDir(root)}`, 'see `netmend fix list`');
  const record = readRecord(root, id);
  if (record.damaged) throw new DamagedEntryError(record.damaged, 'netmend will not act on it; check by hand what that fix changed (`netmend fix list` shows the others)');
  return record.entry;
}

/** When a record was written: the entry's own time, or for a damaged one the time in its id. */
function recordTime(record: JournalRecord): string {
  if (record.entry) return record.entry.createdAt;
  const stamp = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(record.damaged.id);
  return stamp ? `${stamp[1]}-${stamp[2]}-${stamp[3]}T${stamp[4]}:${stamp[5]}:${stamp[6]}Z` : '';
}

/** Every journal file, damaged ones included, oldest first. */
export function readJournal(root: string): JournalRecord[] {
  const dir = journalDir(root);
  if (!existsSync(dir)) return [];
  const records = readdirSync(dir)
    .filter((name) => name.endsWith('.json') && !name.startsWith('.') && ID.test(name))
    .map((name) => readRecord(root, name.slice(0, -'.json'.length)));
  const idOf = (record: JournalRecord) => record.entry?.id ?? record.damaged!.id;
  return records.sort((a, b) => recordTime(a).localeCompare(recordTime(b)) || idOf(a).localeCompare(idOf(b)));
}

/** The entries that can be trusted, oldest first (see readJournal for the damaged ones). */
export function listEntries(root: string): JournalEntry[] {
  return readJournal(root).flatMap((record) => (record.entry ? [record.entry] : []));
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

/** The directories (target paths) that writing path would create, deepest last. */
export function missingDirectories(root: string, path: string): string[] {
  const missing: string[] = [];
  for (let dir = posix.dirname(path); dir !== '/' && !existsSync(underRoot(root, dir)); dir = posix.dirname(dir)) missing.unshift(dir);
  return missing;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Puts one file back exactly as journalled. Never follows a symlink found in its place. */
export function restoreFile(root: string, file: JournalFile): void {
  assertInsideRoot(root, file.path);
  const real = underRoot(root, file.path);
  if (isSymlink(real)) throw new InputError(`${real} is now a symlink, not the file the fix wrote; left alone`, 'check what replaced it');
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

/** Removes the directories a fix created, deepest first, each only while it is empty. */
function removeCreatedDirectories(root: string, dirs: string[]): string[] {
  const removed: string[] = [];
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    assertInsideRoot(root, dir);
    const real = underRoot(root, dir);
    if (isSymlink(real)) continue;
    try {
      rmdirSync(real);
      removed.push(`removed directory ${dir}`);
    } catch (error) {
      // Not empty (something else put a file there since) or already gone: not ours to remove.
      if (!['ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  }
  return removed;
}

/** Errors an undo command may answer with when its target is already as undo wants it. */
const ALREADY_UNDONE = /File exists|No such (file|process|device)|Cannot find|does not exist|not found/i;

export interface UndoReport {
  entry: JournalEntry;
  /** Lines saying what was restored. */
  done: string[];
  /** Undo commands that failed for another reason. */
  problems: string[];
  /** Reloads that failed: warnings, as when applying (the files are right; the daemon reads them later). */
  warnings: string[];
  /** True when the entry had already been undone (nothing happened). */
  already: boolean;
}

/**
 * The reload commands after files changed (apply) or were restored (undo). One rule for both: a
 * failure is a warning, not a failed fix: the files are in place, and a daemon that cannot be
 * told now (`networkctl reload` without a system bus) reads them when it starts.
 */
export async function runReloads(runner: CommandRunner, reloads: readonly (readonly string[])[]): Promise<{ done: string[]; warnings: string[] }> {
  const outcome = { done: [] as string[], warnings: [] as string[] };
  for (const [file, ...args] of reloads) {
    const result = await runner.run(file, args, { allowFailure: true, ownProcessGroup: true });
    if (result.exitCode !== 0) outcome.warnings.push(`\`${formatCommand(file, args)}\` failed: ${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}`);
    else outcome.done.push(`ran ${formatCommand(file, args)}`);
  }
  return outcome;
}

/**
 * Restores everything an entry changed: live steps in reverse order, then files, then the
 * directories it created, then reloads. Every path is checked before anything is touched.
 * Safe to repeat: an entry already undone is left alone.
 */
export async function undoEntry(root: string, entry: JournalEntry, runner: CommandRunner, because: string): Promise<UndoReport> {
  const report: UndoReport = { entry, done: [], problems: [], warnings: [], already: false };
  if (entry.state === 'undone' || entry.state === 'rolled-back') {
    report.already = true;
    return report;
  }
  for (const path of [...entry.files.map((file) => file.path), ...(entry.createdDirs ?? [])]) {
    try {
      assertInsideRoot(root, path);
    } catch (error) {
      throw new DamagedEntryError({ id: entry.id, path: entryPath(root, entry.id), reason: (error as Error).message }, 'nothing was undone; check by hand what that fix changed');
    }
  }
  for (const step of [...entry.live].reverse()) {
    if (!step.done) continue;
    for (const command of step.undo) {
      const [file, ...args] = commandToRun(command);
      const result = await runner.run(file, args, { allowFailure: true, ownProcessGroup: true });
      if (result.exitCode !== 0 && !ALREADY_UNDONE.test(result.stderr)) {
        report.problems.push(`\`${formatCommand(file, args)}\`: ${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}`);
      } else {
        // What it printed: netmend's own steps say what they did (a table removed or kept).
        const said = result.stdout.trim().split('\n')[0];
        report.done.push(`ran ${formatCommand(file, args)}${said ? `: ${said}` : ''}`);
      }
    }
    step.done = false;
  }
  for (const file of [...entry.files].reverse()) {
    if (!file.written) continue;
    try {
      restoreFile(root, file);
    } catch (error) {
      report.problems.push(`${file.path}: ${(error as Error).message}`);
      continue;
    }
    report.done.push(file.existed ? `restored ${file.path}` : `removed ${file.path}`);
    file.written = false;
  }
  report.done.push(...removeCreatedDirectories(root, entry.createdDirs ?? []));
  const reloads = await runReloads(runner, entry.reloads.map(commandToRun));
  report.done.push(...reloads.done);
  report.warnings.push(...reloads.warnings);
  entry.state = because === 'undo' ? 'undone' : 'rolled-back';
  entry.undoneAt = new Date().toISOString();
  entry.undoneBecause = because;
  saveEntry(root, entry);
  return report;
}

/**
 * The entry `fix undo` without an id means: the most recent one not yet undone. A damaged entry
 * newer than that stops the search (exit 2): it may be the fix the user means, and skipping it
 * would undo an older one instead while reporting success.
 */
export function latestUndoable(root: string): JournalEntry | undefined {
  for (const record of readJournal(root).reverse()) {
    if (record.damaged) throw new DamagedEntryError(record.damaged, 'not skipping past it to an older fix: name the fix to undo (`netmend fix undo ID`, ids in `netmend fix list`), or move the damaged file away once you have checked by hand what it changed');
    if (record.entry.state === 'applied' || record.entry.state === 'applying') return record.entry;
  }
  return undefined;
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
