/** `netmend fix dns` end to end: the shared fix flow, then DNS verification with rollback. */
import { runFix, FixFailedError } from '../apply.js';
import type { FixFlagValues } from '../flags.js';
import { latestUndoable, undoEntry } from '../journal.js';
import { localRunner } from '../../system/exec.js';
import { readResolvFile } from '../../doctor/gather/dns.js';
import { classifyResolvOwner } from '../../dns/resolv-conf.js';
import { findResolverProcesses } from '../../dns/processes.js';
import { buildDnsPlan } from './plan.js';
import { verifyDns } from './verify.js';

export interface RunDnsFixOptions {
  flags: FixFlagValues;
  domains: string[];
  server: string;
  via: string;
  restoreResolvConf: boolean;
  iface: string;
  pidFile?: string;
  names: string[];
  timeoutMs: number;
  print: (line: string) => void;
}

export async function runDnsFix(options: RunDnsFixOptions): Promise<void> {
  const { flags, print } = options;
  const root = flags.root;
  const before = latestUndoable(root)?.id;
  let reloadsResolver = false;
  await runFix(flags, async (context) => {
    const plan = await buildDnsPlan(context, {
      domains: options.domains, server: options.server, via: options.via, restoreResolvConf: options.restoreResolvConf,
      iface: options.iface, pidFile: options.pidFile, self: [process.execPath, process.argv[1]],
    });
    reloadsResolver = (plan.method === 'dnsmasq' || plan.method === 'unbound') && plan.reloads.length > 0;
    return plan;
  }, { print });

  const entry = latestUndoable(root);
  const applied = (flags.apply || flags.yes) && entry !== undefined && entry.id !== before && entry.fix === 'dns';
  if (!applied) return;
  if (!reloadsResolver || !flags.live) {
    print('');
    print('verification skipped: no running resolver was reloaded (run `netmend doctor dns` once it has restarted)');
    return;
  }
  const resolv = readResolvFile(root);
  const owner = classifyResolvOwner(resolv.file, resolv.parsed, findResolverProcesses());
  const checkIds = owner.kind === 'mesh-daemon' ? ['dns.rebind-protection'] : ['dns.clobbered', 'dns.split-domain', 'dns.rebind-protection'];
  const outcome = await verifyDns({ root, domains: options.domains, servers: [options.server], names: options.names, checkIds, timeoutMs: options.timeoutMs });
  print('');
  print('verification:');
  for (const line of outcome.report) print(`  ${line}`);
  if (!outcome.ok) {
    const report = await undoEntry(root, entry, localRunner, 'verification failed');
    for (const problem of report.problems) print(`rollback problem: ${problem}`);
    throw new FixFailedError(`fix dns did not remove the finding; rolled back (journal ${entry.id})`, 'see the evidence above');
  }
}
