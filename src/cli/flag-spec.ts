/**
 * Flags as plain data, so one definition feeds both oclif (src/cli/oclif-flags.ts) and the
 * oclif-free fast paths started from bin/run.js (node:util parseArgs), which must not import
 * @oclif/core.
 */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  type: 'string' | 'boolean';
  description: string;
  char?: string;
  options?: readonly string[];
  default?: string | boolean;
  helpGroup?: string;
  exclusive?: readonly string[];
  /** A string flag that may be given more than once. */
  multiple?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Flags shared by every command that reads routing state. */
export const stateFlagSpec = {
  snapshot: { type: 'string', description: 'analyse a saved snapshot (from `netmend snapshot --out`) instead of the live kernel', helpGroup: 'STATE', exclusive: ['ssh'] },
  ssh: { type: 'string', description: 'read the state of another host over ssh (user@host); runs `ip` there, analyses here', helpGroup: 'STATE' },
  source: { type: 'string', description: 'how to read the live state', options: ['auto', 'netlink', 'ip-json', 'ip-text'], default: 'auto', helpGroup: 'STATE' },
} as const satisfies FlagSpecs;

/** The global --debug flag of BaseCommand. */
export const debugFlagSpec = {
  debug: { type: 'boolean', description: 'print stack traces and debug detail on errors', default: false, helpGroup: 'GLOBAL' },
} as const satisfies FlagSpecs;

/** node:util parseArgs options for a set of flag specs. */
export function parseArgsOptions(specs: FlagSpecs): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type, ...(spec.char ? { short: spec.char } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  return options;
}

export interface FastParse {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses argv for an oclif-free fast path with the same specs oclif gets, or returns undefined
 * for anything oclif would judge differently (an unknown or repeated flag, a value outside a
 * flag's options, exclusive flags together, positionals where none are allowed): oclif then
 * runs the command and reports the problem, so both paths behave the same. Defaults are filled in.
 */
export function parseFast(argv: string[], specs: FlagSpecs, allowPositionals: boolean): FastParse | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: parseArgsOptions(specs), allowPositionals, strict: true, tokens: true });
  } catch {
    return undefined;
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name) && !specs[token.name].multiple) return undefined;
    seen.add(token.name);
  }
  const values = parsed.values as FastParse['values'];
  for (const [name, spec] of Object.entries(specs)) {
    const value = values[name];
    if (value === undefined) {
      if (spec.default !== undefined) values[name] = spec.default;
      continue;
    }
    if (spec.options && !spec.options.includes(value as string)) return undefined;
    if (spec.exclusive?.some((other) => values[other] !== undefined && specs[other]?.default === undefined)) return undefined;
  }
  return { values, positionals: parsed.positionals };
}
