/**
 * iptables-save output in the evaluator's terms. Two uses (netfilter.md §6):
 * - iptables-legacy: its tables become tables of origin 'iptables-legacy', hooked at the fixed
 *   xtables priorities (raw −300, mangle −150, nat in the NAT slot, filter 0, security 50), and
 *   run beside the nftables chains;
 * - iptables-nft: rules whose JSON holds opaque `xt` expressions (conntrack, MASQUERADE, MARK, …,
 *   printed without parameters) are replaced by the same rule read from iptables-nft-save.
 * Each rule becomes libnftables-json statements, so one evaluator serves all backends; a match or
 * target netmend does not know becomes an `xt` statement that the evaluator names as unknown.
 */
import type { BaseChainInfo, Hook, Json, NftChain, NftFamily, NftRule, NftTable } from './types.js';

const BUILTIN_HOOK: Record<string, Hook> = { PREROUTING: 'prerouting', INPUT: 'input', FORWARD: 'forward', OUTPUT: 'output', POSTROUTING: 'postrouting' };
const TABLE_PRIORITY: Record<string, number> = { raw: -300, mangle: -150, nat: -100, filter: 0, security: 50 };

/** Splits an iptables-save rule line into words, honouring double quotes. */
function words(line: string): string[] {
  const out: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(line))) out.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]);
  return out;
}

function number(text: string): number {
  return text.startsWith('0x') ? parseInt(text.slice(2), 16) : Number(text);
}

function markAndMask(text: string): [number, number] {
  const [value, mask] = text.split('/');
  return [number(value) >>> 0, mask === undefined ? 0xffffffff : number(mask) >>> 0];
}

function addressRight(text: string): Json {
  const [addr, len] = text.split('/');
  if (len === undefined || (addr.includes(':') ? len === '128' : len === '32')) return addr;
  return { prefix: { addr, len: Number(len) } };
}

function portRight(text: string): Json {
  if (text.includes(':')) {
    const [low, high] = text.split(':');
    return { range: [low === '' ? 0 : Number(low), high === '' ? 65535 : Number(high)] };
  }
  return /^\d+$/.test(text) ? Number(text) : text;
}

function match(left: Json, right: Json, negate: boolean, op = '=='): Json {
  return { match: { op: negate ? '!=' : op, left, right } };
}

const meta = (key: string): Json => ({ meta: { key } });
const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
const MARK_SET = (value: number, mask: number): Json => ({ mangle: { key: meta('mark'), value: { '^': [{ '&': [meta('mark'), (~mask) >>> 0] }, value] } } });

