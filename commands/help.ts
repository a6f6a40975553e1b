import { Args } from '@oclif/core';
import { BaseCommand } from '../src/cli/base-command.js';

export default class HelpCommand extends BaseCommand {
  static override summary = 'Show help for netmend, a topic or a command';
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help doctor', '<%= config.bin %> help route explain'];
  static override args = { command: Args.string({ description: 'the topic or command, words separated by spaces', required: false }) };
  static override strict = false;

  async run(): Promise<void> {
    const { argv } = await this.parse(HelpCommand);
    const words = (argv as string[]).filter((word) => !word.startsWith('-'));
    const id = words.join(':');
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      const { unknownCommandError } = await import('../src/cli/commands.js');
      throw unknownCommandError(this.config, id);
    }
    const { loadHelpClass } = await import('@oclif/core');
    const Help = await loadHelpClass(this.config);
    await new Help(this.config, this.config.pjson.oclif.helpOptions).showHelp(words);
  }
}
