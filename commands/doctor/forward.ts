import { BaseCommand } from '../../src/cli/base-command.js';
import { stateFlags } from '../../src/cli/state-flags.js';
import { doctorFlags, runDoctorCommand } from '../../src/doctor/command.js';

export default class DoctorForward extends BaseCommand {
  static override summary = 'Check that this router carries its LAN to the mesh and back: forward accepts, masquerade, replies, the exit node, the mesh port, CGNAT drops, two firewalls';
  static override description = 'Each check sends sample packets (a ping and a TCP connection) through `path explain` over the routes and the firewall (nftables, iptables-nft, iptables-legacy), the reply included; problems come with the story of the failing packet and the fix. Exit 0 when nothing failed, 1 when a check failed, 2 on bad input, 3 when a check could not run.';
  static override examples = [
    '<%= config.bin %> doctor forward',
    '<%= config.bin %> doctor forward --json',
    '<%= config.bin %> doctor forward --check forward.lan-to-mesh --iface wg0',
    '<%= config.bin %> doctor forward --ssh root@192.168.1.1',
    '<%= config.bin %> doctor forward --snapshot router.json',
  ];
  static override flags = { ...stateFlags, ...doctorFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(DoctorForward);
    const { stdout, exitCode } = await runDoctorCommand(['forward'], flags);
    this.out(stdout);
    process.exitCode = exitCode;
  }
}
