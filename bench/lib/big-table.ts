/**
 * A namespace holding a big routing table, for the benchmarks: veth uplinks (so routes get a
 * gateway) and distinct /24 routes loaded with `ip -batch`, plus a few policy rules and a table
 * 52 like tailscaled's. Deleted by `destroy()` (and on SIGINT/SIGTERM).
 *
 * Where the big table sits is the layout:
 *  - main:         every route in main (a BGP feed, a big site list);
 *  - one-table:    every route in table 1 (one non-main table, as a policy-routing setup has it);
 *  - three-tables: tables 1, 2 and 3 each holding 2/5 of `routes` (200,000 at the default), each
 *                  through its own uplink, with mwan3's fwmark rules: how mwan3 copies main into
 *                  one table per WAN on a multi-WAN OpenWrt router.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TableLayout = 'main' | 'one-table' | 'three-tables';
export const TABLE_LAYOUTS: readonly TableLayout[] = ['main', 'one-table', 'three-tables'];

export interface BigTable {
  ns: string;
  layout: TableLayout;
  /** Routes in the big table(s) together. */
  routes: number;
  /** An address that the big table routes (through the gateway). */
  probe: string;
  destroy(): void;
}

/** The i-th route's /24, spread over 16.0.0.0/5 so half a million fit. */
export function bigTablePrefix(i: number): string {
  return `${16 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.0/24`;
}

/** Which tables hold how many of the big table's routes: [table, routes][] (254 is main). */
export function layoutTables(layout: TableLayout, routes: number): Array<[number, number]> {
  switch (layout) {
    case 'main': return [[254, routes]];
    case 'one-table': return [[1, routes]];
    case 'three-tables': {
      const each = Math.round((routes * 2) / 5);
      return [[1, each], [2, each], [3, each]];
    }
  }
}

/** Parses a comma-separated list of layouts (a bench's argument); all of them when empty. */
export function parseLayouts(text: string | undefined): TableLayout[] {
  if (!text) return [...TABLE_LAYOUTS];
  const layouts = text.split(',').map((name) => name.trim()).filter(Boolean);
  for (const layout of layouts) {
    if (!(TABLE_LAYOUTS as readonly string[]).includes(layout)) throw new Error(`unknown table layout '${layout}' (known: ${TABLE_LAYOUTS.join(', ')})`);
  }
  return layouts as TableLayout[];
}

export function createBigTable(routes = 500_000, layout: TableLayout = 'main'): BigTable {
  const id = `${process.pid % 100000}`;
  const ns = `nmbench${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'netmend-bench-'));
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => { destroy(); process.exit(130); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tables = layoutTables(layout, routes);
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
    ip('link', 'set', 'lo', 'up');
    const lines: string[] = [];
    // One uplink per big table: 10.200.N.1/24 on nmbIDaN, its gateway 10.200.N.2.
    tables.forEach(([table, count], uplink) => {
      const dev = `nmb${id}a${uplink}`;
      const peer = `nmb${id}b${uplink}`;
      execFileSync('ip', ['link', 'add', dev, 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', ns]);
      ip('link', 'set', dev, 'up');
      ip('link', 'set', peer, 'up');
      ip('addr', 'add', `10.200.${uplink}.1/24`, 'dev', dev);
      const where = table === 254 ? '' : ` table ${table}`;
      for (let i = 0; i < count; i++) lines.push(`route add ${bigTablePrefix(i)} via 10.200.${uplink}.2 dev ${dev}${where}`);
      if (table !== 254) {
        lines.push(`route add default via 10.200.${uplink}.2 dev ${dev}${where}`);
        // mwan3's rule for traffic its firewall marked for this uplink.
        lines.push(`rule add pref ${2000 + table} fwmark ${table << 8}/0x3f00 lookup ${table}`);
      }
    });
    lines.push(`route add 100.64.0.0/10 dev nmb${id}a0 table 52`);
    lines.push('rule add pref 5210 fwmark 0x80000/0xff0000 lookup main');
    lines.push('rule add pref 5270 lookup 52');
    const file = join(dir, 'routes.batch');
    writeFileSync(file, `${lines.join('\n')}\n`);
    execFileSync('ip', ['-n', ns, '-batch', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    destroy();
    throw error;
  }
  const total = tables.reduce((sum, [, count]) => sum + count, 0);
  const lastTable = tables[tables.length - 1][1];
  return { ns, layout, routes: total, probe: bigTablePrefix(lastTable - 1).replace(/0\/24$/, '9'), destroy };
}
