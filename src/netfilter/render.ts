/**
 * Rules back into one line of nft syntax, close to what `nft list ruleset` prints, so answers show
 * a rule the way the user wrote or reads it. Only for people: the evaluator never parses this.
 */
import type { Json } from './types.js';

const MARK_KEYS = new Set(['mark']);
const QUOTED_META = new Set(['iifname', 'oifname', 'iif', 'oif', 'ibrname', 'obrname']);
const BARE_META = new Set(['iifname', 'oifname', 'iif', 'oif', 'iifgroup', 'oifgroup']);

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Hint { quote?: boolean; hex?: boolean }

function hintOf(expression: Json): Hint {
  if (!isObject(expression)) return {};
  if (isObject(expression.meta)) {
    const key = String(expression.meta.key);
    return { quote: QUOTED_META.has(key), hex: MARK_KEYS.has(key) };
  }
  if (isObject(expression.ct) && expression.ct.key === 'mark') return { hex: true };
  if (Array.isArray(expression['&']) || Array.isArray(expression['|']) || Array.isArray(expression['^'])) {
    const operands = (expression['&'] ?? expression['|'] ?? expression['^']) as Json[];
    return hintOf(operands[0]);
  }
  return {};
}

function value(v: Json, hint: Hint = {}): string {
  if (typeof v === 'string') {
    if (v.startsWith('@')) return v;
    return hint.quote ? `"${v}"` : v;
  }
  if (typeof v === 'number') return hint.hex ? `0x${(v >>> 0).toString(16).padStart(8, '0')}` : String(v);
  if (typeof v === 'boolean') return v ? 'exists' : 'missing';
  if (v === null) return '';
  if (Array.isArray(v)) return v.map((item) => value(item, hint)).join(',');
  return expr(v, hint);
}

/** An expression (left or right side of a match, a statement's argument). */
export function expr(e: Json, hint: Hint = {}): string {
  if (!isObject(e)) return value(e, hint);
  const [kind] = Object.keys(e);
  const body = e[kind];
  switch (kind) {
    case 'meta': {
      const key = String((body as { key: Json }).key);
      return BARE_META.has(key) ? key : `meta ${key}`;
    }
    case 'payload': {
      const p = body as { protocol?: string; field?: string; base?: string; offset?: number; len?: number };
      return p.protocol ? `${p.protocol} ${p.field}` : `@${p.base},${p.offset},${p.len}`;
    }
    case 'ct': {
      const c = body as { key: string; dir?: string; family?: string };
      return ['ct', c.dir, c.family, c.key].filter(Boolean).join(' ');
    }
    case 'fib': {
      const f = body as { result: string; flags?: Json };
      const flags = Array.isArray(f.flags) ? f.flags : f.flags ? [f.flags] : [];
      return `fib ${flags.join(' . ')} ${f.result}`;
    }
    case 'rt': return `rt ${(body as { key: string }).key}`;
    case 'concat': return (body as Json[]).map((part) => expr(part, hint)).join(' . ');
    case 'set': return `{ ${(Array.isArray(body) ? body : [body]).map((item) => Array.isArray(item) ? `${expr(item[0], hint)} : ${expr(item[1])}` : expr(item, hint)).join(', ')} }`;
    case 'prefix': return `${(body as { addr: string }).addr}/${(body as { len: number }).len}`;
    case 'range': return `${value((body as Json[])[0], hint)}-${value((body as Json[])[1], hint)}`;
    case 'elem': return expr((body as { val: Json }).val, hint);
    case '&': case '|': case '^': case '<<': case '>>': {
      const [left, right] = body as Json[];
      const inner = hintOf(left);
      return `${expr(left, hint)} ${kind} ${value(right, inner.hex ? inner : { hex: false })}`;
    }
    case 'map': {
      const m = body as { key: Json; data: Json };
      return `${expr(m.key)} map ${expr(m.data)}`;
    }
    case 'numgen': return `numgen ${(body as { mode: string }).mode} mod ${(body as { mod: number }).mod}`;
    case 'jhash': case 'symhash': return kind;
    case 'tcp option': return `tcp option ${(body as { name: string }).name}${(body as { field?: string }).field ? ` ${(body as { field: string }).field}` : ''}`;
    case 'exthdr': return `exthdr ${(body as { name: string }).name}`;
    case 'socket': return `socket ${(body as { key: string }).key}`;
    case 'osf': return 'osf name';
    case 'accept': case 'drop': case 'continue': case 'return': return kind;
    case 'jump': case 'goto': return `${kind} ${(body as { target: string }).target}`;
    default: return JSON.stringify(e);
  }
}

