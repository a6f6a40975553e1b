/** The one definition of `netmend snapshot`'s flags, for oclif and for the fast path. */
import { stateFlagSpec, type FlagSpecs } from '../cli/flag-spec.js';

export const snapshotOwnFlagSpec = {
  out: { type: 'string', char: 'o', description: 'write to FILE (atomically) instead of stdout' },
} as const satisfies FlagSpecs;

export const snapshotFlagSpec = { ...snapshotOwnFlagSpec, ...stateFlagSpec } as const satisfies FlagSpecs;
