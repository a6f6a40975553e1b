import { Args } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { oclifFlags } from '../../src/cli/oclif-flags.js';
import { explainFlagSpec, explainSummary } from '../../src/route/explain-flags.js';

export default class RouteExplain extends BaseCommand {
  static override summary = explainSummary;
  static override description = 'Simulates the kernel\'s policy routing over the live state (or --snapshot/--ssh): each rule tried in priority order and why it matched or not, the table consulted, the route chosen, and the result as `ip route get` would print it. Exits 0 whenever it can answer, also when the answer is an error such as "Network is unreachable"; 2 on bad input.';
  static override examples = [
    '<%= config.bin %> route explain 10.10.0.3',
    '<%= config.bin %> route explain 100.64.0.5 --mark 0x80000 --json',
    '<%= config.bin %> route explain 8.8.8.8 --from 10.0.0.2 --iif eth1',
    '<%= config.bin %> route explain 2001:db8::1 --snapshot router.json',
  ];
  static override args = {
    destination: Args.string({ description: 'IPv4 or IPv6 destination address', required: true }),
  };
  static override flags = oclifFlags(explainFlagSpec);

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RouteExplain);
    const { runExplain } = await import('../../src/route/explain.js');
    const { output, exitCode } = await runExplain({ destination: args.destination, ...flags });
    this.out(output);
    process.exitCode = exitCode;
  }
}
