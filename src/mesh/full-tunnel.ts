/**
 * `AllowedIPs = 0.0.0.0/0` or `::/0` in a `node up -c` config, handled as wg-quick's add_default:
 * the default route goes into a table of its own (the FwMark, else the first table from 51820
 * without routes), the node's UDP sockets carry that mark, and two rules per family send
 * everything unmarked to that table while letting more specific main-table routes win:
 *     ip rule add not fwmark T table T
 *     ip rule add table main suppress_prefixlength 0
 * The rules are removed again on shutdown (the route goes with the link).
 */
import { localRunner, type CommandRunner } from '../system/exec.js';

export const DEFAULT_TABLE = 51820;

export interface FullTunnel {
  table: number;
  /** Deletes the rules it added; idempotent. */
  remove(): Promise<void>;
}

/** The table wg-quick would pick: the fwmark if set, else the first from 51820 with no routes. */
export async function pickTable(fwmark: number | undefined, runner: CommandRunner = localRunner): Promise<number> {
  if (fwmark) return fwmark;
  for (let table = DEFAULT_TABLE; ; table++) {
    const v4 = await runner.run('ip', ['-4', 'route', 'show', 'table', String(table)], { allowFailure: true });
    const v6 = await runner.run('ip', ['-6', 'route', 'show', 'table', String(table)], { allowFailure: true });
    if (v4.stdout.trim() === '' && v6.stdout.trim() === '') return table;
  }
}

export async function installFullTunnel(iface: string, families: Array<4 | 6>, table: number, runner: CommandRunner = localRunner): Promise<FullTunnel> {
  const added: string[][] = [];
  const remove = async () => {
    for (const rule of added.splice(0).reverse()) {
      await runner.run('ip', [rule[0], 'rule', 'del', ...rule.slice(1)], { allowFailure: true });
    }
  };
  try {
    for (const family of families) {
      const f = `-${family}`;
      await runner.run('ip', [f, 'route', 'add', family === 4 ? '0.0.0.0/0' : '::/0', 'dev', iface, 'table', String(table)]);
      for (const rule of [['not', 'fwmark', String(table), 'table', String(table)], ['table', 'main', 'suppress_prefixlength', '0']]) {
        await runner.run('ip', [f, 'rule', 'add', ...rule]);
        added.push([f, ...rule]);
      }
      // wg-quick: replies to marked traffic must pass reverse-path filtering.
      if (family === 4) await runner.run('sysctl', ['-q', 'net.ipv4.conf.all.src_valid_mark=1'], { allowFailure: true });
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { table, remove };
}
