/**
 * A namespace holding a big routing table, for the benchmarks: one veth pair (so routes get a
 * gateway) and `routes` distinct /24 routes loaded with `ip -batch`, plus a few policy rules and a
 * table 52 like tailscaled's. Deleted by `destroy()` (and on SIGINT/SIGTERM).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BigTable {
  ns: string;
  routes: number;
  /** An address that the big table routes (through the gateway). */
  probe: string;
  destroy(): void;
}

/** The i-th route's /24, spread over 16.0.0.0/5 so half a million fit. */
export function bigTablePrefix(i: number): string {
  return `${16 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`;
}

export function createBigTable(routes = 500_000): BigTable {
  const id = `${process.pid % 100000}`;
  const ns = `nmbench${id}`;
  const dev = `nmb${id}a`;
  const peer = `nmb${id}b`;
  const dir = mkdtempSync(join(tmpdir(), 'netmend-bench-'));
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => { destroy(); process.exit(130); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
    ip('link', 'set', 'lo', 'up');
    execFileSync('ip', ['link', 'add', dev, 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', ns]);
    ip('link', 'set', dev, 'up');
    ip('link', 'set', peer, 'up');
    ip('addr', 'add', '10.200.0.1/24', 'dev', dev);
    const lines: string[] = [];
    for (let i = 0; i < routes; i++) lines.push(`route add ${bigTablePrefix(i)} via 10.200.0.2 dev ${dev}`);
    lines.push('route add 100.64.0.0/10 dev ' + dev + ' table 52');
    lines.push('rule add pref 5210 fwmark 0x80000/0xff0000 lookup main');
    lines.push('rule add pref 5270 lookup 52');
    const file = join(dir, 'routes.batch');
    writeFileSync(file, `${lines.join('\n')}\n`);
    execFileSync('ip', ['-n', ns, '-batch', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    destroy();
    throw error;
  }
  return { ns, routes, probe: bigTablePrefix(routes - 1).replace(/0\/24$/, '9'), destroy };
}