/** One `-A CHAIN …` line as libnftables-json statements. */
export function iptablesRuleToNft(line: string, family: 4 | 6): Json[] {
  const w = words(line);
  const out: Json[] = [];
  let protocol: string | undefined;
  let negate = false;
  const addrField = family === 4 ? 'ip' : 'ip6';
  for (let i = 2; i < w.length; i++) {
    const word = w[i];
    const next = () => w[++i];
    if (word === '!') {
      negate = true;
      continue;
    }
    const neg = negate;
    negate = false;
    switch (word) {
      case '-s': case '--source': out.push(match(payload(addrField, 'saddr'), addressRight(next()), neg)); break;
      case '-d': case '--destination': out.push(match(payload(addrField, 'daddr'), addressRight(next()), neg)); break;
      case '-i': case '--in-interface': out.push(match(meta('iifname'), next().replace(/\+$/, '*'), neg)); break;
      case '-o': case '--out-interface': out.push(match(meta('oifname'), next().replace(/\+$/, '*'), neg)); break;
      case '-p': case '--protocol': {
        protocol = next();
        if (protocol !== 'all') out.push(match(meta('l4proto'), /^\d+$/.test(protocol) ? Number(protocol) : protocol === 'ipv6-icmp' ? 'icmpv6' : protocol, neg));
        break;
      }
      case '-m': case '--match': next(); break;
      case '--dport': case '--destination-port': out.push(match(payload(protocol ?? 'th', 'dport'), portRight(next()), neg)); break;
      case '--sport': case '--source-port': out.push(match(payload(protocol ?? 'th', 'sport'), portRight(next()), neg)); break;
      case '--dports': case '--sports': {
        const list = next().split(',').map(portRight);
        out.push(match(payload(protocol ?? 'th', word === '--dports' ? 'dport' : 'sport'), { set: list }, neg));
        break;
      }
      case '--ctstate': case '--state': out.push(match({ ct: { key: 'state' } }, next().toLowerCase().split(','), neg, 'in')); break;
      case '--ctstatus': out.push(match({ ct: { key: 'status' } }, next().toLowerCase().split(','), neg, 'in')); break;
      case '--mark': {
        const [value, mask] = markAndMask(next());
        const isConnmark = w.slice(0, i).lastIndexOf('connmark') > w.slice(0, i).lastIndexOf('mark');
        const key = isConnmark ? { ct: { key: 'mark' } } : meta('mark');
        out.push(match(mask === 0xffffffff ? key : { '&': [key, mask] }, value, neg));
        break;
      }
      case '--comment': next(); break;
      case '--icmp-type': case '--icmpv6-type': {
        const type = next();
        out.push(match(payload(word === '--icmp-type' ? 'icmp' : 'icmpv6', 'type'), /^\d+$/.test(type) ? Number(type) : type, neg));
        break;
      }
      case '--dst-type': case '--src-type': {
        const type = next().toLowerCase();
        out.push(match({ fib: { result: 'type', flags: [word === '--dst-type' ? 'daddr' : 'saddr'] } }, type, neg));
        break;
      }
      case '--src-range': case '--dst-range': {
        const [low, high] = next().split('-');
        out.push(match(payload(addrField, word === '--src-range' ? 'saddr' : 'daddr'), { range: [low, high] }, neg));
        break;
      }
      case '--syn': out.push(match({ '&': [payload('tcp', 'flags'), ['fin', 'syn', 'rst', 'ack']] }, 'syn', neg)); break;
      case '--tcp-flags': {
        const mask = next().toLowerCase().split(',');
        const set = next().toLowerCase();
        out.push(match({ '&': [payload('tcp', 'flags'), mask] }, set === 'none' ? 0 : set.split(','), neg));
        break;
      }
      case '--limit': out.push({ limit: { rate: Number(next().split('/')[0]), per: 'second' } }); break;
      case '--limit-burst': next(); break;
      case '-j': case '--jump': case '-g': case '--goto': {
        const target = next();
        const rest = w.slice(i + 1);
        i = w.length;
        out.push(...targetToNft(target, rest, word === '-g' || word === '--goto', family));
        break;
      }
      default:
        // An option of a match netmend does not know: keep the rule, named as unknown.
        out.push({ xt: { type: 'match', name: `${word}${w[i + 1] && !w[i + 1].startsWith('-') ? ` ${w[++i]}` : ''}` } });
    }
  }
  return out;
}

function option(rest: string[], name: string): string | undefined {
  const at = rest.indexOf(name);
  return at >= 0 ? rest[at + 1] : undefined;
}

function natTo(text: string | undefined): { addr?: string; port?: Json } {
  if (!text) return {};
  const bracket = /^\[([^\]]+)\](?::(.+))?$/.exec(text);
  const [addr, port] = bracket ? [bracket[1], bracket[2]] : text.includes('.') ? text.split(':') : [text, undefined];
  const out: { addr?: string; port?: Json } = {};
  if (addr) out.addr = addr.split('-')[0];
  if (port) out.port = Number(port.split('-')[0]);
  return out;
}

