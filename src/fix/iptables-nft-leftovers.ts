/**
 * What iptables-nft leaves behind. Its first rule in a table creates the nf_tables table (`ip nat`)
 * and the built-in chain it names; deleting the rule and `-X` of the chain leave both in place,
 * and iptables has no command that removes a table. Undo of `fix forwarding` removes the table
 * (or built-in chain) the fix created with `nft delete`, but only while it is still empty: nft
 * deletes a table with everything in it, so a table another program filled since (Docker's NAT,
 * tailscaled's chains) must be kept. The check and the delete run as one undo step, netmend's own
 * (`netmend fix forwarding --remove-if-empty 'ip nat'`), because nft alone cannot make the
 * delete conditional.
 */
import { InputError } from '../errors.js';
import type { CommandRunner } from '../system/exec.js';

/** A table, or one built-in chain in it, that a fix created: `ip nat` or `ip nat POSTROUTING`. */
export interface CreatedObject {
  family: 'ip' | 'ip6';
  table: 'filter' | 'nat';
  chain?: string;
}

export function formatCreated(object: CreatedObject): string {
  return [object.family, object.table, ...(object.chain ? [object.chain] : [])].join(' ');
}

export function parseCreated(text: string): CreatedObject {
  const match = /^(ip6?) (filter|nat)(?: (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING))?$/.exec(text);
  if (!match) throw new InputError(`--remove-if-empty: '${text}' is not an iptables table (ip|ip6 filter|nat) with an optional built-in chain`);
  return { family: match[1] as CreatedObject['family'], table: match[2] as CreatedObject['table'], ...(match[3] ? { chain: match[3] } : {}) };
}

type NftItem = Record<string, Record<string, unknown>>;

/**
 * Why the object is not empty (holds anything an `nft delete` would take with it), or undefined.
 * Empty is what iptables-nft leaves after its rules and chains are gone: built-in chains with no
 * rule that accept by policy, nothing else.
 */
function contentOf(items: NftItem[], object: CreatedObject): string | undefined {
  const inScope = (body: Record<string, unknown>) => object.chain === undefined || body.chain === object.chain || body.name === object.chain;
  const found: string[] = [];
  for (const item of items) {
    const [kind] = Object.keys(item);
    const body = item[kind];
    if (kind === 'metainfo' || kind === 'table') continue;
    if (kind === 'rule') {
      if (inScope(body)) found.push(`a rule in chain ${String(body.chain)}`);
    } else if (kind === 'chain') {
      if (!inScope(body)) continue;
      if (body.hook === undefined) found.push(`chain ${String(body.name)}`);
      else if (body.policy !== 'accept') found.push(`chain ${String(body.name)} with policy ${String(body.policy)}`);
    } else if (object.chain === undefined) {
      found.push(`${kind} ${String(body.name ?? '')}`.trim());
    }
  }
  return found.length ? [...new Set(found)].join(', ') : undefined;
}

/** Deletes the table or chain when it holds nothing; says what it did. Gone already or filled since: left alone. */
export async function removeIfEmpty(runner: CommandRunner, object: CreatedObject): Promise<string> {
  const shown = `${object.chain ? `chain ${object.chain} of table` : 'table'} ${object.family} ${object.table}`;
  const listed = await runner.run('nft', ['-j', 'list', 'table', object.family, object.table], { allowFailure: true, timeoutMs: 30_000 });
  if (listed.exitCode !== 0) {
    if (/No such file or directory/.test(listed.stderr)) return `${shown}: already gone`;
    throw new Error(`nft list table ${object.family} ${object.table}: ${listed.stderr.trim().split('\n')[0] || `exit ${listed.exitCode}`}`);
  }
  const items = ((JSON.parse(listed.stdout) as { nftables?: NftItem[] }).nftables ?? []);
  if (object.chain && !items.some((item) => item.chain?.name === object.chain)) return `${shown}: already gone`;
  const content = contentOf(items, object);
  if (content) return `${shown}: kept, it holds ${content} added since the fix`;
  const what = object.chain ? ['chain', object.family, object.table, object.chain] : ['table', object.family, object.table];
  await runner.run('nft', ['delete', ...what], { timeoutMs: 30_000 });
  return `${shown}: removed (the fix created it, and it is empty)`;
}
