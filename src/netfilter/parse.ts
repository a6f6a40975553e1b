/**
 * `nft -j list ruleset` (libnftables-json, json_schema_version 1) into the evaluator's model.
 * Anything that does not have the documented shape is bad input with a one-line reason: the
 * evaluator must never run on a half-understood ruleset.
 */
import { InputError } from '../errors.js';
import { renderRule } from './render.js';
import type { Hook, Json, NftChain, NftFamily, NftRule, NftSet, NftTable, Ruleset } from './types.js';

const FAMILIES: readonly NftFamily[] = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'];
const HOOKS: readonly Hook[] = ['prerouting', 'input', 'forward', 'output', 'postrouting', 'ingress', 'egress'];

function fail(where: string, what: string): never {
  throw new InputError(`malformed nftables ruleset: ${where}: ${what}`, 'give the output of `nft -j list ruleset` (nftables 0.9.3 or later)');
}

function object(value: unknown, where: string): Record<string, Json> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'expected an object');
  return value as Record<string, Json>;
}

function text(value: Json | undefined, where: string, field: string): string {
  if (typeof value !== 'string') fail(where, `"${field}" is missing or not a string`);
  return value;
}

function integer(value: Json | undefined, where: string, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(where, `"${field}" is missing or not an integer`);
  return value;
}

function family(value: Json | undefined, where: string): NftFamily {
  if (typeof value !== 'string' || !FAMILIES.includes(value as NftFamily)) fail(where, `unknown family ${JSON.stringify(value)}`);
  return value as NftFamily;
}

function tableKey(familyName: string, name: string): string {
  return `${familyName} ${name}`;
}

