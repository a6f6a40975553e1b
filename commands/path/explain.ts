import { Args } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { oclifFlags } from '../../src/cli/oclif-flags.js';
import { pathFlagSpec, pathSummary } from '../../src/path/explain-flags.js';

export default class PathExplain extends BaseCommand {
  static override summary = pathSummary;
  static override description = 'Follows one packet the way the kernel does: each netfilter hook with its base chains across every table (nftables, iptables-nft, iptables-legacy), every rule tried and why it matched or not, NAT rewrites and marks, the routing decision after DNAT with the mark the mangle chains set, and the end: delivered, forwarded out IFACE with source X, dropped or rejected by rule R, or no route. --reply follows the answer back through conntrack. Expressions netmend cannot evaluate are named and make the answer uncertain. Exits 0 whenever it can answer; 2 on bad input.';
  static override examples = [
    '<%= config.bin %> path explain 100.64.0.7 --iif br-lan --from 192.168.1.20 --proto tcp --dport 22 --reply',
    '<%= config.bin %> path explain 192.168.1.1 --iif wan --from 203.0.113.9 --proto udp --dport 41641',
    '<%= config.bin %> path explain 8.8.8.8 --local --mark 0x80000 --json',
    '<%= config.bin %> path explain 10.0.0.5 --iif eth1 --from 10.1.0.2 --snapshot router.json',
  ];
  static override args = {
    destination: Args.string({ description: 'IPv4 or IPv6 destination address', required: true }),
  };
  static override flags = oclifFlags(pathFlagSpec);

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PathExplain);
    const { runPathExplain } = await import('../../src/path/explain.js');
    const { output, exitCode } = await runPathExplain({ destination: args.destination, ...flags });
    this.out(output);
    process.exitCode = exitCode;
  }
}
