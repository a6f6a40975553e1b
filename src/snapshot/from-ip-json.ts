import type { CommandRunner } from '../system/exec.js';
import type { Snapshot } from './types.js';
export async function readIpJsonSnapshot(_runner: CommandRunner): Promise<Snapshot> { throw new Error('ip-json reader: not written yet'); }