function targetToNft(target: string, rest: string[], isGoto: boolean, family: 4 | 6): Json[] {
  switch (target) {
    case 'ACCEPT': return [{ accept: null }];
    case 'DROP': return [{ drop: null }];
    case 'RETURN': return [{ return: null }];
    case 'REJECT': {
      const with_ = option(rest, '--reject-with');
      if (!with_) return [{ reject: { type: family === 4 ? 'icmp' : 'icmpv6', expr: 'port-unreachable' } }];
      if (with_ === 'tcp-reset') return [{ reject: { type: 'tcp reset' } }];
      return [{ reject: { type: family === 4 ? 'icmp' : 'icmpv6', expr: with_.replace(/^icmp6?-/, '') } }];
    }
    case 'LOG': case 'NFLOG': case 'TCPMSS': case 'ULOG': return [{ log: null }];
    case 'MASQUERADE': {
      const port = option(rest, '--to-ports');
      return [{ masquerade: port ? { port: Number(port.split('-')[0]) } : null }];
    }
    case 'SNAT': return [{ snat: natTo(option(rest, '--to-source')) as Json }];
    case 'DNAT': return [{ dnat: natTo(option(rest, '--to-destination')) as Json }];
    case 'REDIRECT': {
      const port = option(rest, '--to-ports');
      return [{ redirect: port ? { port: Number(port.split('-')[0]) } : null }];
    }
    case 'MARK': {
      const xmark = option(rest, '--set-xmark');
      if (xmark) return [MARK_SET(...markAndMask(xmark))];
      const set = option(rest, '--set-mark');
      if (set) {
        const [value, mask] = markAndMask(set);
        return [MARK_SET(value, mask)];
      }
      const or = option(rest, '--or-mark');
      if (or) return [{ mangle: { key: meta('mark'), value: { '|': [meta('mark'), number(or) >>> 0] } } }];
      const and = option(rest, '--and-mark');
      if (and) return [{ mangle: { key: meta('mark'), value: { '&': [meta('mark'), number(and) >>> 0] } } }];
      return [{ xt: { type: 'target', name: `MARK ${rest.join(' ')}` } }];
    }
    case 'CONNMARK': {
      const nfmask = number(option(rest, '--nfmask') ?? option(rest, '--mask') ?? '0xffffffff') >>> 0;
      const ctmask = number(option(rest, '--ctmask') ?? option(rest, '--mask') ?? '0xffffffff') >>> 0;
      const ctMark: Json = { ct: { key: 'mark' } };
      if (rest.includes('--save-mark')) {
        return [{ mangle: { key: ctMark, value: { '|': [{ '&': [ctMark, (~ctmask) >>> 0] }, { '&': [meta('mark'), nfmask] }] } } }];
      }
      if (rest.includes('--restore-mark')) {
        return [{ mangle: { key: meta('mark'), value: { '|': [{ '&': [meta('mark'), (~nfmask) >>> 0] }, { '&': [ctMark, ctmask] }] } } }];
      }
      const xmark = option(rest, '--set-xmark') ?? option(rest, '--set-mark');
      if (xmark) {
        const [value, mask] = markAndMask(xmark);
        return [{ mangle: { key: ctMark, value: { '^': [{ '&': [ctMark, (~mask) >>> 0] }, value] } } }];
      }
      return [{ xt: { type: 'target', name: `CONNMARK ${rest.join(' ')}` } }];
    }
    case 'CT': return rest.includes('--notrack') ? [{ notrack: null }] : [{ log: null }];
    case 'NOTRACK': return [{ notrack: null }];
    case 'NFQUEUE': return [{ queue: rest.includes('--queue-bypass') ? { flags: ['bypass'] } : null }];
    case 'TRACE': return [{ mangle: { key: meta('nftrace'), value: 1 } }];
    default:
      if (/^[A-Z]+$/.test(target) && !rest.length && target.length > 1 && ['CLASSIFY', 'DSCP', 'TOS', 'TTL', 'HMARK', 'SET', 'AUDIT', 'CHECKSUM', 'TEE', 'TPROXY', 'SECMARK', 'CONNSECMARK', 'IDLETIMER', 'LED', 'RATEEST', 'SYNPROXY'].includes(target)) {
        return [{ xt: { type: 'target', name: target } }];
      }
      return [{ [isGoto ? 'goto' : 'jump']: { target } }];
  }
}

