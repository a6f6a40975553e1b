/**
 * `DNS =` in a `node up -c` config, applied the way the host manages its resolver and removed
 * again on shutdown:
 *  - systemd-resolved (its runtime directory exists and `resolvectl` is installed): per-link
 *    servers and search domains on the node's interface, plus `~.` so the link takes all
 *    queries, as a full-tunnel VPN expects; `resolvectl revert IFACE` on down;
 *  - resolvconf (openresolv or Debian's): `resolvconf -a IFACE -m 0 -x`, exactly as wg-quick
 *    does; `resolvconf -d IFACE -f` on down;
 *  - neither: nothing is changed, and the caller warns.
 */
import { existsSync } from 'node:fs';
import { localRunner, type CommandRunner } from '../system/exec.js';

export interface AppliedDns {
  method: 'systemd-resolved' | 'resolvconf';
  /** Undoes what was applied; idempotent. */
  remove(): Promise<void>;
}

export interface DnsOptions {
  runner?: CommandRunner;
  /** Where to look for /run/systemd/resolve (tests point it elsewhere). */
  root?: string;
}

async function installed(runner: CommandRunner, program: string): Promise<boolean> {
  const result = await runner.run('sh', ['-c', `command -v ${program}`], { allowFailure: true });
  return result.exitCode === 0;
}

/** Servers are IP addresses, anything else a search domain (as wg-quick reads DNS =). */
export async function applyDns(iface: string, entries: string[], options: DnsOptions = {}): Promise<AppliedDns | undefined> {
  if (entries.length === 0) return undefined;
  const runner = options.runner ?? localRunner;
  const servers = entries.filter((entry) => /^[0-9.]+$|:/.test(entry));
  const domains = entries.filter((entry) => !servers.includes(entry));
  const root = options.root ?? '';
  let done = false;
  if (existsSync(`${root}/run/systemd/resolve`) && await installed(runner, 'resolvectl')) {
    if (servers.length > 0) await runner.run('resolvectl', ['dns', iface, ...servers]);
    await runner.run('resolvectl', ['domain', iface, '~.', ...domains]);
    return {
      method: 'systemd-resolved',
      remove: async () => {
        if (done) return;
        done = true;
        await runner.run('resolvectl', ['revert', iface], { allowFailure: true });
      },
    };
  }
  if (await installed(runner, 'resolvconf')) {
    const lines = servers.map((server) => `nameserver ${server}`);
    if (domains.length > 0) lines.push(`search ${domains.join(' ')}`);
    await runner.run('resolvconf', ['-a', iface, '-m', '0', '-x'], { input: `${lines.join('\n')}\n` });
    return {
      method: 'resolvconf',
      remove: async () => {
        if (done) return;
        done = true;
        await runner.run('resolvconf', ['-d', iface, '-f'], { allowFailure: true });
      },
    };
  }
  return undefined;
}
