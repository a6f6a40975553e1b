/** Flags shared by every command that reads routing state (defined as data in flag-spec.ts). */
import { stateFlagSpec } from './flag-spec.js';
import { oclifFlags } from './oclif-flags.js';

export const stateFlags = oclifFlags(stateFlagSpec);

export interface StateFlagValues {
  snapshot?: string;
  ssh?: string;
  source?: string;
}