export interface SaveTable {
  name: string;
  /** Built-in chains with their policy, user chains with '-'. */
  chains: Array<{ name: string; policy: string }>;
  /** `-A` lines in order. */
  rules: Array<{ chain: string; line: string }>;
}

/** The tables of one iptables-save output. */
export function parseIptablesSave(text: string): SaveTable[] {
  const tables: SaveTable[] = [];
  let current: SaveTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) tables.push((current = { name: line.slice(1), chains: [], rules: [] }));
    else if (line.startsWith(':') && current) {
      const [name, policy] = line.slice(1).split(/\s+/);
      current.chains.push({ name, policy });
    } else if (line.startsWith('-A ') && current) current.rules.push({ chain: line.split(/\s+/)[1], line });
  }
  return tables;
}

/** Legacy xtables tables as evaluator tables. */
export function legacyTables(text: string, family: 4 | 6, firstHandle: number): NftTable[] {
  const nftFamily: NftFamily = family === 4 ? 'ip' : 'ip6';
  return parseIptablesSave(text).map((save, t) => {
    const table: NftTable = { family: nftFamily, name: save.name, handle: firstHandle + t, origin: 'iptables-legacy', chains: new Map(), sets: new Map(), flowtables: new Map() };
    save.chains.forEach((c, i) => {
      const chain: NftChain = { family: nftFamily, table: save.name, name: c.name, handle: i + 1, rules: [] };
      const hook = BUILTIN_HOOK[c.name];
      if (hook && c.policy !== '-') {
        const type = save.name === 'nat' ? 'nat' : save.name === 'mangle' && hook === 'output' ? 'route' : 'filter';
        const prio = save.name === 'nat' ? (hook === 'prerouting' || hook === 'output' ? -100 : 100) : TABLE_PRIORITY[save.name] ?? 0;
        const base: BaseChainInfo = { type, hook, prio, policy: c.policy === 'DROP' ? 'drop' : 'accept' };
        chain.base = base;
      }
      table.chains.set(c.name, chain);
    });
    save.rules.forEach((r, i) => {
      const chain = table.chains.get(r.chain);
      if (!chain) return;
      const rule: NftRule = { family: nftFamily, table: save.name, chain: r.chain, handle: i + 1, expr: iptablesRuleToNft(r.line, family), text: r.line, fromIptablesSave: r.line };
      chain.rules.push(rule);
    });
    return table;
  });
}

function hasXt(expr: readonly Json[]): boolean {
  return expr.some((e) => typeof e === 'object' && e !== null && !Array.isArray(e) && 'xt' in e);
}

/**
 * Replaces the xt-holding rules of iptables-nft tables with their iptables-nft-save counterparts
 * (same table, chain and position). Returns warnings for rules it could not pair.
 */
export function resolveXt(tables: NftTable[], saveText: string, family: 4 | 6): string[] {
  const warnings: string[] = [];
  const saved = parseIptablesSave(saveText);
  const nftFamily: NftFamily = family === 4 ? 'ip' : 'ip6';
  for (const table of tables) {
    if (table.family !== nftFamily || table.origin !== 'nftables') continue;
    const save = saved.find((s) => s.name === table.name);
    for (const chain of table.chains.values()) {
      if (!chain.rules.some((rule) => hasXt(rule.expr))) continue;
      const lines = save?.rules.filter((r) => r.chain === chain.name) ?? [];
      if (lines.length !== chain.rules.length) {
        warnings.push(`${table.family} ${table.name} ${chain.name}: iptables-nft-save lists ${lines.length} rules, nft ${chain.rules.length}; xt rules stay unknown`);
        continue;
      }
      chain.rules.forEach((rule, i) => {
        if (!hasXt(rule.expr)) return;
        rule.expr = iptablesRuleToNft(lines[i].line, family);
        rule.fromIptablesSave = lines[i].line;
        rule.text = lines[i].line;
      });
    }
  }
  return warnings;
}
