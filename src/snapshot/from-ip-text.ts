import type { CommandRunner } from '../system/exec.js';
import type { Snapshot } from './types.js';
export async function readIpTextSnapshot(_runner: CommandRunner): Promise<Snapshot> { throw new Error('ip-text reader: not written yet'); }
