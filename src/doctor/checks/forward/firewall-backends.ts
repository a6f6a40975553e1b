/**
 * Two firewalls at once: iptables-legacy rules and nftables rules (native or iptables-nft) both
 * hook the same packets, and each tool lists only its own half, so a drop in one is invisible to
 * whoever reads the other. Also: chains a removed mesh daemon left behind (tailscaled's ts-*,
 * wg-quick's per-interface table) with no tunnel of that daemon on the host.
 */
import { isIptablesNftTable, rulesetOf } from '../../../netfilter/ruleset.js';
import type { NftTable } from '../../../netfilter/types.js';
import { FIREWALL_GATHERER } from '../../gather/firewall.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';

function ruleCount(table: NftTable): number {
  let count = 0;
  for (const chain of table.chains.values()) count += chain.rules.length;
  return count;
}

function tableName(table: NftTable): string {
  return `${table.origin === 'iptables-legacy' ? 'iptables-legacy ' : ''}${table.family} ${table.name}`;
}

/** Interface names a rule matches: nft's iifname/oifname, iptables-save's -i/-o. */
function interfacesIn(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/\b[io]ifname (?:!= )?"([^"]+)"/g)) names.push(match[1]);
  for (const match of text.matchAll(/(?:^|\s)-[io] (\S+)/g)) names.push(match[1]);
  return names;
}

/** The commands that take a leftover chain out: the jumps to it, its rules, the chain. */
function chainCleanup(table: NftTable, chain: string): string[] {
  const jumpers = [...table.chains.values()].filter((other) => other.rules.some((rule) => new RegExp(`(?:jump|-j) ${chain}(?:\\s|$)`).test(rule.text)));
  if (table.origin === 'iptables-legacy' || isIptablesNftTable(table)) {
    const tool = `${table.family === 'ip6' ? 'ip6tables' : 'iptables'}${table.origin === 'iptables-legacy' ? '-legacy' : ''} -t ${table.name}`;
    return [...jumpers.map((from) => `${tool} -D ${from.name} -j ${chain}`), `${tool} -F ${chain}`, `${tool} -X ${chain}`];
  }
  return [`nft flush chain ${table.family} ${table.name} ${chain}`, ...jumpers.map((from) => `nft delete rule ${table.family} ${table.name} ${from.name} handle ${from.rules.find((rule) => new RegExp(`jump ${chain}(?:\\s|$)`).test(rule.text))!.handle}`), `nft delete chain ${table.family} ${table.name} ${chain}`];
}

const check: Check = {
  id: 'forward.firewall-backends',
  topic: 'forward',
  title: 'iptables-legacy and nftables both active, or rules left by a removed mesh daemon',
  needs: [FIREWALL_GATHERER],
  run(state): CheckResult {
    const firewall = state.snapshot.firewall;
    if (!firewall) return skip(check, state.gatherErrors[FIREWALL_GATHERER] ?? 'firewall unknown (snapshot without firewall)');
    const ruleset = rulesetOf(firewall);
    const links = new Set(state.snapshot.links.map((link) => link.name));
    const problems: Array<{ summary: string; evidence: string[]; fix?: { command: string; explanation: string } }> = [];

    const legacy = ruleset.tables.filter((table) => table.origin === 'iptables-legacy' && ruleCount(table) > 0);
    const nft = ruleset.tables.filter((table) => table.origin === 'nftables' && ruleCount(table) > 0);
    if (legacy.length && nft.length) {
      problems.push({
        summary: `both iptables-legacy (${listSome(legacy.map(tableName))}) and nftables (${listSome(nft.map(tableName))}) hold rules: a packet must pass both, and each tool shows only its own half`,
        evidence: [
          ...legacy.map((table) => `iptables-legacy: table ${table.name} (IPv${table.family === 'ip6' ? 6 : 4}), ${ruleCount(table)} rules (iptables-legacy-save)`),
          ...nft.map((table) => `nftables: table ${table.family} ${table.name}, ${ruleCount(table)} rules (nft list ruleset)`),
        ],
        fix: {
          command: 'iptables-legacy-save > legacy.rules && iptables-restore-translate -f legacy.rules',
          explanation: 'move the legacy rules to nftables (or the other way round), then flush the legacy tables (`iptables-legacy -F`, `-t nat -F`); tell the mesh daemon which backend to use (TS_DEBUG_FIREWALL_MODE for tailscaled)',
        },
      });
    }

    // tailscaled's chains name its tunnel (tailscale0, or the --tun name it was given); they are
    // one set: ts-postrouting names no interface, but lives and dies with the others.
    const tsChains = ruleset.tables.flatMap((table) => [...table.chains.values()].filter((chain) => /^ts-(input|forward|postrouting)$/.test(chain.name)).map((chain) => ({ table, chain })));
    const tunnels = [...new Set(tsChains.flatMap(({ chain }) => chain.rules.flatMap((rule) => interfacesIn(rule.text))))].filter((name) => name !== 'lo');
    const tailscaleUp = tunnels.length ? tunnels.some((name) => links.has(name)) : [...links].some((name) => name.startsWith('tailscale'));
    const stale: string[] = [];
    const cleanup: string[] = [];
    if (!tailscaleUp) {
      for (const { table, chain } of tsChains) {
        stale.push(`${tableName(table)} chain ${chain.name} (${chain.rules.length} rules${tunnels.length ? `, for ${listSome(tunnels)}, which does not exist` : ''})`);
        cleanup.push(...chainCleanup(table, chain.name));
      }
    }
    for (const table of ruleset.tables) {
      const wgQuick = /^wg-quick-(.+)$/.exec(table.name);
      if (wgQuick && !links.has(wgQuick[1])) {
        stale.push(`${tableName(table)} (wg-quick's table for ${wgQuick[1]}, which does not exist)`);
        cleanup.push(`nft delete table ${table.family} ${table.name}`);
      }
    }
    if (stale.length) {
      problems.push({
        summary: `rules left by a mesh daemon that is gone: ${listSome(stale)}`,
        evidence: stale.map((line) => `stale: ${line}`),
        fix: {
          command: cleanup.join('; '),
          explanation: 'removes the jumps to the leftover chains, then the chains (`tailscaled --cleanup` does the same while tailscaled is still installed)',
        },
      });
    }
    if (problems.length === 0) {
      const backends = firewall.backends.length ? firewall.backends.join(' + ') : 'no rules';
      return pass(check, `one firewall backend in use (${backends}), no leftovers of a removed mesh daemon`);
    }
    const evidence = [...problems.flatMap((problem) => problem.evidence), ...firewall.notes.map((note) => `note: ${note}`)];
    return finding(check, 'warn', problems.map((problem) => problem.summary).join('; '), evidence, problems[0].fix);
  },
};

export default check;
