/**
 * The lab scenario the fix tests share (lab.md): a host with a LAN on a veth, a held-open
 * tailscale0, tailscaled's rules 5210-5270 and a subnet route for its own LAN in table 52; and
 * the helpers that prove "nothing changed" and byte-exact undo.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Lab } from './harness.js';

export interface Scenario {
  lab: Lab;
  host: string;
  hostIf: string;
  root: string;
  /** netmend inside the host namespace, never inheriting an SSH session from the test runner. */
  netmend(args: string[], env?: NodeJS.ProcessEnv): ReturnType<Lab['netmend']>;
}

export async function tailscaleScenario(t: TestContext, options: { lanNetworkFile?: boolean } = {}): Promise<Scenario> {
  const lab = Lab.forTest(t);
  const { host, hostIf } = await lab.linkedPair(
    { label: 'fx', ifPrefix: 'fxh', addresses: ['10.10.0.4/24', 'fd10:10::4/64'] },
    { label: 'fl', ifPrefix: 'fxl', addresses: ['10.10.0.3/24', 'fd10:10::3/64'] },
  );
  await lab.tun(host, 'tailscale0', { addresses: ['100.100.1.2/32'] });
  await lab.waitForLinkLocalRoute(host, 'tailscale0');
  await lab.tailscaleRules(host);
  await lab.ip(host, 'route', 'add', '10.10.0.0/24', 'dev', 'tailscale0', 'table', '52');
  await lab.ip(host, '-6', 'route', 'add', 'fd10:10::/64', 'dev', 'tailscale0', 'table', '52');
  const root = lab.tmpdir();
  if (options.lanNetworkFile !== false) {
    mkdirSync(join(root, 'etc/systemd/network'), { recursive: true });
    // KeepConfiguration=yes: networkd keeps the addresses the lab put there.
    writeFileSync(join(root, 'etc/systemd/network/20-lan.network'), `[Match]\nName=${hostIf}\n\n[Network]\nKeepConfiguration=yes\nLinkLocalAddressing=ipv6\n`);
  }
  return {
    lab, host, hostIf, root,
    netmend: (args, env = {}) => lab.netmend(host, args, { env: { SSH_CONNECTION: '', ...env }, timeoutMs: 60_000 }),
  };
}

export async function routeGet(s: Scenario, address: string): Promise<string> {
  return (await s.lab.ip(s.host, 'route', 'get', address)).split('\n')[0];
}

export async function rules(s: Scenario): Promise<string> {
  return `${await s.lab.ip(s.host, '-4', 'rule')}${await s.lab.ip(s.host, '-6', 'rule')}`;
}

/** Every file under dir with its bytes and mode, to prove "nothing changed" and byte-exact undo. */
export function tree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) Object.assign(out, tree(path, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = `${(stat.mode & 0o7777).toString(8)} ${readFileSync(path).toString('base64')}`;
  }
  return out;
}

export function withoutJournal(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).filter(([path]) => !path.startsWith('var/lib/netmend/')));
}
