/**
 * Fills a HostState: the snapshot always, plus the facts the selected checks need. All I/O of
 * the doctor happens in gatherers; a gatherer that cannot read something records why in
 * gatherErrors, and the checks depending on it skip with that reason.
 */
import { formatCommand, type CommandRunner, type RunResult } from '../../system/exec.js';
import type { Snapshot } from '../../snapshot/types.js';
import type { CheckOptions, HostState } from '../types.js';
import { localFiles, remoteFiles, type HostFiles } from './files.js';
import { CONNMARK_GATHERER, gatherConnmark } from './connmark.js';
import { DNS_GATHERER, gatherDnsInto } from './dns.js';
import { gatherNetworkd, NETWORKD_GATHERER } from './networkd.js';
import { gatherPlatform, PLATFORM_GATHERER } from './platform.js';
import { gatherTailscale, TAILSCALE_GATHERER } from './tailscale.js';
import { gatherMeshTailscale, MESH_TAILSCALE_GATHERER } from './mesh-tailscale.js';
import { gatherStun, STUN_GATHERER } from './stun.js';
import { gatherWireguard, WIREGUARD_GATHERER } from './wireguard.js';
import { FIREWALL_GATHERER, gatherFirewall } from './firewall.js';

export interface GatherOptions {
  /** Gatherer names the selected checks need. */
  needs: Iterable<string>;
  /** Where config files are read ("/" for the host itself). */
  root?: string;
  /**
   * Runs commands on the diagnosed host: the local runner, an ssh runner, or undefined for a
   * saved snapshot (no live host to ask).
   */
  runner?: CommandRunner;
  /** Read files under `root` even without a runner (a saved snapshot plus an explicit --root). */
  filesWithoutRunner?: boolean;
  /** The run's check options, for gatherers that measure what the user named (--stun). */
  checkOptions?: CheckOptions;
}

export type Gatherer = (state: HostState, context: { files?: HostFiles; runner?: CommandRunner; root: string; options?: CheckOptions }) => Promise<void>;

/** Gatherers by name. Other topics register theirs here (one import and one entry). */
export const gatherers: Record<string, Gatherer> = {
  [NETWORKD_GATHERER]: (state, { files, runner }) => gatherNetworkd(state, files, runner),
  [TAILSCALE_GATHERER]: (state, { runner }) => gatherTailscale(state, runner),
  [DNS_GATHERER]: (state, { runner, root }) => gatherDnsInto(state, { runner, root }),
  [MESH_TAILSCALE_GATHERER]: (state, { runner, files }) => gatherMeshTailscale(state, runner, files),
  [WIREGUARD_GATHERER]: (state, { runner }) => gatherWireguard(state, runner),
  [STUN_GATHERER]: (state, { runner, options }) => gatherStun(state, runner, options?.stun ?? []),
  [PLATFORM_GATHERER]: (state, { files }) => gatherPlatform(state, files),
  [CONNMARK_GATHERER]: (state, { runner }) => gatherConnmark(state, runner),
  [FIREWALL_GATHERER]: (state, { runner }) => gatherFirewall(state, runner),
};

/**
 * Queries several gatherers ask: Tailscale's status feeds routes.*, mesh.* and the DNS name
 * probe, its prefs routes.* and mesh.*. Each runs once per doctor run; later askers share the
 * first call's result.
 */
const SHARED_QUERIES = new Set(['tailscale status --json', 'tailscale debug prefs']);

function sharingQueries(runner: CommandRunner): CommandRunner {
  const asked = new Map<string, Promise<RunResult>>();
  return {
    where: runner.where,
    run(file, args, options) {
      const key = formatCommand(file, args);
      // Only callers that read the exit code themselves may share: a throwing call would throw for all.
      if (!SHARED_QUERIES.has(key) || !options?.allowFailure) return runner.run(file, args, options);
      let result = asked.get(key);
      if (!result) asked.set(key, result = runner.run(file, args, options));
      return result;
    },
  };
}

export async function gatherHostState(snapshot: Snapshot, options: GatherOptions): Promise<HostState> {
  const state: HostState = { snapshot, facts: {}, gatherErrors: {} };
  const root = options.root ?? '/';
  const runner = options.runner && sharingQueries(options.runner);
  let files: HostFiles | undefined;
  if (runner && runner.where !== 'local') files = remoteFiles(runner, root);
  else if (runner || options.filesWithoutRunner) files = localFiles(root);
  await Promise.all([...new Set(options.needs)].map(async (name) => {
    const gatherer = gatherers[name];
    if (!gatherer) {
      state.gatherErrors[name] = `no gatherer named ${name}`;
      return;
    }
    try {
      await gatherer(state, { files, runner, root, options: options.checkOptions });
    } catch (error) {
      state.gatherErrors[name] = (error as Error).message.split('\n')[0];
    }
  }));
  return state;
}