function natArgs(body: Json): string {
  if (!isObject(body)) return '';
  const parts: string[] = [];
  const family = body.family ? `${body.family} ` : '';
  if (body.addr !== undefined || body.port !== undefined) {
    let target = body.addr !== undefined ? expr(body.addr) : '';
    if (body.port !== undefined) target += `:${expr(body.port)}`;
    parts.push(`${family}to ${target}`);
  }
  if (body.flags) parts.push(Array.isArray(body.flags) ? body.flags.join(',') : String(body.flags));
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/** One statement of a rule. */
export function statement(s: Json): string {
  if (!isObject(s)) return JSON.stringify(s);
  const [kind] = Object.keys(s);
  const body = s[kind];
  switch (kind) {
    case 'match': {
      const m = body as { op: string; left: Json; right: Json };
      const hint = hintOf(m.left);
      const op = m.op === '==' || m.op === 'in' ? '' : `${m.op} `;
      return `${expr(m.left)} ${op}${value(m.right, hint)}`;
    }
    case 'counter': {
      if (isObject(body) && typeof body.packets === 'number') return `counter packets ${body.packets} bytes ${body.bytes}`;
      return typeof body === 'string' ? `counter name ${body}` : 'counter';
    }
    case 'mangle': {
      const m = body as { key: Json; value: Json };
      return `${expr(m.key)} set ${value(m.value, hintOf(m.key))}`;
    }
    case 'vmap': {
      const v = body as { key: Json; data: Json };
      return `${expr(v.key)} vmap ${expr(v.data, hintOf(v.key))}`;
    }
    case 'snat': case 'dnat': case 'masquerade': case 'redirect': return `${kind}${natArgs(body)}`;
    case 'reject': {
      if (!isObject(body)) return 'reject';
      if (body.type === 'tcp reset') return 'reject with tcp reset';
      return body.expr ? `reject with ${body.type} ${body.expr}` : `reject with ${body.type}`;
    }
    case 'log': return isObject(body) && body.prefix !== undefined ? `log prefix "${body.prefix}"` : 'log';
    case 'limit': {
      if (!isObject(body)) return 'limit';
      return `limit rate ${body.inv ? 'over ' : ''}${body.rate}/${body.per}${body.burst ? ` burst ${body.burst} packets` : ''}`;
    }
    case 'notrack': return 'notrack';
    case 'flow': return `flow ${(body as { op?: string }).op ?? 'add'} ${(body as { flowtable: string }).flowtable}`;
    case 'queue': return isObject(body) && body.num !== undefined ? `queue num ${body.num}` : 'queue';
    case 'xt': return `xt ${(body as { type?: string }).type ?? ''} ${(body as { name?: string }).name ?? ''}`.trim();
    case 'set': {
      const b = body as { op: string; elem: Json; set: string };
      return `${b.op} ${b.set} { ${expr(b.elem)} }`;
    }
    case 'ct helper': return `ct helper set ${JSON.stringify(body)}`;
    case 'quota': return 'quota';
    default: return expr(s);
  }
}

export function renderRule(expressions: readonly Json[]): string {
  return expressions.map(statement).join(' ');
}
