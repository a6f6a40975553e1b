/** Flags shared by every command that reads routing state. */
import { Flags } from '@oclif/core';

export const stateFlags = {
  snapshot: Flags.string({ description: 'analyse a saved snapshot (from `netmend snapshot --out`) instead of the live kernel', helpGroup: 'STATE', exclusive: ['ssh'] }),
  ssh: Flags.string({ description: 'read the state of another host over ssh (user@host); runs `ip` there, analyses here', helpGroup: 'STATE' }),
  source: Flags.string({ description: 'how to read the live state', options: ['auto', 'netlink', 'ip-json', 'ip-text'], default: 'auto', helpGroup: 'STATE' }),
};

export interface StateFlagValues {
  snapshot?: string;
  ssh?: string;
  source?: string;
}
