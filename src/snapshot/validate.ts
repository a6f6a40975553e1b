/**
 * Validation of a loaded snapshot against the shape of types.ts: every address, prefix, prefix
 * length, number and enum, so a hand-edited or damaged file is refused with the JSON path of the
 * first bad value (`routes[3].gateway`) instead of being analysed as if it were a real host.
 *
 * Each section is a table of field checks (SECTIONS below): a new section (a firewall, say) or a
 * new snapshot version adds a table, not code. Checks return a problem text or undefined and
 * allocate nothing on the good path, since a multi-WAN router's snapshot holds 500k routes.
 */
import { InputError } from '../errors.js';
import { maxPrefixLength, parseAddress, parseIPv4, parsePrefix, scanIPv4Prefix } from '../net/address.js';
import { ROUTE_TYPES } from './names.js';
import { validateFirewall } from './firewall.js';
import { type RuleAction, type Snapshot } from './types.js';

/** A problem with `value` (a field of `element`), or undefined when it is fine. */
type FieldCheck = (value: unknown, element: Record<string, unknown>) => string | undefined;

interface ElementSchema {
  /** Fields every element has (a missing one is a problem). */
  required: Record<string, FieldCheck>;
  /** Fields that may be absent, checked when present. */
  optional: Record<string, FieldCheck>;
}

const U32_MAX = 0xffffffff;

const show = (value: unknown): string => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value));

const family: FieldCheck = (value) => (value === 4 || value === 6 ? undefined : `${show(value)} is not 4 or 6`);

const text: FieldCheck = (value) => (typeof value === 'string' ? undefined : `${show(value)} is not a string`);

const nonEmptyText: FieldCheck = (value) => (typeof value === 'string' && value !== '' ? undefined : `${show(value)} is not a non-empty string`);

const boolean: FieldCheck = (value) => (typeof value === 'boolean' ? undefined : `${show(value)} is not true or false`);

function integer(min: number, max: number): FieldCheck {
  return (value) => (Number.isInteger(value) && (value as number) >= min && (value as number) <= max ? undefined : `${show(value)} is not a whole number from ${min} to ${max}`);
}

function oneOf(values: readonly string[]): FieldCheck {
  const allowed = new Set(values);
  return (value) => (typeof value === 'string' && allowed.has(value) ? undefined : `${show(value)} is not one of ${[...allowed].join(', ')}`);
}

const textList: FieldCheck = (value) => {
  if (!Array.isArray(value)) return `${show(value)} is not a list of strings`;
  for (const item of value) if (typeof item !== 'string') return `${show(value)} is not a list of strings`;
  return undefined;
};

function range(max: number): FieldCheck {
  return (value) => {
    const [low, high] = Array.isArray(value) ? value : [];
    return Array.isArray(value) && value.length === 2 && Number.isInteger(low) && Number.isInteger(high) && low >= 0 && low <= high && high <= max
      ? undefined : `${show(value)} is not a range [low, high] within 0-${max}`;
  };
}

function familyOf(element: Record<string, unknown>): 4 | 6 | undefined {
  return element.family === 4 || element.family === 6 ? element.family : undefined;
}

/** An address of the element's family; `anyFamily` for a gateway (IPv4 routes may use an IPv6 one). */
function address(options: { anyFamily?: boolean } = {}): FieldCheck {
  return (value, element) => {
    if (typeof value !== 'string') return `${show(value)} is not an IP address`;
    const expected = options.anyFamily ? undefined : familyOf(element);
    if (expected === 4) return parseIPv4(value) === undefined ? `${show(value)} is not an IPv4 address` : undefined;
    if (expected === undefined && !value.includes(':')) return parseIPv4(value) === undefined ? `${show(value)} is not an IP address` : undefined;
    const parsed = parseAddress(value);
    if (!parsed) return `${show(value)} is not an IP address`;
    return expected !== undefined && parsed.family !== expected ? `${show(value)} is not an IPv${expected} address` : undefined;
  };
}

/** A prefix "a.b.c.d/len" or "x::/len" of the element's family. */
const prefix: FieldCheck = (value, element) => {
  if (typeof value !== 'string') return `${show(value)} is not a prefix`;
  const expected = familyOf(element) ?? (value.includes(':') ? 6 : 4);
  if (expected === 4 && scanIPv4Prefix(value)) return undefined;
  const parsed = expected === 6 ? parsePrefix(value) : undefined;
  if (parsed && parsed.family === 6) return undefined;
  const slash = value.indexOf('/');
  const length = slash < 0 ? NaN : Number(value.slice(slash + 1));
  if (Number.isInteger(length) && length > maxPrefixLength(expected) && parseAddress(value.slice(0, slash))?.family === expected) {
    return `${show(value)}: /${length} is longer than an IPv${expected} prefix can be (/${maxPrefixLength(expected)})`;
  }
  return `${show(value)} is not an IPv${expected} prefix`;
};

