import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { fixFlags } from '../../src/fix/flags.js';

export default class FixDns extends BaseCommand {
  static override summary = 'Split DNS: send only the mesh domains to the mesh resolver, everything else to the local resolver';
  static override description = 'Plan by default; --apply to act (root). Configures systemd-resolved (networkd drop-in or resolved.conf.d), dnsmasq (conf-dir file), unbound (forward-zone) or OpenWrt (/etc/config/dhcp), reloads the running resolver, and re-runs the dns checks. --restore-resolv-conf puts back the resolv.conf the mesh daemon replaced. Undo with `netmend fix undo`.';
  static override examples = [
    '<%= config.bin %> fix dns',
    '<%= config.bin %> fix dns --via dnsmasq --restore-resolv-conf --apply',
    '<%= config.bin %> fix dns --domain tailnet-1234.ts.net --via unbound --apply',
    '<%= config.bin %> fix dns --via openwrt --root /mnt/router --apply',
  ];
  static override flags = {
    ...fixFlags,
    domain: Flags.string({ description: 'mesh DNS domain to forward (repeatable; default ts.net)', multiple: true }),
    server: Flags.string({ description: 'the mesh resolver', default: '100.100.100.100' }),
    via: Flags.string({ description: 'which resolver to configure', options: ['auto', 'resolved', 'dnsmasq', 'unbound', 'openwrt'], default: 'auto' }),
    'restore-resolv-conf': Flags.boolean({ description: 'put back the resolv.conf the mesh daemon replaced (its backup, or the journal) and stop it taking the file over again', default: false }),
    iface: Flags.string({ description: 'the mesh tunnel (for systemd-resolved per-link DNS)', default: 'tailscale0' }),
    'pid-file': Flags.string({ description: 'pid file of the running dnsmasq/unbound to reload (needed with --root)' }),
    name: Flags.string({ description: 'a mesh host name to resolve when verifying (repeatable)', multiple: true }),
    timeout: Flags.integer({ description: 'milliseconds to wait for each DNS reply when verifying', default: 2000, min: 50, max: 30_000 }),
    'restart-resolver': Flags.string({ hidden: true, description: 'internal: restart the resolver a pid file or PROGRAM@ADDRESS names (the reload step of a plan)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(FixDns);
    if (flags['restart-resolver']) {
      const { parseTarget, restartResolver } = await import('../../src/fix/dns/reload.js');
      this.out(await restartResolver(parseTarget(flags['restart-resolver'])));
      return;
    }
    const { runDnsFix } = await import('../../src/fix/dns/run.js');
    await runDnsFix({
      flags,
      domains: flags.domain?.length ? flags.domain : ['ts.net'],
      server: flags.server,
      via: flags.via,
      restoreResolvConf: flags['restore-resolv-conf'],
      iface: flags.iface,
      pidFile: flags['pid-file'],
      names: flags.name ?? [],
      timeoutMs: flags.timeout,
      print: (line) => this.out(line),
    });
  }
}
