import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { doctorFlags, meshNameFlags } from '../../src/doctor/command.js';

export default class DoctorDns extends BaseCommand {
  static override summary = 'Find mesh DNS breakage: who owns resolv.conf, a clobbered local resolver, the mesh resolver, split DNS, rebind protection, search domains';
  static override description = 'Reads resolv.conf and the dnsmasq, unbound and OpenWrt dhcp configuration (under --root), and asks the mesh resolver and the system resolver directly, with a hard timeout per query. Exit 0 when nothing failed, 1 when a check failed, 2 when a config file does not parse, 3 when a check could not run.';
  static override examples = [
    '<%= config.bin %> doctor dns',
    '<%= config.bin %> doctor dns --name mydevice.tailnet-1234.ts.net',
    '<%= config.bin %> doctor dns --json --domain ts.net --domain corp.example',
    '<%= config.bin %> doctor dns --root ./router-etc-tree --check dns.rebind-protection',
  ];
  static override flags = {
    ...doctorFlags,
    ...meshNameFlags,
    server: Flags.string({ description: 'mesh resolver address (repeatable; default 100.100.100.100)', multiple: true }),
    timeout: Flags.integer({ description: 'milliseconds to wait for each DNS reply', default: 2000, min: 50, max: 30_000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DoctorDns);
    const { runDnsDoctor, selectDnsChecks, exitCodeOf, DEFAULT_MESH_SERVERS } = await import('../../src/dns/doctor.js');
    if (flags['list-checks']) {
      const checks = selectDnsChecks(flags.check ?? []);
      if (flags.json) this.out(JSON.stringify({ version: 1, topics: ['dns'], checks: checks.map(({ id, topic, title }) => ({ id, topic, title })) }, null, 2));
      else this.out(checks.map((check) => `${check.id.padEnd(22)}  ${check.title}`).join('\n'));
      return;
    }
    const { liveInterfaceNames, requireInterfaces } = await import('../../src/cli/validate.js');
    requireInterfaces(flags.iface, liveInterfaceNames(), '--iface', 'this host');
    const { document } = await runDnsDoctor({
      root: flags.root ?? '',
      domains: flags.domain?.length ? flags.domain : ['ts.net'],
      names: flags.name ?? [],
      servers: flags.server?.length ? flags.server : DEFAULT_MESH_SERVERS,
      timeoutMs: flags.timeout,
      checkIds: flags.check ?? [],
    });
    const exitCode = exitCodeOf(document, flags['fail-on'] as 'warn' | 'fail' | 'never');
    if (flags.json) {
      this.out(JSON.stringify(document, null, 2));
    } else {
      const { renderDocument, useColour } = await import('../../src/doctor/render.js');
      this.out(renderDocument(document, { colour: useColour(process.stdout) }));
    }
    process.exitCode = exitCode;
  }
}
