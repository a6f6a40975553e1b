import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';

export default class FixWatchdog extends BaseCommand {
  static override hidden = true;
  static override summary = 'Internal: roll a fix back when it is not confirmed in time';
  static override args = { id: Args.string({ required: true }) };
  static override flags = {
    root: Flags.string({ default: '' }),
    timeout: Flags.integer({ required: true, min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(FixWatchdog);
    const { runWatchdog } = await import('../../src/fix/confirm.js');
    await runWatchdog(flags.root, args.id, flags.timeout);
  }
}
