import type { Snapshot } from './types.js';
export async function netlinkAvailable(): Promise<boolean> { return false; }
export async function readNetlinkSnapshot(): Promise<Snapshot> { throw new Error('netlink reader: not written yet'); }
