/** oclif flags built from the plain specs of src/cli/flag-spec.ts. */
import { Flags } from '@oclif/core';
import type { BooleanFlag, OptionFlag } from '@oclif/core/interfaces';
import type { FlagSpec, FlagSpecs } from './flag-spec.js';

function oclifFlag(spec: FlagSpec) {
  const common = {
    description: spec.description,
    helpGroup: spec.helpGroup,
    ...(spec.char ? { char: spec.char as 'a' } : {}),
    ...(spec.exclusive ? { exclusive: [...spec.exclusive] } : {}),
  };
  if (spec.type === 'boolean') return Flags.boolean({ ...common, default: spec.default === true });
  if (spec.multiple) return Flags.string({ ...common, multiple: true });
  return Flags.string({
    ...common,
    ...(spec.options ? { options: [...spec.options] } : {}),
    ...(typeof spec.default === 'string' ? { default: spec.default } : {}),
  });
}

export function oclifFlags<T extends FlagSpecs>(specs: T): { [K in keyof T]: T[K]['type'] extends 'boolean' ? BooleanFlag<boolean> : T[K]['multiple'] extends true ? OptionFlag<string[] | undefined> : T[K] extends { default: string } ? OptionFlag<string> : OptionFlag<string | undefined> } {
  const flags: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) flags[name] = oclifFlag(spec);
  return flags as never;
}
