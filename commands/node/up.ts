import { Flags } from '@oclif/core';
import { BaseCommand } from '../../src/cli/base-command.js';
import { isRoot, NeedsRootError } from '../../src/errors.js';
import { parseLogLevel } from '../../src/mesh/log.js';

export default class NodeUp extends BaseCommand {
  static override summary = 'Run the bundled WireGuard-compatible mesh node in the foreground (logs to stderr)';
  static override description = 'The interface is named after the file (mesh0.conf gives mesh0). `wg show IFACE` works against it. SIGINT/SIGTERM or `netmend node down IFACE` stop it and remove the interface, its routes and its control socket.';
  static override examples = ['<%= config.bin %> node up -c /etc/netmend/mesh0.conf', 'LOG_LEVEL=verbose <%= config.bin %> node up -c mesh0.conf'];
  static override flags = {
    config: Flags.string({ char: 'c', description: 'wg-quick style config file IFACE.conf', required: true }),
    verbose: Flags.boolean({ char: 'v', description: 'log every handshake and timer event', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NodeUp);
    const { readMeshConfig } = await import('../../src/mesh/config.js');
    const config = readMeshConfig(flags.config);
    if (!isRoot()) throw new NeedsRootError('netmend node up (it creates a TUN interface)');
    // Before any socket or interface exists: without the addon there is nothing to start.
    const { loadNativeAddon } = await import('../../src/native/addon.js');
    loadNativeAddon();
    const { startNode } = await import('../../src/mesh/node.js');
    const level = flags.verbose ? 'verbose' : parseLogLevel(process.env.LOG_LEVEL);
    const node = await startNode(config, { logLevel: level });
    const stop = (signal: string) => {
      node.device.log.info(`${signal}: shutting down`);
      void node.shutdown();
    };
    // A service stops itself cleanly (exit 0) instead of the usual exit on a signal.
    const { takeOverSignals } = await import('../../src/cli/signals.js');
    takeOverSignals((signal) => stop(signal));
    const why = await node.stopped;
    node.device.log.info(`down (${why})`);
  }
}
