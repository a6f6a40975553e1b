import { BaseCommand } from '../../src/cli/base-command.js';
import { stateFlags } from '../../src/cli/state-flags.js';
import { doctorFlags, runDoctorCommand } from '../../src/doctor/command.js';

export default class DoctorRoutes extends BaseCommand {
  static override summary = 'Find mesh-VPN routing breakage: shadowed LANs, exit-node capture, link-local clashes, rule order, forwarding, rp_filter, networkd';
  static override description = 'Each check prints one line; problems come with the rule and route lines that prove them and the one command that fixes them. Exit 0 when nothing failed, 1 when a check failed, 2 on bad input, 3 when a check could not run.';
  static override examples = [
    '<%= config.bin %> doctor routes',
    '<%= config.bin %> doctor routes --json',
    '<%= config.bin %> doctor routes --check routes.subnet-shadows-lan --iface wg-mesh',
    '<%= config.bin %> doctor routes --ssh root@192.168.1.1',
    '<%= config.bin %> doctor routes --snapshot router.json --root ./router-etc-tree',
  ];
  static override flags = { ...stateFlags, ...doctorFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(DoctorRoutes);
    const { stdout, exitCode } = await runDoctorCommand(['routes'], flags);
    this.out(stdout);
    process.exitCode = exitCode;
  }
}
