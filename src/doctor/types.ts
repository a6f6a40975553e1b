/**
 * The doctor's contract. Gatherers do the I/O and fill a HostState; checks are pure functions
 * over it, one file per check, each with a stable id.
 */
import type { StunTarget } from '../net/stun.js';
import type { Snapshot } from '../snapshot/types.js';

/** `info`: a fact worth knowing that is working as its designer intended (never a finding). */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip' | 'error' | 'info';
export type DoctorTopic = 'routes' | 'dns' | 'mesh' | 'forward';

export interface FixSuggestion {
  /** The one command that removes the finding, e.g. `netmend fix link-local --iface tailscale0`. */
  command: string;
  explanation: string;
}

export interface CheckResult {
  id: string;
  status: CheckStatus;
  /** One line: what was found (or why the check was skipped). */
  summary: string;
  /** Evidence lines, as `ip` (or the file, or the resolver) shows them; empty when passing. */
  evidence: string[];
  fix?: FixSuggestion;
}

export interface CheckOptions {
  /** Tunnel interfaces the user named with --iface (unusual names). */
  ifaces: string[];
  /** Mesh DNS domains (`--domain`), default ts.net. */
  domains: string[];
  /** A mesh name to resolve (`--name`). */
  names: string[];
  /** STUN servers for the NAT mapping test (`--stun`). */
  stun?: StunTarget[];
}

/**
 * Everything the checks may look at. The routing snapshot always; the rest is filled by the
 * gatherer of the topic that needs it, and is undefined when it could not be read (the check then
 * reports skip or error with the reason in `gatherErrors`).
 */
export interface HostState {
  snapshot: Snapshot;
  /** Facts for other topics, keyed by gatherer name ('networkd', 'tailscale', 'dns', ...). */
  facts: Record<string, unknown>;
  /** Gatherer name -> why it could not run. */
  gatherErrors: Record<string, string>;
}

export interface Check {
  id: string;
  topic: DoctorTopic;
  title: string;
  /** Gatherers (by name) this check needs beyond the snapshot. */
  needs?: string[];
  run(state: HostState, options: CheckOptions): CheckResult;
}
