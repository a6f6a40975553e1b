/** The one definition of `netmend route explain`'s flags, for oclif and for the fast path. */
import { stateFlagSpec, type FlagSpecs } from '../cli/flag-spec.js';

export const explainOwnFlagSpec = {
  from: { type: 'string', description: 'source address of the packet (`ip route get ... from`)' },
  iif: { type: 'string', description: 'incoming interface: simulate a forwarded packet (`ip route get ... iif`)' },
  mark: { type: 'string', description: 'firewall mark, decimal or 0x hex (`ip route get ... mark`)' },
  json: { type: 'boolean', description: 'print the decision as JSON', default: false },
} as const satisfies FlagSpecs;

export const explainFlagSpec = { ...explainOwnFlagSpec, ...stateFlagSpec } as const satisfies FlagSpecs;

export const explainSummary = 'Explain the kernel\'s routing decision for a destination, rule by rule';
