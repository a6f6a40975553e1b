import { Args } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { journalRootFlag } from '../../src/fix/flags.js';

export default class FixConfirm extends BaseCommand {
  static override summary = 'Keep a fix applied over SSH (otherwise it rolls back when its confirm timeout ends)';
  static override examples = ['<%= config.bin %> fix confirm'];
  static override args = { id: Args.string({ description: 'journal id (default: every fix waiting for confirmation)', required: false }) };
  static override flags = {
    ...journalRootFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(FixConfirm);
    const { isRoot, NeedsRootError } = await import('../../src/errors.js');
    if (!isRoot()) throw new NeedsRootError('confirming a fix');
    const { confirmEntries } = await import('../../src/fix/confirm.js');
    const lines = await confirmEntries(flags.root, args.id);
    for (const line of lines) this.out(line);
  }
}
