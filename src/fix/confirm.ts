/**
 * `netmend fix confirm` and the watchdog behind it (like `netplan try`): a fix applied over SSH
 * stays only if confirmed before its deadline; otherwise the watchdog, a detached netmend
 * process started by the fix, undoes it. Confirm stops the watchdog by the PID the journal holds.
 */
import { localRunner } from '../system/exec.js';
import { listEntries, loadEntry, saveEntry, undoEntry, withJournalLock, type JournalEntry } from './journal.js';

function waiting(entry: JournalEntry): boolean {
  return entry.state === 'applied' && entry.confirm !== undefined && !entry.confirm.confirmed;
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
    const pid = entry.confirm!.watchdogPid;
    if (pid !== undefined) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
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
