import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { fixFlags } from '../../src/fix/flags.js';

export default class FixForwarding extends BaseCommand {
  static override summary = 'Let LAN clients through this router to the mesh and back, in firewall rules of netmend\'s own';
  static override description = 'nftables: a table `inet netmend` loaded with `nft -f` and persisted through /etc/nftables.d (when nftables.conf includes it) or a unit of netmend\'s; iptables-only hosts (or when iptables\' built-in chains drop the traffic): chains NETMEND-* jumped to from the built-in ones; OpenWrt: a fw4 zone for the tunnel, forwardings and a port rule, then `fw4 reload`. Never edits your own tables. Plan by default; --apply to act (root); verified with the forward doctor checks and rolled back when they still fail. Undo with `netmend fix undo`.';
  static override examples = [
    '<%= config.bin %> fix forwarding --lan br-lan --tunnel wg0 --masquerade',
    '<%= config.bin %> fix forwarding --masquerade --allow-port --apply',
    '<%= config.bin %> fix forwarding --lan eth1 --tunnel tailscale0 --from-mesh --apply',
  ];
  static override flags = {
    ...fixFlags,
    lan: Flags.string({ description: 'LAN interface whose clients use the mesh (repeatable; default: every link with a connected prefix that is not the mesh or the WAN)', multiple: true, default: [] }),
    tunnel: Flags.string({ description: 'the mesh tunnel interface (default: the only one)' }),
    masquerade: Flags.boolean({ description: 'masquerade traffic leaving through the tunnel (peers accept only this router\'s tunnel address)', default: false }),
    'allow-port': Flags.boolean({ description: 'accept the mesh\'s UDP port (wg listen-port; tailscaled 41641) from the WAN', default: false }),
    'from-mesh': Flags.boolean({ description: 'also accept new connections from the mesh into the LAN (a subnet router)', default: false }),
    iface: Flags.string({ description: 'mesh tunnel interface with an unusual name (repeatable)', multiple: true, default: [] }),
    method: Flags.string({ description: 'firewall backend', options: ['auto', 'nftables', 'iptables', 'iptables-legacy', 'uci'], default: 'auto' }),
    'remove-if-empty': Flags.string({ hidden: true, description: 'internal: delete an iptables-nft table (\'ip nat\') or built-in chain (\'ip nat POSTROUTING\') the fix created, when it holds nothing (the undo step)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FixForwarding);
    if (flags['remove-if-empty']) {
      const { parseCreated, removeIfEmpty } = await import('../../src/fix/iptables-nft-leftovers.js');
      const { localRunner } = await import('../../src/system/exec.js');
      this.out(await removeIfEmpty(localRunner, parseCreated(flags['remove-if-empty'])));
      return;
    }
    const { runFix } = await import('../../src/fix/apply.js');
    const { buildForwardingPlan } = await import('../../src/fix/forwarding.js');
    await runFix(flags, (context) => buildForwardingPlan(context, {
      lans: flags.lan, tunnel: flags.tunnel, masquerade: flags.masquerade, allowPort: flags['allow-port'], fromMesh: flags['from-mesh'], ifaces: flags.iface, self: [process.execPath, process.argv[1]],
    }), { ifaces: [...flags.iface, ...(flags.tunnel ? [flags.tunnel] : [])], print: (line) => this.out(line) });
  }
}
