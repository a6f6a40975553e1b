import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { CheckCouldNotRunError } from '../../src/errors.js';

export default class OpenwrtInstall extends BaseCommand {
  static override summary = 'Install the mesh node on an OpenWrt router over ssh, with the build kept in RAM';
  static override description = [
    'Checks the router first (architecture, MemAvailable, free /tmp and flash) and refuses with exit 3 when it cannot run the build;',
    'then pipes the installer to `sh -s` on the router and prints its answers. Extra ssh options (port, key) come from NETMEND_SSH_OPTIONS.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> openwrt install --ssh root@192.168.1.1 --version 1.90.8 --dry-run',
    '<%= config.bin %> openwrt install --ssh root@192.168.1.1 --version 1.90.8',
    '<%= config.bin %> openwrt install --ssh root@192.168.1.1 --uninstall',
  ];
  static override flags = {
    ssh: Flags.string({ description: 'the router, as user@host', required: true }),
    version: Flags.string({ description: 'tailscale version to pin (e.g. 1.90.8), or "latest" to pin the newest stable build once' }),
    'base-url': Flags.string({ description: 'mirror of pkgs.tailscale.com/stable' }),
    sha256: Flags.string({ description: 'SHA-256 of the tarball, checked at install time and at every download' }),
    'lan-rule': Flags.string({ description: 'add a policy rule keeping this LAN prefix off the mesh, just ahead of tailscaled\'s lookup rule (5205; 1305 with mwan3)' }),
    'exit-node': Flags.boolean({ description: 'also forward tailscale -> wan (for an exit node)', default: false }),
    'dry-run': Flags.boolean({ description: 'print every change the installer would make; change nothing', default: false }),
    uninstall: Flags.boolean({ description: 'remove what the installer added (keeps /etc/tailscale state)', default: false }),
    purge: Flags.boolean({ description: 'with --uninstall: remove /etc/tailscale state too (also after an earlier --uninstall)', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(OpenwrtInstall);
    const { installerArguments } = await import('../../src/openwrt/arguments.js');
    // Every flag is checked here, before the router is contacted.
    const args = installerArguments(flags);
    const { SshRunner, sshOptionsFromEnv } = await import('../../src/system/exec.js');
    const { installerScript } = await import('../../src/openwrt/script.js');
    const { readRouterFacts, refusalReason, runInstaller } = await import('../../src/openwrt/remote.js');
    const runner = new SshRunner(flags.ssh, sshOptionsFromEnv());
    const script = installerScript();
    const { startProgress } = await import('../../src/cli/terminal.js');
    const progress = await startProgress();

    if (!flags.uninstall) {
      progress.step(`checking ${flags.ssh}`);
      const facts = await readRouterFacts(runner, script).catch((error) => { progress.fail(); throw error; });
      const reason = refusalReason(facts);
      if (reason) {
        progress.fail();
        throw new CheckCouldNotRunError(`${flags.ssh} cannot run the tailscale build: ${reason}`, 'a router with at least 128 MB RAM is needed; the official package may fit larger flash');
      }
      process.stderr.write(`${flags.ssh}: ${facts.arch} (${facts.packageArch || 'arch from uname'}), ${facts.memAvailableKb} KB MemAvailable, ${facts.tmpFreeKb} KB free in /tmp, ${facts.flashFreeKb} KB free flash, ${facts.firewall}${facts.mwan3 ? ', mwan3' : ''}\n`);
    }
    progress.step(`${flags.uninstall ? 'uninstalling from' : 'installing on'} ${flags.ssh}`);
    const result = await runInstaller(runner, script, args).catch((error) => { progress.fail(); throw error; });
    progress.done();
    for (const line of result.stdout.split('\n')) if (line) this.out(`${flags.ssh}: ${line}`);
    if (result.stderr.trim()) process.stderr.write(result.stderr);
  }
}