/** A prefix length fitting the element's family. */
const prefixLength: FieldCheck = (value, element) => {
  const max = maxPrefixLength(familyOf(element) ?? 6);
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max ? undefined : `${show(value)} is not a prefix length from 0 to ${max}`;
};

/** Scope as `ip` prints it: a name, or a number as text. */
const SCOPE_NAMES = new Set(['global', 'site', 'link', 'host', 'nowhere']);
const scope: FieldCheck = (value) => (typeof value === 'string' && (SCOPE_NAMES.has(value) || (/^\d{1,3}$/.test(value) && Number(value) <= 255))
  ? undefined : `${show(value)} is not a scope (global, site, link, host, nowhere or 0-255)`);

// Not only MACs: tunnels print their endpoint here (`link/gre 10.0.0.1`).
const linkAddress: FieldCheck = (value) => (value === null || typeof value === 'string' ? undefined : `${show(value)} is not a link address or null`);

const RULE_ACTIONS: readonly RuleAction[] = ['lookup', 'goto', 'nop', 'blackhole', 'unreachable', 'prohibit'];

const NEXTHOP: ElementSchema = {
  required: {},
  optional: { gateway: address({ anyFamily: true }), dev: nonEmptyText, weight: integer(1, 256), flags: textList },
};

/** A list whose elements follow `schema`; problems name the element (`nexthops[1].gateway`). */
function listOf(schema: ElementSchema): FieldCheck {
  return (value) => {
    if (!Array.isArray(value)) return `${show(value)} is not a list`;
    for (let i = 0; i < value.length; i++) {
      const problem = elementProblem(value[i], schema);
      if (problem) return `[${i}]${problem}`;
    }
    return undefined;
  };
}

const LINK: ElementSchema = {
  required: { index: integer(1, 2 ** 31 - 1), name: nonEmptyText, kind: text, flags: textList, mtu: integer(0, U32_MAX), operstate: text, address: linkAddress },
  optional: { master: nonEmptyText },
};

const ADDRESS: ElementSchema = {
  required: { ifindex: integer(1, 2 ** 31 - 1), dev: nonEmptyText, family, local: address(), prefixlen: prefixLength, scope, flags: textList },
  optional: { peer: address() },
};

const ROUTE: ElementSchema = {
  required: {
    family, table: integer(0, U32_MAX), type: oneOf(ROUTE_TYPES), dst: prefix, metric: integer(0, U32_MAX),
    protocol: nonEmptyText, scope, flags: textList,
  },
  optional: {
    src: prefix, gateway: address({ anyFamily: true }), dev: nonEmptyText, prefsrc: address(), pref: oneOf(['low', 'medium', 'high']),
    nexthops: listOf(NEXTHOP), error: integer(-4095, 0),
  },
};

const RULE: ElementSchema = {
  required: { family, priority: integer(0, U32_MAX), not: boolean, action: oneOf(RULE_ACTIONS) },
  optional: {
    from: prefix, to: prefix, iif: nonEmptyText, oif: nonEmptyText, fwmark: integer(0, U32_MAX), fwmask: integer(0, U32_MAX),
    tos: integer(0, 255), ipproto: integer(0, 255), sport: range(65535), dport: range(65535), uidrange: range(U32_MAX),
    table: integer(0, U32_MAX), gotoPriority: integer(0, U32_MAX), suppressPrefixlen: integer(-1, 128), suppressIfgroup: integer(-1, U32_MAX),
    protocol: nonEmptyText, flags: textList,
  },
};

/** The list sections of a snapshot, in the order problems are looked for. */
const SECTIONS: Record<string, ElementSchema> = { links: LINK, addresses: ADDRESS, routes: ROUTE, rules: RULE };

/** Snapshot versions this build reads, and the sections each must have. */
const SECTIONS_BY_VERSION: Record<number, readonly string[]> = { 1: ['links', 'addresses', 'routes', 'rules'], 2: ['links', 'addresses', 'routes', 'rules'] };

type ElementCheck = (element: Record<string, unknown>) => string | undefined;

/**
 * One function per schema, built once: a loop over the field table with a variable key makes
 * every property read megamorphic (200 ms for 500k routes); constant keys in generated code
 * read at the speed of hand-written checks. Only the schema's own field names go into the code.
 */
