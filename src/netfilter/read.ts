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

const MARK = '@@netmend:';

/**
 * POSIX sh (busybox ash too) printing the firewall in sections, so reading it costs one command
 * (and, with the ip-text reader, rides on the same ssh login): `nft -j list ruleset`, the legacy
 * xtables table names of this network namespace and their iptables-legacy-save, and
 * iptables-nft-save when iptables-nft tables exist (their xt rules need it).
 */
export const FIREWALL_SCRIPT = [
  `echo '${MARK}nft'`,
  'if command -v nft >/dev/null 2>&1; then nft -j list ruleset 2>/dev/null; s=$?; else s=127; fi',
  `echo "${MARK}status $s"`,
  `if [ "$s" != 0 ] && [ "$s" != 127 ]; then echo '${MARK}nft-error'; nft list tables 2>&1 >/dev/null | head -n 1; fi`,
  `echo '${MARK}legacy-names'`,
  'for f in ip_tables_names ip6_tables_names; do printf "%s:" $f; tr "\\n" " " < /proc/net/$f 2>/dev/null; echo; done',
  'save() { if command -v "$1" >/dev/null 2>&1; then "$1" 2>/dev/null; elif command -v "$2" >/dev/null 2>&1; then "$2" 2>/dev/null; fi; }',
  `if grep -q . /proc/net/ip_tables_names 2>/dev/null; then echo '${MARK}legacy4'; save iptables-legacy-save iptables-save; fi`,
  `if grep -q . /proc/net/ip6_tables_names 2>/dev/null; then echo '${MARK}legacy6'; save ip6tables-legacy-save ip6tables-save; fi`,
  // `nft list tables` fetches every set element first (0.5 s with a 100,000-element set, nft
  // 1.0.6); `nft list chains` names the tables too and reads no elements (5 ms).
  'if nft list chains 2>/dev/null | grep -qE "^table ip6? (filter|nat|mangle|raw|security) [{]$"; then',
  `  echo '${MARK}xt4'; save iptables-nft-save iptables-save; echo '${MARK}xt6'; save ip6tables-nft-save ip6tables-save`,
  'fi',
  `echo '${MARK}firewall-end'`,
].join('\n');

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

/** The firewall from FIREWALL_SCRIPT's sections (`splitSections` of the ip-text reader). */
export function firewallFromSections(sections: ReadonlyMap<string, { text: string; status?: number }>, where: string): FirewallState {
  const notes: string[] = [];
  let nftables: unknown = null;
  const nft = sections.get('nft');
  if (!nft) throw new CheckCouldNotRunError(`reading the firewall on ${where}: the collection script stopped early`);
  if (nft.status === 0) {
    try {
      nftables = nft.text.trim() ? JSON.parse(nft.text) : { nftables: [] };
    } catch (error) {
      throw new InputError(`\`nft -j list ruleset\` on ${where} printed something that is not JSON: ${(error as Error).message}`);
    }
  } else {
    const why = sections.get('nft-error')?.text.trim() ?? '';
    if (/Operation not permitted|Permission denied/i.test(why)) throw new NeedsRootError('reading the firewall (`nft list ruleset`)');
    notes.push(nft.status === 127 ? 'nft is not installed: nftables rules unknown' : `nft -j list ruleset failed: ${why || `exit code ${nft.status}`}`);
  }
  const names = (prefix: string) => ((sections.get('legacy-names')?.text ?? '').split('\n').find((line) => line.startsWith(`${prefix}:`)) ?? '')
    .slice(prefix.length + 1).trim().split(/\s+/).filter(Boolean);
  const legacy4 = names('ip_tables_names');
  const legacy6 = names('ip6_tables_names');
  const backends = nftables ? nftBackends(nftables) : [];
  const state: FirewallState = { nftables, backends, notes };
  const text = (name: string) => {
    const found = sections.get(name)?.text;
    return found && found.trim() ? `${found}\n` : undefined;
  };
  if (legacy4.length || legacy6.length) {
    const ipv4 = legacy4.length ? text('legacy4') : undefined;
    const ipv6 = legacy6.length ? text('legacy6') : undefined;
    state.iptablesLegacy = { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) };
    if (ipv4 === undefined && legacy4.length) notes.push(`legacy iptables tables exist (${legacy4.join(', ')}) but iptables-legacy-save is missing: those rules are unknown`);
    if ([ipv4, ipv6].some((save) => !!save && /^-A /m.test(save))) backends.push('iptables-legacy');
  }
  if (nftables && hasXt(nftables)) {
    const ipv4 = text('xt4');
    const ipv6 = text('xt6');
    state.iptablesNft = { ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) };
    if (ipv4 === undefined && ipv6 === undefined) notes.push('rules carry iptables-nft xt expressions but iptables-nft-save is missing: those rules are unknown');
  }
  if (backends.includes('iptables-legacy') && (backends.includes('nftables') || backends.includes('iptables-nft'))) {
    notes.push('both nftables and iptables-legacy hold rules: a packet must pass both, and `nft list ruleset` shows only one of them');
  }
  if (!nftables && !state.iptablesLegacy) notes.push('neither nftables nor iptables-legacy could be read: the host may have no firewall tools (busybox)');
  return state;
}

/** Reads the firewall of the host the runner reaches, in one command. */
export async function readFirewall(runner: CommandRunner): Promise<FirewallState> {
  const result = await runner.run('sh', ['-c', FIREWALL_SCRIPT], { allowFailure: true, timeoutMs: 120_000, direct: true });
  const { splitSections } = await import('../snapshot/from-ip-text.js');
  return firewallFromSections(splitSections(result.stdout), runner.where);
}

/**
 * Adds the firewall to a snapshot read from a live host (local, or over ssh as `ssh` says); a
 * snapshot read from a file keeps what the file holds.
 */
export async function attachFirewall(snapshot: Snapshot, options: { snapshotFile?: string; ssh?: string }): Promise<void> {
  // A file keeps what it holds; the ip-text reader over ssh already read it on the same login.
  if (options.snapshotFile || snapshot.firewall) return;
  const runner = options.ssh ? new SshRunner(options.ssh, sshOptionsFromEnv()) : localRunner;
  snapshot.firewall = await readFirewall(runner);
}
