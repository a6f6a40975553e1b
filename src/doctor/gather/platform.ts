/**
 * The few facts about the host's distribution that decide which command a fix names: OpenWrt
 * restarts services through /etc/init.d, everything else here through systemd.
 */
import type { HostState } from '../types.js';
import type { HostFiles } from './files.js';

export const PLATFORM_GATHERER = 'platform';

export interface PlatformFacts {
  openwrt: boolean;
}

export async function gatherPlatform(state: HostState, files: HostFiles | undefined): Promise<void> {
  if (!files) {
    state.gatherErrors[PLATFORM_GATHERER] = 'the host\'s files are not part of a saved snapshot';
    return;
  }
  state.facts[PLATFORM_GATHERER] = { openwrt: await files.exists('/etc/openwrt_release') } satisfies PlatformFacts;
}

/** The platform facts, when they could be read. */
export function platformOf(state: HostState): PlatformFacts | undefined {
  return state.facts[PLATFORM_GATHERER] as PlatformFacts | undefined;
}
