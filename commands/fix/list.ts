import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { journalRootFlag } from '../../src/fix/flags.js';

export default class FixList extends BaseCommand {
  static override summary = 'List applied fixes from the journal, newest last';
  static override description = 'A journal entry that is truncated, does not parse, fails its checksum or names an unsafe path is listed as damaged, and the command exits 2.';
  static override examples = ['<%= config.bin %> fix list', '<%= config.bin %> fix list --json'];
  static override flags = {
    ...journalRootFlag,
    json: Flags.boolean({ description: 'print the journal entries as JSON', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FixList);
    const { readJournal, journalDir, DamagedEntryError } = await import('../../src/fix/journal.js');
    const records = readJournal(flags.root);
    const damaged = records.flatMap((record) => (record.damaged ? [record.damaged] : []));
    if (flags.json) {
      this.out(JSON.stringify(records.map((record) => {
        if (record.damaged) return { id: record.damaged.id, state: 'damaged', path: record.damaged.path, damage: record.damaged.reason };
        const { id, fix, method, summary, createdAt, state, confirm, undoneAt, undoneBecause, files, live } = record.entry;
        return {
          id, fix, method, summary, createdAt, state, confirm, undoneAt, undoneBecause,
          files: files.map((file) => file.path), live: live.map((step) => step.command.join(' ')),
        };
      }), null, 2));
    } else if (records.length === 0) {
      this.out(`no fixes recorded in ${journalDir(flags.root)}`);
    } else {
      for (const record of records) {
        if (record.damaged) {
          this.out(`${record.damaged.id}  damaged  ${record.damaged.path}: ${record.damaged.reason}`);
          continue;
        }
        const { entry } = record;
        const waiting = entry.state === 'applied' && entry.confirm && !entry.confirm.confirmed ? ` (unconfirmed, rolls back at ${entry.confirm.deadline})` : '';
        const why = entry.undoneBecause ? ` (${entry.undoneBecause})` : '';
        this.out(`${entry.id}  ${entry.state}${why}${waiting}  ${entry.fix} [${entry.method}]: ${entry.summary}`);
        for (const file of entry.files) this.out(`    file ${file.path}${file.existed ? '' : ' (new)'}`);
        for (const step of entry.live) this.out(`    live ${step.command.join(' ')}`);
      }
    }
    if (damaged.length === 1) throw new DamagedEntryError(damaged[0], 'check by hand what that fix changed; `netmend fix undo ID` still undoes the other fixes');
    if (damaged.length > 1) {
      const { InputError } = await import('../../src/errors.js');
      throw new InputError(`${damaged.length} journal entries are damaged: ${damaged.map((entry) => `${entry.id} (${entry.path})`).join(', ')}`, 'see the list above; `netmend fix undo ID` still undoes the other fixes');
    }
  }
}