const compiled = new Map<ElementSchema, ElementCheck>();
function compile(schema: ElementSchema): ElementCheck {
  let check = compiled.get(schema);
  if (check) return check;
  const checks: FieldCheck[] = [];
  const lines: string[] = ['let v, p;'];
  const field = (key: string, fieldCheck: FieldCheck, required: boolean) => {
    const name = JSON.stringify(key);
    checks.push(fieldCheck);
    lines.push(`v = o[${name}];`);
    lines.push(required ? `if (v === undefined) return at(${name}, 'missing');` : 'if (v !== undefined) {');
    lines.push(`p = c[${checks.length - 1}](v, o); if (p !== undefined) return at(${name}, p);`);
    if (!required) lines.push('}');
  };
  for (const [key, fieldCheck] of Object.entries(schema.required)) field(key, fieldCheck, true);
  for (const [key, fieldCheck] of Object.entries(schema.optional)) field(key, fieldCheck, false);
  lines.push('return undefined;');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const build = new Function('c', 'at', `return function check(o) { ${lines.join('\n')} };`) as (c: FieldCheck[], at: typeof problemAt) => ElementCheck;
  check = build(checks, problemAt);
  compiled.set(schema, check);
  return check;
}

/** The first problem of one element as a path suffix and text (".gateway: 'banana' is not ..."), or undefined. */
function elementProblem(element: unknown, schema: ElementSchema): string | undefined {
  if (typeof element !== 'object' || element === null || Array.isArray(element)) return `: ${show(element)} is not an object`;
  return compile(schema)(element as Record<string, unknown>);
}

/** A nested list's problem already starts with its index ("[1].gateway: ..."). */
function problemAt(key: string, problem: string): string {
  return problem.startsWith('[') ? `.${key}${problem}` : `.${key}: ${problem}`;
}

function sysctlsProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `sysctls: ${show(value)} is not an object`;
  for (const [key, entry] of Object.entries(value)) {
    if (key === 'interfaces') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `sysctls.interfaces: ${show(entry)} is not an object`;
      for (const [name, values] of Object.entries(entry)) {
        if (typeof values !== 'object' || values === null || Array.isArray(values)) return `sysctls.interfaces.${name}: ${show(values)} is not an object`;
        for (const [setting, number] of Object.entries(values)) {
          if (!Number.isInteger(number)) return `sysctls.interfaces.${name}.${setting}: ${show(number)} is not a whole number`;
        }
      }
    } else if (entry !== undefined && !Number.isInteger(entry)) {
      return `sysctls.${key}: ${show(entry)} is not a whole number`;
    }
  }
  return undefined;
}

/** The parsed JSON of a snapshot file as a Snapshot, or an InputError naming `where` and the first bad value's path. */
export function validateSnapshot(data: unknown, where: string): Snapshot {
  const refuse = (problem: string) => new InputError(`--snapshot: ${where}: ${problem}`, 'the file was edited or damaged: write it again with `netmend snapshot --out FILE`');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InputError(`--snapshot: ${where} is not a netmend snapshot (expected an object)`);
  const object = data as Record<string, unknown>;
  const sections = SECTIONS_BY_VERSION[object.version as number];
  if (!sections) throw new InputError(`--snapshot: ${where} has version ${JSON.stringify(object.version)}, expected ${Object.keys(SECTIONS_BY_VERSION).join(' or ')}`);
  for (const key of ['host', 'takenAt']) {
    if (typeof object[key] !== 'string') throw refuse(`${key}: ${object[key] === undefined ? 'missing' : `${show(object[key])} is not a string`}`);
  }
  for (const key of sections) {
    const list = object[key];
    if (!Array.isArray(list)) throw new InputError(`--snapshot: ${where} has no "${key}" array`);
    const schema = SECTIONS[key];
    for (let i = 0; i < list.length; i++) {
      const problem = elementProblem(list[i], schema);
      if (problem) throw refuse(`${key}[${i}]${problem}`);
    }
  }
  if (object.sysctls === undefined || object.sysctls === null) object.sysctls = { interfaces: {} };
  const sysctls = sysctlsProblem(object.sysctls);
  if (sysctls) throw refuse(sysctls);
  if ((object.sysctls as Record<string, unknown>).interfaces === undefined) (object.sysctls as Record<string, unknown>).interfaces = {};
  // Version 1 predates the firewall: its absence then means "unknown", never "no rules".
  if (object.version === 1) delete object.firewall;
  else if (object.firewall !== undefined) object.firewall = validateFirewall(object.firewall, where);
  return { ...(object as unknown as Snapshot), source: 'file' };
}
