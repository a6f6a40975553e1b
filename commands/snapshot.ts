import { BaseCommand } from '../src/cli/base-command.js';
import { oclifFlags } from '../src/cli/oclif-flags.js';
import { stateFlags } from '../src/cli/state-flags.js';
import { snapshotOwnFlagSpec } from '../src/snapshot/snapshot-flags.js';
import { readState } from '../src/snapshot/load.js';

export default class Snapshot extends BaseCommand {
  static override summary = 'Write the host\'s routing state (links, addresses, routes, rules, sysctls) and firewall as JSON';
  static override examples = [
    '<%= config.bin %> snapshot --out host.json',
    '<%= config.bin %> snapshot --ssh root@192.168.1.1 --out router.json',
    '<%= config.bin %> route explain 10.10.0.3 --snapshot router.json',
  ];
  static override flags = {
    ...stateFlags,
    ...oclifFlags(snapshotOwnFlagSpec),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Snapshot);
    const snapshot = await readState({ snapshotFile: flags.snapshot, ssh: flags.ssh, source: flags.source });
    const { attachFirewall } = await import('../src/netfilter/read.js');
    await attachFirewall(snapshot, { snapshotFile: flags.snapshot, ssh: flags.ssh });
    const { writeSnapshot } = await import('../src/snapshot/file.js');
    await writeSnapshot(snapshot, flags.out);
  }
}
