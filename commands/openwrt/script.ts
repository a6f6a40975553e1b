import { BaseCommand } from '../../src/cli/base-command.js';
import { installerScript } from '../../src/openwrt/script.js';

export default class OpenwrtScript extends BaseCommand {
  static override summary = 'Print the OpenWrt installer (POSIX sh) for the RAM-downloaded mesh node';
  static override description = 'Runs under busybox ash. Copy it to the router and run it there, e.g. `sh install.sh --version 1.90.8`; `sh install.sh --help` lists its options.';
  static override examples = [
    '<%= config.bin %> openwrt script > install.sh',
    '<%= config.bin %> openwrt script | ssh root@192.168.1.1 sh -s -- --version 1.90.8 --dry-run',
  ];

  async run(): Promise<void> {
    await this.parse(OpenwrtScript);
    this.out(installerScript());
  }
}
