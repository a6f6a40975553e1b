import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';

export default class NodeDown extends BaseCommand {
  static override summary = 'Stop a running mesh node (it removes its interface, routes and control socket)';
  static override examples = ['<%= config.bin %> node down mesh0'];
  static override args = { iface: Args.string({ description: 'interface name (the config file name without .conf)', required: true }) };
  static override flags = {
    timeout: Flags.integer({ description: 'seconds to wait for the node to exit', default: 10 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NodeDown);
    const { stopNode } = await import('../../src/mesh/control.js');
    const notes = await stopNode(args.iface, flags.timeout * 1000);
    for (const note of notes) this.out(note);
    this.out(`${args.iface} is down`);
  }
}
