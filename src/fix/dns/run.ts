/**
 * `netmend fix dns` end to end: the shared fix flow, with DNS verification (queries through the
 * reloaded resolver) as the plan's verifyAsync, so a failed check rolls the fix back like any other.
 */
import { runFix } from '../apply.js';
import type { FixFlagValues } from '../flags.js';
import { readResolvFile } from '../../doctor/gather/dns.js';
import { classifyResolvOwner } from '../../dns/resolv-conf.js';
import { findResolverProcesses } from '../../dns/processes.js';
import { buildDnsPlan, type DnsFixOptions } from './plan.js';
import { verifyDns } from './verify.js';

/** The plan's options (netmend's own command line aside) plus what verifying and printing need. */
export interface RunDnsFixOptions extends Omit<DnsFixOptions, 'self'> {
  flags: FixFlagValues;
  names: string[];
  timeoutMs: number;
  print: (line: string) => void;
}

export async function runDnsFix(options: RunDnsFixOptions): Promise<void> {
  const { flags, print, names, timeoutMs, ...planOptions } = options;
  const root = flags.root;
  await runFix(flags, async (context) => {
    const plan = await buildDnsPlan(context, { ...planOptions, self: [process.execPath, process.argv[1]] });
    const reloadsResolver = (plan.method === 'dnsmasq' || plan.method === 'unbound') && plan.reloads.length > 0;
    if (!reloadsResolver) {
      plan.warnings.push('no running resolver is reloaded here, so the result is not verified: run `netmend doctor dns` once it has reloaded');
      return plan;
    }
    plan.verifyAsync = async (aborted) => {
      // resolv.conf as it is now: while the mesh daemon still owns it, only the resolver's own settings can be checked.
      const resolv = readResolvFile(root);
      const owner = classifyResolvOwner(resolv.file, resolv.parsed, findResolverProcesses());
      const checkIds = owner.kind === 'mesh-daemon' ? ['dns.rebind-protection'] : ['dns.clobbered', 'dns.split-domain', 'dns.rebind-protection'];
      const outcome = await verifyDns({ root, domains: options.domains, servers: [options.server], names, checkIds, timeoutMs, aborted });
      return { ok: outcome.ok, report: outcome.report };
    };
    return plan;
  }, { print });
}
