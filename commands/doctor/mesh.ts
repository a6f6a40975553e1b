import { BaseCommand } from '../../src/cli/base-command.js';
import { stateFlags } from '../../src/cli/state-flags.js';
import { doctorFlags, meshFlags, runDoctorCommand } from '../../src/doctor/command.js';

export default class DoctorMesh extends BaseCommand {
  static override summary = "Check the mesh itself: tailscaled login and health, key expiry, relayed peers, stale Funnel names, unaccepted routes, the exit node, WireGuard handshakes, NAT mapping";
  static override description = 'Reads `tailscale status --json`, `tailscale debug prefs`, `tailscale serve status --json` (and `tailscale netcheck` when a peer is relayed) and `wg show all dump`; a missing tool skips its checks with the reason. --stun measures the NAT with STUN from this host. Exit 0 when nothing failed, 1 when a check failed, 2 on bad input, 3 when a check could not run.';
  static override examples = [
    '<%= config.bin %> doctor mesh',
    '<%= config.bin %> doctor mesh --json --fail-on warn',
    '<%= config.bin %> doctor mesh --stun stun1.example.net --stun stun2.example.net:3478',
    '<%= config.bin %> doctor mesh --ssh root@192.168.1.1',
  ];
  static override flags = { ...stateFlags, ...doctorFlags, ...meshFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(DoctorMesh);
    const { stdout, exitCode } = await runDoctorCommand(['mesh'], flags);
    this.out(stdout);
    process.exitCode = exitCode;
  }
}