/** Parses the JSON text (or already parsed value) of `nft -j list ruleset`. */
export function parseNftJson(input: string | unknown): Ruleset {
  let data: unknown = input;
  if (typeof input === 'string') {
    if (input.trim() === '') return { tables: [], warnings: [] };
    try {
      data = JSON.parse(input);
    } catch (error) {
      throw new InputError(`malformed nftables ruleset: not JSON: ${(error as Error).message}`, 'give the output of `nft -j list ruleset`');
    }
  }
  const top = object(data, 'top level');
  if (!Array.isArray(top.nftables)) fail('top level', 'no "nftables" array');
  const tables = new Map<string, NftTable>();
  const warnings: string[] = [];
  const pendingRules: Array<{ rule: NftRule; where: string }> = [];
  const tableOf = (fam: NftFamily, name: string, where: string): NftTable => {
    const table = tables.get(tableKey(fam, name));
    if (!table) fail(where, `refers to table ${fam} ${name}, which is not listed before it`);
    return table;
  };
  for (const [i, item] of top.nftables.entries()) {
    const entry = object(item, `nftables[${i}]`);
    const kinds = Object.keys(entry);
    if (kinds.length !== 1) fail(`nftables[${i}]`, 'expected exactly one object kind');
    const kind = kinds[0];
    const where = `nftables[${i}] (${kind})`;
    const body = object(entry[kind], where);
    switch (kind) {
      case 'metainfo': {
        const version = body.json_schema_version;
        if (version !== undefined && version !== 1) warnings.push(`nft JSON schema version ${JSON.stringify(version)}; netmend reads version 1`);
        break;
      }
      case 'table': {
        const fam = family(body.family, where);
        const name = text(body.name, where, 'name');
        tables.set(tableKey(fam, name), { family: fam, name, handle: integer(body.handle, where, 'handle'), origin: 'nftables', chains: new Map(), sets: new Map(), flowtables: new Map() });
        break;
      }
      case 'chain': {
        const fam = family(body.family, where);
        const table = tableOf(fam, text(body.table, where, 'table'), where);
        const chain: NftChain = { family: fam, table: table.name, name: text(body.name, where, 'name'), handle: integer(body.handle, where, 'handle'), rules: [] };
        if (body.hook !== undefined) {
          const hook = text(body.hook, where, 'hook');
          if (!HOOKS.includes(hook as Hook)) fail(where, `unknown hook ${hook}`);
          const type = text(body.type, where, 'type');
          if (!['filter', 'nat', 'route'].includes(type)) fail(where, `unknown chain type ${type}`);
          const policy = body.policy === undefined ? 'accept' : text(body.policy, where, 'policy');
          if (policy !== 'accept' && policy !== 'drop') fail(where, `unknown policy ${policy}`);
          const devices = body.dev === undefined ? undefined : (Array.isArray(body.dev) ? body.dev.map(String) : [String(body.dev)]);
          chain.base = { type: type as 'filter', hook: hook as Hook, prio: integer(body.prio, where, 'prio'), policy, ...(devices ? { devices } : {}) };
        }
        table.chains.set(chain.name, chain);
        break;
      }
      case 'rule': {
        const fam = family(body.family, where);
        const tableName = text(body.table, where, 'table');
        const chainName = text(body.chain, where, 'chain');
        if (!Array.isArray(body.expr)) fail(where, '"expr" is missing or not an array');
        const rule: NftRule = { family: fam, table: tableName, chain: chainName, handle: integer(body.handle, where, 'handle'), expr: body.expr, text: '' };
        if (typeof body.comment === 'string') rule.comment = body.comment;
        pendingRules.push({ rule, where });
        break;
      }
      case 'set':
      case 'map': {
        const fam = family(body.family, where);
        const table = tableOf(fam, text(body.table, where, 'table'), where);
        const type = body.type;
        if (typeof type !== 'string' && !(Array.isArray(type) && type.every((t) => typeof t === 'string'))) fail(where, '"type" is missing');
        const set: NftSet = {
          family: fam, table: table.name, name: text(body.name, where, 'name'), handle: integer(body.handle, where, 'handle'),
          type: type as string | string[], flags: Array.isArray(body.flags) ? body.flags.map(String) : typeof body.flags === 'string' ? [body.flags] : [],
          elem: body.elem === undefined ? [] : Array.isArray(body.elem) ? body.elem : fail(where, '"elem" is not an array'),
        };
        if (kind === 'map') {
          const map = body.map;
          if (typeof map !== 'string' && !Array.isArray(map)) fail(where, 'a map without "map" data type');
          set.map = map as string | string[];
        }
        table.sets.set(set.name, set);
        break;
      }
      case 'flowtable': {
        const fam = family(body.family, where);
        const table = tableOf(fam, text(body.table, where, 'table'), where);
        const devices = body.dev === undefined ? [] : Array.isArray(body.dev) ? body.dev.map(String) : [String(body.dev)];
        table.flowtables.set(text(body.name, where, 'name'), { family: fam, table: table.name, name: text(body.name, where, 'name'), hook: String(body.hook ?? 'ingress'), prio: Number(body.prio ?? 0), devices });
        break;
      }
      case 'element':
        // `nft -j list ruleset` prints elements inside their set; a stray element object is kept out.
        warnings.push(`${where}: element objects outside a set are ignored`);
        break;
      case 'ct helper': case 'ct timeout': case 'ct expectation': case 'synproxy': {
        const table = tableOf(family(body.family, where), text(body.table, where, 'table'), where);
        (table.conntrackObjects ??= []).push(`${kind} ${text(body.name, where, 'name')}`);
        break;
      }
      default:
        // Counters, quotas, limits, secmarks: named objects a rule may refer to; the evaluator
        // names them as unknown where a rule uses them.
        break;
    }
  }
  for (const { rule, where } of pendingRules) {
    const table = tableOf(rule.family, rule.table, where);
    const chain = table.chains.get(rule.chain);
    if (!chain) fail(where, `refers to chain ${rule.chain}, which table ${rule.family} ${rule.table} does not have`);
    rule.text = renderRule(rule.expr);
    chain.rules.push(rule);
  }
  return { tables: [...tables.values()], warnings };
}
