import { Args } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { journalRootFlag } from '../../src/fix/flags.js';

export default class FixUndo extends BaseCommand {
  static override summary = 'Undo an applied fix: restore every file byte for byte and revert its live changes';
  static override description = 'Without ID: the most recent fix not yet undone; a damaged journal entry newer than it stops the search (exit 2) until you name the fix to undo. Safe to repeat. A reload that fails (no system bus) is a warning, as when applying.';
  static override examples = ['<%= config.bin %> fix undo', '<%= config.bin %> fix undo 20261125T031500Z-subnet-routes'];
  static override args = { id: Args.string({ description: 'journal id from `netmend fix list`', required: false }) };
  static override flags = {
    ...journalRootFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(FixUndo);
    const { isRoot, NeedsRootError } = await import('../../src/errors.js');
    if (!isRoot()) throw new NeedsRootError('undoing a fix');
    const { latestUndoable, loadEntry, undoEntry, withJournalLock } = await import('../../src/fix/journal.js');
    const { localRunner } = await import('../../src/system/exec.js');
    const outcome = await withJournalLock(flags.root, async () => {
      const entry = args.id ? loadEntry(flags.root, args.id) : latestUndoable(flags.root);
      return entry ? { entry, report: await undoEntry(flags.root, entry, localRunner, 'undo') } : undefined;
    });
    if (!outcome) {
      this.out('nothing to undo: every recorded fix is already undone');
      return;
    }
    const { entry, report } = outcome;
    // A fix undone by hand needs no watchdog any more: stop the one it armed, by its PID.
    if (!report.already && entry.confirm && !entry.confirm.confirmed) {
      const { stopWatchdog } = await import('../../src/fix/confirm.js');
      stopWatchdog(entry);
    }
    if (report.already) {
      this.out(`nothing to do: ${entry.id} was already ${entry.state === 'undone' ? 'undone' : 'rolled back'} (${entry.undoneAt ?? ''})`);
      return;
    }
    for (const line of report.done) this.out(`  ${line}`);
    for (const problem of report.problems) this.out(`  problem: ${problem}`);
    for (const warning of report.warnings) this.out(`  warning: ${warning}`);
    this.out(`undone: ${entry.id}`);
    if (report.problems.length > 0) process.exitCode = 1;
  }
}
