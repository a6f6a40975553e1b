/**
 * `netmend doctor dns`: gather the DNS facts (files under --root, the live resolvers and
 * queries), run the dns.* checks and build the same document and exit code as every doctor
 * topic. Files that do not parse are bad input (exit 2) before any check runs.
 */
import { hostname } from 'node:os';
import { InputError } from '../errors.js';
import { dnsChecks } from '../doctor/checks/dns/index.js';
import { gatherDns, type DnsFacts } from '../doctor/gather/dns.js';
import { buildDocument, exitCodeOf, runCheck, type DoctorDocument, type FailOn } from '../doctor/run.js';
import type { Check, CheckOptions, CheckResult, HostState } from '../doctor/types.js';
import { SNAPSHOT_VERSION, type Snapshot } from '../snapshot/types.js';

export const DEFAULT_MESH_SERVERS = ['100.100.100.100'];

export interface DnsDoctorOptions {
  root: string;
  domains: string[];
  names: string[];
  servers: string[];
  timeoutMs: number;
  checkIds: string[];
}

/** A HostState holding only DNS facts: the dns checks never look at routes. */
export function dnsHostState(facts: DnsFacts): HostState {
  const snapshot: Snapshot = { version: SNAPSHOT_VERSION, host: hostname(), takenAt: new Date().toISOString(), source: 'file', links: [], addresses: [], routes: [], rules: [], sysctls: { interfaces: {} } };
  return { snapshot, facts: { dns: facts }, gatherErrors: {} };
}

export function selectDnsChecks(ids: string[]): Check[] {
  if (ids.length === 0) return [...dnsChecks];
  return ids.map((id) => {
    const check = dnsChecks.find((candidate) => candidate.id === id);
    if (!check) throw new InputError(`--check: unknown check id '${id}'`, `known ids: ${dnsChecks.map((c) => c.id).join(', ')}`);
    return check;
  });
}

export function runDnsChecks(facts: DnsFacts, checks: readonly Check[], options: CheckOptions): CheckResult[] {
  const state = dnsHostState(facts);
  return checks.map((check) => runCheck(check, state, options));
}

export async function runDnsDoctor(options: DnsDoctorOptions): Promise<{ document: DoctorDocument; facts: DnsFacts }> {
  const checks = selectDnsChecks(options.checkIds);
  const facts = await gatherDns({ root: options.root, domains: options.domains, servers: options.servers, names: options.names, timeoutMs: options.timeoutMs });
  const results = runDnsChecks(facts, checks, { ifaces: [], domains: options.domains, names: facts.names });
  return { document: buildDocument(hostname(), results), facts };
}

export { exitCodeOf, type FailOn };
