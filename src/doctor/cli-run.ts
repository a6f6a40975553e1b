/**
 * What `netmend doctor` and `netmend doctor <topic>` do once their flags are parsed: read the
 * state, gather what the checks need, run them, render, choose the exit code. Shared by the
 * oclif commands and the oclif-free fast path, so it must not import @oclif/core.
 */
import type { StateFlagValues } from '../cli/state-flags.js';
import { localRunner, SshRunner, sshOptionsFromEnv, type CommandRunner } from '../system/exec.js';
import type { FailOn } from './run.js';
import type { CheckOptions, DoctorTopic } from './types.js';

export interface DoctorFlagValues extends StateFlagValues {
  json: boolean;
  check?: string[];
  'list-checks': boolean;
  iface?: string[];
  root?: string;
  'fail-on': string;
  domain?: string[];
  name?: string[];
  stun?: string[];
}

export interface DoctorOutput {
  stdout: string;
  exitCode: number;
}

function listChecks(topics: readonly DoctorTopic[], json: boolean, checks: Array<{ id: string; topic: string; title: string }>): string {
  if (json) return `${JSON.stringify({ version: 1, topics, checks: checks.map(({ id, topic, title }) => ({ id, topic, title })) }, null, 2)}\n`;
  const width = Math.max(0, ...checks.map((check) => check.id.length));
  return `${checks.map((check) => `${check.id.padEnd(width)}  ${check.title}`).join('\n')}\n`;
}

/** Runs the doctor for `topics` (undefined: every registered topic) and returns what to print. */
export async function runDoctorCommand(topics: readonly DoctorTopic[] | undefined, flags: DoctorFlagValues): Promise<DoctorOutput> {
  const { selectChecks, runDoctor, exitCodeOf, neededGatherers } = await import('./run.js');
  const { topics: allTopics } = await import('./registry.js');
  const selectedTopics = topics ?? allTopics();
  const checks = selectChecks(selectedTopics, flags.check ?? []);
  if (flags['list-checks']) return { stdout: listChecks(selectedTopics, flags.json, checks), exitCode: 0 };

  const options: CheckOptions = { ifaces: flags.iface ?? [], domains: flags.domain?.length ? flags.domain : ['ts.net'], names: flags.name ?? [] };
  if (flags.stun?.length) {
    const { parseStunTarget } = await import('../net/stun.js');
    options.stun = flags.stun.map(parseStunTarget);
  }
  const { startProgress, useColour } = await import('../cli/terminal.js');
  const progress = flags.json ? undefined : await startProgress('reading routing state');
  try {
    const { readState } = await import('../snapshot/load.js');
    const { isMeshLink } = await import('./analysis.js');
    const ifaces = flags.iface ?? [];
    // The checks see plain gateway routes only through route lookups (doctor/simulate.ts), so a
    // live read leaves them undecoded: the bulk of a big table never becomes objects.
    const netlink = { plainGatewayRoutesApart: { keepLink: (link: import('../snapshot/types.js').Link) => isMeshLink(link, ifaces) } };
    const snapshot = await readState({ snapshotFile: flags.snapshot, ssh: flags.ssh, source: flags.source, netlink });
    const { requireInterfaces } = await import('../cli/validate.js');
    requireInterfaces(ifaces, snapshot.links.map((link) => link.name), '--iface', snapshot.host);
    let runner: CommandRunner | undefined;
    if (flags.ssh !== undefined) runner = new SshRunner(flags.ssh, sshOptionsFromEnv());
    else if (flags.snapshot === undefined) runner = localRunner;
    progress?.update('gathering host facts');
    const { gatherHostState } = await import('./gather/index.js');
    const state = await gatherHostState(snapshot, { needs: neededGatherers(checks), root: flags.root ?? '/', runner, filesWithoutRunner: flags.root !== undefined, checkOptions: options });
    const document = runDoctor({
      topics: selectedTopics,
      checkIds: flags.check ?? [],
      options,
      state,
      onCheck: (check) => progress?.update(`checking ${check.id}`),
    });
    progress?.stop();
    const exitCode = exitCodeOf(document, flags['fail-on'] as FailOn);
    if (flags.json) return { stdout: `${JSON.stringify(document, null, 2)}\n`, exitCode };
    const { renderDocument } = await import('./render.js');
    return { stdout: renderDocument(document, { colour: useColour(process.stdout) }), exitCode };
  } finally {
    progress?.stop();
  }
}
