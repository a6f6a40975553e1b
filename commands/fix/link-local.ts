import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { fixFlags } from '../../src/fix/flags.js';

export default class FixLinkLocal extends BaseCommand {
  static override summary = 'Remove the IPv6 link-local address and fe80::/64 route from the mesh tunnel, live and persistently';
  static override description = 'Plan by default; --apply to act (root). Persists through systemd-networkd, a udev rule (hosts without networkd) or an OpenWrt hotplug script. Undo with `netmend fix undo`.';
  static override examples = [
    '<%= config.bin %> fix link-local',
    '<%= config.bin %> fix link-local --iface tailscale0 --apply',
    '<%= config.bin %> fix link-local --method networkd --root /mnt/image --no-live --apply',
  ];
  static override flags = {
    ...fixFlags,
    iface: Flags.string({ description: 'tunnel interface (default tailscale0, or the only tunnel with a link-local address)' }),
    method: Flags.string({ description: 'how to persist the change', options: ['auto', 'networkd', 'sysctl', 'uci'], default: 'auto' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FixLinkLocal);
    const { runFix } = await import('../../src/fix/apply.js');
    const { buildLinkLocalPlan } = await import('../../src/fix/link-local.js');
    await runFix(flags, (context) => buildLinkLocalPlan(context, { iface: flags.iface }), {
      ifaces: flags.iface ? [flags.iface] : [],
      print: (line) => this.out(line),
    });
  }
}
