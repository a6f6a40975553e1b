/**
 * Where a snapshot comes from: a saved file, a host over ssh (plain `ip` output parsed here), or
 * the local kernel (netlink first, `ip -json` when netlink is unavailable). Readers are imported
 * lazily so a command only pays for the one it uses.
 */
import { InputError } from '../errors.js';
import { localRunner, SshRunner, sshOptionsFromEnv } from '../system/exec.js';
import type { NetlinkReadOptions } from './from-netlink.js';
import type { Snapshot } from './types.js';

export type SourceChoice = 'auto' | 'netlink' | 'ip-json' | 'ip-text';

export interface StateOptions {
  snapshotFile?: string;
  ssh?: string;
  source?: string;
  /** Over ssh, read the firewall on the same login (src/netfilter/read.ts). */
  firewall?: boolean;
  /** Narrowing for the live netlink reader only (a saved file or ssh host is read whole). */
  netlink?: NetlinkReadOptions;
}

export async function readState(options: StateOptions = {}): Promise<Snapshot> {
  const source = (options.source ?? 'auto') as SourceChoice;
  if (!['auto', 'netlink', 'ip-json', 'ip-text'].includes(source)) throw new InputError(`--source: unknown source '${source}'`);
  // An empty --snapshot or --ssh ('' from an unset shell variable) is a mistake, never "read this host".
  if (options.snapshotFile !== undefined) {
    const { readSnapshotFile } = await import('./file.js');
    return readSnapshotFile(options.snapshotFile);
  }
  if (options.ssh !== undefined) {
    const runner = new SshRunner(options.ssh, sshOptionsFromEnv());
    if (source === 'ip-json') {
      const { readIpJsonSnapshot } = await import('./from-ip-json.js');
      return readIpJsonSnapshot(runner);
    }
    const { readIpTextSnapshot } = await import('./from-ip-text.js');
    return readIpTextSnapshot(runner, { firewall: options.firewall });
  }
  switch (source) {
    case 'ip-json': {
      const { readIpJsonSnapshot } = await import('./from-ip-json.js');
      return readIpJsonSnapshot(localRunner);
    }
    case 'ip-text': {
      const { readIpTextSnapshot } = await import('./from-ip-text.js');
      return readIpTextSnapshot(localRunner);
    }
    case 'netlink':
    case 'auto': {
      const { readNetlinkSnapshot, netlinkAvailable } = await import('./from-netlink.js');
      if (source === 'auto' && !(await netlinkAvailable())) {
        const { readIpJsonSnapshot } = await import('./from-ip-json.js');
        return readIpJsonSnapshot(localRunner);
      }
      return readNetlinkSnapshot(options.netlink);
    }
  }
}
