/**
 * `netmend fix confirm` and the watchdog behind it (like `netplan try`): a fix applied over SSH
 * stays only if confirmed before its deadline; otherwise the watchdog, a detached netmend
 * process started by the fix, undoes it. Confirm stops the watchdog by the PID the journal holds.
 */
import { readFileSync } from 'node:fs';
import { localRunner } from '../system/exec.js';
import { listEntries, loadEntry, saveEntry, undoEntry, withJournalLock, type JournalEntry } from './journal.js';

function waiting(entry: JournalEntry): boolean {
  return entry.state === 'applied' && entry.confirm !== undefined && !entry.confirm.confirmed;
}

/**
 * Stops an entry's watchdog by its PID, after checking that PID still is that watchdog (a PID
 * can be reused once the process is gone).
 */
export function stopWatchdog(entry: JournalEntry): void {
  const pid = entry.confirm?.watchdogPid;
  if (pid === undefined) return;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return;
  }
  if (!argv.includes('watchdog') || !argv.includes(entry.id)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
}

export function confirmEntries(root: string, id?: string): Promise<string[]> {
  return withJournalLock(root, async () => confirmUnlocked(root, id));
}

function confirmUnlocked(root: string, id?: string): string[] {
  const entries = id ? [loadEntry(root, id)] : listEntries(root).filter(waiting);
  if (entries.length === 0) return ['nothing to confirm: no fix is waiting for confirmation'];
  const lines: string[] = [];
  for (const entry of entries) {
    if (!waiting(entry)) {
      lines.push(`${entry.id}: nothing to confirm (${entry.state}${entry.confirm?.confirmed ? ', already confirmed' : ''})`);
      continue;
    }
    entry.confirm!.confirmed = true;
    saveEntry(root, entry);
    stopWatchdog(entry);
    lines.push(`${entry.id}: confirmed; the change stays`);
  }
  return lines;
}

export async function runWatchdog(root: string, id: string, seconds: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await withJournalLock(root, async () => {
    const entry = loadEntry(root, id);
    if (!waiting(entry)) return;
    await undoEntry(root, entry, localRunner, 'not confirmed in time');
  });
}
