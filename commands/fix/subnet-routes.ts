import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { fixFlags } from '../../src/fix/flags.js';

export default class FixSubnetRoutes extends BaseCommand {
  static override summary = 'Route connected LANs shadowed by mesh subnet routes through main again, live and persistently';
  static override description = 'Adds `to LAN lookup main` rules ahead of the mesh\'s lookup rule (IPv4 and IPv6). Plan by default; --apply to act (root). Persists through a systemd-networkd drop-in, a udev rule (hosts without networkd) or OpenWrt `config rule`/`config rule6`. Undo with `netmend fix undo`.';
  static override examples = [
    '<%= config.bin %> fix subnet-routes',
    '<%= config.bin %> fix subnet-routes --apply',
    '<%= config.bin %> fix subnet-routes --lan 192.168.1.0/24 --priority 5205 --apply',
  ];
  static override flags = {
    ...fixFlags,
    lan: Flags.string({ description: 'LAN prefix to route through main (repeatable; default: every LAN a mesh route shadows)', multiple: true, default: [] }),
    priority: Flags.integer({ description: 'rule priority (default: just ahead of the mesh\'s rule, 5205 for Tailscale)', min: 1, max: 32765 }),
    iface: Flags.string({ description: 'mesh tunnel interface, when its name is unusual (repeatable)', multiple: true, default: [] }),
    method: Flags.string({ description: 'how to persist the change', options: ['auto', 'networkd', 'sysctl', 'uci'], default: 'auto' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FixSubnetRoutes);
    const { runFix } = await import('../../src/fix/apply.js');
    const { buildSubnetRoutesPlan } = await import('../../src/fix/subnet-routes.js');
    await runFix(flags, (context) => buildSubnetRoutesPlan(context, { lans: flags.lan, priority: flags.priority, ifaces: flags.iface }), {
      ifaces: flags.iface,
      print: (line) => this.out(line),
    });
  }
}
