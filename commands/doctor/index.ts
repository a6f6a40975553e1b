import { BaseCommand } from '../../src/cli/base-command.js';
import { stateFlags } from '../../src/cli/state-flags.js';
import { doctorFlags, meshFlags, meshNameFlags, runDoctorCommand } from '../../src/doctor/command.js';

export default class Doctor extends BaseCommand {
  static override summary = 'Run every doctor check (routes, dns, mesh, …) and show what is broken, with evidence and the fix';
  static override description = 'Same output and exit codes as the topic commands (`netmend doctor routes`, …): 0 when nothing failed, 1 when a check failed, 2 on bad input, 3 when a check could not run.';
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --json --fail-on warn',
    '<%= config.bin %> doctor --list-checks',
  ];
  static override flags = { ...stateFlags, ...doctorFlags, ...meshNameFlags, ...meshFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const { stdout, exitCode } = await runDoctorCommand(undefined, flags);
    this.out(stdout);
    process.exitCode = exitCode;
  }
}
