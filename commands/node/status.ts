import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';

export default class NodeStatus extends BaseCommand {
  static override summary = 'Show mesh node interfaces: peers, endpoints, latest handshake, transfer (never private keys)';
  static override examples = ['<%= config.bin %> node status', '<%= config.bin %> node status mesh0 --json'];
  static override args = { iface: Args.string({ description: 'interface name; all running nodes when omitted' }) };
  static override flags = { json: Flags.boolean({ description: 'machine-readable output', default: false }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NodeStatus);
    const { formatStatus, listInterfaces, readStatus } = await import('../../src/mesh/status.js');
    const names = args.iface ? [args.iface] : listInterfaces();
    const statuses = [];
    for (const name of names) {
      try {
        statuses.push(await readStatus(name));
      } catch (error) {
        // Listing everything: a stale socket left by a crashed node must not hide the others.
        if (args.iface) throw error;
        process.stderr.write(`netmend: skipping ${name}: ${(error as Error).message}\n`);
      }
    }
    if (flags.json) this.out(JSON.stringify(args.iface ? statuses[0] : statuses, null, 2));
    else if (statuses.length === 0) this.out('no mesh node is running');
    else this.out(formatStatus(statuses));
  }
}
