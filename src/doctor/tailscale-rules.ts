/**
 * Where tailscaled puts its policy rules on Linux, and where a rule of ours must go to act
 * before them. tailscaled installs its rules once, when it starts (wgengine/router/osrouter,
 * `Up`): at base 5200 (5210 bypass main, 5230 bypass default, 5250 bypass unreachable,
 * 5270 lookup 52), or at base 1300 on OpenWrt when /etc/config/mwan3 exists and an IPv4 rule at
 * 2001-2004 carries a mark (mwan3's own), so that mwan3's mark rules do not swallow its packets.
 * It re-adds a deleted rule only while it runs and notices the deletion; `tailscale down` and
 * `up` do not reinstall them, a restart of the daemon does.
 */
import type { Rule } from '../snapshot/types.js';

export const TAILSCALE_RULE_BASE = 5200;
export const TAILSCALE_MWAN3_RULE_BASE = 1300;
/** Offset of `lookup 52` from the base: 5270, 1370. */
const LOOKUP_OFFSET = 70;

/** The priority of tailscaled's `lookup 52` rule for a rule base. */
export function tailscaleLookupPriority(mwan3: boolean): number {
  return (mwan3 ? TAILSCALE_MWAN3_RULE_BASE : TAILSCALE_RULE_BASE) + LOOKUP_OFFSET;
}

/**
 * Where a `to LAN lookup main` rule belongs: just ahead of the mesh's lookup rule, in the gap
 * tailscaled leaves below its own block for administrators (5205 for 5270, 1305 for 1370), or
 * one below any other mesh rule.
 */
export function bypassPriorityAhead(meshLookupPriority: number): number {
  return meshLookupPriority % 100 === LOOKUP_OFFSET ? meshLookupPriority - 65 : Math.max(1, meshLookupPriority - 1);
}

const TAILSCALE_MARK = 0x80000;
const TAILSCALE_MASK = 0xff0000;

/**
 * The mark the mesh daemon puts on its own packets, read from its bypass rules: UniFi's
 * `not fwmark M lookup 52`, or the usual `fwmark M lookup main`; Tailscale's 0x80000/0xff0000
 * when neither is there.
 */
export function bypassMark(rules: readonly Rule[], meshTable = 52): { mark: number; mask?: number } {
  const inverted = rules.find((rule) => rule.not && rule.fwmark !== undefined && rule.action === 'lookup' && rule.table === meshTable);
  if (inverted) return { mark: inverted.fwmark!, mask: inverted.fwmask };
  const bypass = rules.find((rule) => !rule.not && rule.fwmark !== undefined && rule.action === 'lookup' && rule.table === 254);
  if (bypass) return { mark: bypass.fwmark!, mask: bypass.fwmask };
  return { mark: TAILSCALE_MARK, mask: TAILSCALE_MASK };
}

/** The command that restarts tailscaled, which is what reinstalls its rules. */
export function tailscaleRestartCommand(openwrt: boolean | undefined): string {
  return openwrt ? '/etc/init.d/tailscale restart' : 'systemctl restart tailscaled';
}
