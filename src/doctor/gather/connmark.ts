/**
 * tailscaled's connmark rules (netfilter mode on, v1.96+): mangle/OUTPUT saves its bypass mark
 * (0x80000/0xff0000) into the connection for new connections, mangle/PREROUTING restores it on
 * replies. With net.ipv4.conf.all.src_valid_mark=1 the reverse-path check then routes the reply's
 * source with that mark, through main, so strict rp_filter accepts replies to tailscaled's own
 * connections even while an exit node owns the default route. Only these two rules are read
 * (`iptables-save -t mangle`, or `nft list table ip mangle` where iptables is absent), not the
 * whole firewall.
 */
import type { CommandRunner } from '../../system/exec.js';
import type { HostState } from '../types.js';

export const CONNMARK_GATHERER = 'connmark';

export interface ConnmarkFacts {
  /** PREROUTING rules restoring the connection mark into the packet mark, as the tool prints them. */
  restore: string[];
  /** OUTPUT rules saving the packet mark into the connection. */
  save: string[];
  /** The command the rules came from. */
  source: string;
}

const IPTABLES_RESTORE = /^-A PREROUTING .*-j CONNMARK --restore-mark/;
const IPTABLES_SAVE = /^-A OUTPUT .*-j CONNMARK --save-mark/;

/** Rules of `iptables-save -t mangle` output that restore and save the mark. */
export function connmarkFromIptablesSave(text: string, source: string): ConnmarkFacts {
  const lines = text.split('\n').map((line) => line.trim());
  return { restore: lines.filter((line) => IPTABLES_RESTORE.test(line)), save: lines.filter((line) => IPTABLES_SAVE.test(line)), source };
}

/** The same from `nft list table ip mangle`: `meta mark set ct mark` in a prerouting hook, `ct mark set meta mark` in an output hook. */
export function connmarkFromNft(text: string, source: string): ConnmarkFacts {
  const facts: ConnmarkFacts = { restore: [], save: [], source };
  let hook = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const declared = /type \w+ hook (\w+)/.exec(line)?.[1];
    if (declared) hook = declared;
    if (hook === 'prerouting' && /meta mark set ct mark/.test(line)) facts.restore.push(line);
    if (hook === 'output' && /ct mark set meta mark/.test(line)) facts.save.push(line);
  }
  return facts;
}

export async function gatherConnmark(state: HostState, runner: CommandRunner | undefined): Promise<void> {
  // Only strict reverse-path filtering makes the rules matter: no process is started otherwise.
  const { interfaces } = state.snapshot.sysctls;
  if (!Object.values(interfaces).some((entry) => entry.rpFilter === 1)) return;
  if (!runner) {
    state.gatherErrors[CONNMARK_GATHERER] = 'firewall rules are not part of a saved snapshot';
    return;
  }
  const attempts: Array<[string, string[], typeof connmarkFromNft]> = [
    ['iptables-save', ['-t', 'mangle'], connmarkFromIptablesSave],
    ['nft', ['list', 'table', 'ip', 'mangle'], connmarkFromNft],
  ];
  const failures: string[] = [];
  for (const [file, args, parse] of attempts) {
    try {
      const result = await runner.run(file, args, { allowFailure: true, timeoutMs: 5000 });
      if (result.exitCode === 0) {
        const facts = parse(result.stdout, result.command);
        // iptables-nft lists only its own tables: an empty answer lets nft have a look too.
        if (facts.restore.length || facts.save.length || file === 'nft') {
          state.facts[CONNMARK_GATHERER] = facts;
          return;
        }
        state.facts[CONNMARK_GATHERER] = facts;
        continue;
      }
      failures.push(`\`${result.command}\`: ${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}`);
    } catch (error) {
      failures.push(`${file}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (!state.facts[CONNMARK_GATHERER]) state.gatherErrors[CONNMARK_GATHERER] = `the mangle table could not be read (${failures.join('; ')})`;
}

export function connmarkOf(state: HostState): ConnmarkFacts | string {
  return (state.facts[CONNMARK_GATHERER] as ConnmarkFacts | undefined) ?? state.gatherErrors[CONNMARK_GATHERER] ?? 'the mangle table was not read';
}
