/**
 * Flags as plain data, so one definition feeds both oclif (src/cli/oclif-flags.ts) and the
 * oclif-free fast paths started from bin/run.js (node:util parseArgs), which must not import
 * @oclif/core.
 */
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
