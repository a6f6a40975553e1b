/**
 * Reads the firewall of the host a runner reaches (local, or ssh): `nft -j list ruleset`, which
 * backends hold rules, iptables-nft-save where nft shows opaque xt expressions, and
 * iptables-legacy-save where legacy xtables tables exist (netfilter.md §6). Two commands in the
 * common case (nft, one sh probe); the save commands only when needed.
 */
import { CheckCouldNotRunError, InputError, NeedsRootError } from '../errors.js';
import { localRunner, SshRunner, sshOptionsFromEnv, type CommandRunner } from '../system/exec.js';
import type { FirewallBackend, FirewallState } from '../snapshot/firewall.js';
import type { Snapshot } from '../snapshot/types.js';

/** POSIX sh: the legacy table names of this network namespace, and which save tools exist. */
const PROBE_SCRIPT = [
  'for f in ip_tables_names ip6_tables_names; do printf "%s:" $f; tr "\\n" " " < /proc/net/$f 2>/dev/null; echo; done',
  'for t in iptables-legacy-save ip6tables-legacy-save iptables-nft-save ip6tables-nft-save iptables-save ip6tables-save; do command -v $t >/dev/null 2>&1 && echo "tool:$t"; done',
  'true',
].join('; ');

const IPTABLES_NFT_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

function hasXt(json: unknown): boolean {
  const list = (json as { nftables?: Array<Record<string, { expr?: unknown[] }>> })?.nftables ?? [];
  return list.some((item) => item.rule?.expr?.some((e) => typeof e === 'object' && e !== null && 'xt' in e));
}

/** Tables that look like iptables-nft's (ip/ip6 filter/nat/… holding upper-case built-in chains). */
function nftBackends(json: unknown): FirewallBackend[] {
  const list = (json as { nftables?: Array<Record<string, Record<string, unknown>>> })?.nftables ?? [];
  const tables = list.filter((item) => item.table).map((item) => item.table);
  if (!tables.length) return [];
  const chains = list.filter((item) => item.chain).map((item) => item.chain);
  const isIptablesNft = (table: Record<string, unknown>) => (table.family === 'ip' || table.family === 'ip6') && IPTABLES_NFT_TABLES.has(String(table.name))
    && chains.some((chain) => chain.table === table.name && chain.family === table.family && /^[A-Z]+$/.test(String(chain.name)));
  const out: FirewallBackend[] = [];
  if (tables.some((table) => !isIptablesNft(table))) out.push('nftables');
  if (tables.some(isIptablesNft)) out.push('iptables-nft');
  return out;
}

async function save(runner: CommandRunner, tools: Set<string>, candidates: string[]): Promise<string | undefined> {
  for (const tool of candidates) {
    if (!tools.has(tool)) continue;
    const result = await runner.run(tool, [], { allowFailure: true });
    if (result.exitCode === 0) return result.stdout;
  }
  return undefined;
}

export async function readFirewall(runner: CommandRunner): Promise<FirewallState> {
  const notes: string[] = [];
  let nftables: unknown = null;
  const [listed, probe] = await Promise.all([
    runner.run('nft', ['-j', 'list', 'ruleset'], { allowFailure: true, timeoutMs: 120_000 }).catch((error: unknown) => {
      if (error instanceof CheckCouldNotRunError && !(error instanceof InputError)) return { exitCode: 127, stdout: '', stderr: error.message, command: 'nft' };
      throw error;
    }),
    runner.run('sh', ['-c', PROBE_SCRIPT], { allowFailure: true }),
  ]);
  if (listed.exitCode === 0) {
    try {
      nftables = listed.stdout.trim() ? JSON.parse(listed.stdout) : { nftables: [] };
    } catch (error) {
      throw new InputError(`\`nft -j list ruleset\` on ${runner.where} printed something that is not JSON: ${(error as Error).message}`);
    }
  } else if (/Operation not permitted|Permission denied/i.test(listed.stderr)) {
    throw new NeedsRootError('reading the firewall (`nft list ruleset`)');
  } else {
    notes.push(listed.exitCode === 127 ? 'nft is not installed: nftables rules unknown' : `nft -j list ruleset failed: ${listed.stderr.trim().split('\n')[0]}`);
  }
  const lines = probe.stdout.split('\n');
  const names = (prefix: string) => (lines.find((line) => line.startsWith(`${prefix}:`)) ?? '').slice(prefix.length + 1).trim().split(/\s+/).filter(Boolean);
  const tools = new Set(lines.filter((line) => line.startsWith('tool:')).map((line) => line.slice(5)));
  const legacy4 = names('ip_tables_names');
  const legacy6 = names('ip6_tables_names');
  const backends = nftables ? nftBackends(nftables) : [];
  const state: FirewallState = { nftables, backends, notes };
  if (legacy4.length || legacy6.length) {
    const ipv4 = legacy4.length ? await save(runner, tools, ['iptables-legacy-save', 'iptables-save']) : undefined;
    const ipv6 = legacy6.length ? await save(runner, tools, ['ip6tables-legacy-save', 'ip6tables-save']) : undefined;
    state.iptablesLegacy = { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) };
    if (ipv4 === undefined && legacy4.length) notes.push(`legacy iptables tables exist (${legacy4.join(', ')}) but iptables-legacy-save is missing: those rules are unknown`);
    const hasRules = (text?: string) => !!text && /^-A /m.test(text);
    if (hasRules(ipv4) || hasRules(ipv6)) backends.push('iptables-legacy');
  }
  if (nftables && hasXt(nftables)) {
    const ipv4 = await save(runner, tools, ['iptables-nft-save', 'iptables-save']);
    const ipv6 = await save(runner, tools, ['ip6tables-nft-save', 'ip6tables-save']);
    state.iptablesNft = { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) };
    if (ipv4 === undefined && ipv6 === undefined) notes.push('rules carry iptables-nft xt expressions but iptables-nft-save is missing: those rules are unknown');
  }
  if (backends.includes('iptables-legacy') && (backends.includes('nftables') || backends.includes('iptables-nft'))) {
    notes.push('both nftables and iptables-legacy hold rules: a packet must pass both, and `nft list ruleset` shows only one of them');
  }
  if (!nftables && !state.iptablesLegacy) notes.push('neither nftables nor iptables-legacy could be read: the host may have no firewall tools (busybox)');
  return state;
}

/**
 * Adds the firewall to a snapshot read from a live host (local, or over ssh as `ssh` says); a
 * snapshot read from a file keeps what the file holds.
 */
export async function attachFirewall(snapshot: Snapshot, options: { snapshotFile?: string; ssh?: string }): Promise<void> {
  if (options.snapshotFile) return;
  const runner = options.ssh ? new SshRunner(options.ssh, sshOptionsFromEnv()) : localRunner;
  snapshot.firewall = await readFirewall(runner);
}
