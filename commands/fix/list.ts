import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { journalRootFlag } from '../../src/fix/flags.js';

export default class FixList extends BaseCommand {
  static override summary = 'List applied fixes from the journal, newest last';
  static override examples = ['<%= config.bin %> fix list', '<%= config.bin %> fix list --json'];
  static override flags = {
    ...journalRootFlag,
    json: Flags.boolean({ description: 'print the journal entries as JSON', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FixList);
    const { listEntries, journalDir } = await import('../../src/fix/journal.js');
    const entries = listEntries(flags.root);
    if (flags.json) {
      this.out(JSON.stringify(entries.map(({ id, fix, method, summary, createdAt, state, confirm, undoneAt, undoneBecause, files, live }) => ({
        id, fix, method, summary, createdAt, state, confirm, undoneAt, undoneBecause,
        files: files.map((file) => file.path), live: live.map((step) => step.command.join(' ')),
      })), null, 2));
      return;
    }
    if (entries.length === 0) {
      this.out(`no fixes recorded in ${journalDir(flags.root)}`);
      return;
    }
    for (const entry of entries) {
      const waiting = entry.state === 'applied' && entry.confirm && !entry.confirm.confirmed ? ` (unconfirmed, rolls back at ${entry.confirm.deadline})` : '';
      const why = entry.undoneBecause ? ` (${entry.undoneBecause})` : '';
      this.out(`${entry.id}  ${entry.state}${why}${waiting}  ${entry.fix} [${entry.method}]: ${entry.summary}`);
      for (const file of entry.files) this.out(`    file ${file.path}${file.existed ? '' : ' (new)'}`);
      for (const step of entry.live) this.out(`    live ${step.command.join(' ')}`);
    }
  }
}
