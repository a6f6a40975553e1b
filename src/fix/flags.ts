/** Flags every `netmend fix NAME` command shares (spread them into the command's flags). */
import { Flags } from '@oclif/core';

export const fixFlags = {
  apply: Flags.boolean({ description: 'make the change (default: print the plan and change nothing)', default: false, helpGroup: 'FIX' }),
  yes: Flags.boolean({ char: 'y', description: 'same as --apply', default: false, helpGroup: 'FIX' }),
  root: Flags.string({ description: 'prefix for every file path, the journal included (tests, image preparation); live changes still go to the running kernel', default: '', helpGroup: 'FIX' }),
  force: Flags.boolean({ description: 'apply even when the SSH client would lose its route; link-local: accept a tunnel with an unusual name (never the default-route or SSH link)', default: false, helpGroup: 'FIX' }),
  'confirm-timeout': Flags.integer({ description: 'over SSH: seconds before live changes roll back unless `netmend fix confirm`', default: 60, min: 1, helpGroup: 'FIX' }),
  live: Flags.boolean({ description: 'also change the running system (--no-live: persistent configuration only)', default: true, allowNo: true, helpGroup: 'FIX' }),
  source: Flags.string({ description: 'how to read the live state', options: ['auto', 'netlink', 'ip-json', 'ip-text'], default: 'auto', helpGroup: 'STATE' }),
  snapshot: Flags.string({ description: 'plan against a saved snapshot (plan only; --apply reads the live kernel)', helpGroup: 'STATE' }),
};

/** The flag of the commands that only read or replay the journal (`fix list|undo|confirm`). */
export const journalRootFlag = {
  root: Flags.string({ description: 'prefix for every file path, the journal included', default: '' }),
};

export interface FixFlagValues {
  apply: boolean;
  yes: boolean;
  root: string;
  force: boolean;
  'confirm-timeout': number;
  live: boolean;
  source: string;
  snapshot?: string;
}
