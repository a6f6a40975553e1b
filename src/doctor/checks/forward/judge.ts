/**
 * The verdict on one LAN client's packet leaving through this router (to a mesh peer, a subnet, or
 * the internet through an exit node): where `path explain` says it ends, with which source, and
 * whether its reply comes back. Shared by forward.lan-to-mesh and forward.exit-node-lan.
 */
import { formatPrefix, type ParsedPrefix } from '../../../net/address.js';
import type { PathQuery } from '../../../path/simulate.js';
import type { FixSuggestion } from '../../types.js';
import { advertisedPrefix, explainCommand, isOwn, probe, replyReturned, story, uncertainOf, type ForwardInput, type Lan } from './inputs.js';

export interface Judgement {
  status: 'pass' | 'warn' | 'fail';
  summary: string;
  evidence: string[];
  fix?: FixSuggestion;
  /** For a pass: how the reply finds its way (masqueraded, advertised). */
  how?: string;
}

export interface OutboundOptions {
  /** "192.168.50.2 (lan0) → peer 10.9.0.2", for summaries. */
  what: string;
  lanPrefix: ParsedPrefix;
  /** Whether the packet left by the right interface (the tunnel). */
  wantDev: (dev: string) => boolean;
  /** An advertised LAN (Tailscale AdvertiseRoutes) may leave unmasqueraded. */
  advertisable: boolean;
  /** Names the failure when the packet leaves by another interface (the exit node's leak). */
  wrongDev?: (dev: string) => string;
}

export function fixCommand(lanDev: string, tunnel: string | undefined, masquerade: boolean): FixSuggestion {
  const args = ['netmend fix forwarding', '--lan', lanDev, ...(tunnel ? ['--tunnel', tunnel] : []), ...(masquerade ? ['--masquerade'] : [])];
  return {
    command: args.join(' '),
    explanation: `adds its own table (inet netmend; iptables chains NETMEND-*; on OpenWrt a firewall zone) accepting ${lanDev} → ${tunnel ?? 'the tunnel'} and the replies${masquerade ? `, masquerading on ${tunnel ?? 'the tunnel'}` : ''}; your own rules stay as they are`,
  };
}

export function judgeOutbound(input: ForwardInput, lan: Lan, query: PathQuery, options: OutboundOptions): Judgement {
  const result = probe(input.snapshot, query);
  const tunnel = [...input.view.meshIfaces][0];
  if (!result.explanation) return { status: 'pass', summary: `${options.what}: not simulated (${result.error})`, evidence: [] };
  const explanation = result.explanation;
  const evidence = [...story(explanation), `replay: ${explainCommand(query)}`];
  const proto = explanation.packet.protocol;
  const { verdict, dev, saddr } = explanation.result;
  const uncertain = uncertainOf(explanation);
  const fail = (summary: string, fix?: FixSuggestion): Judgement => ({ status: uncertain.length ? 'warn' : 'fail', summary: uncertain.length ? `${summary} (uncertain: ${uncertain[0]})` : summary, evidence, fix });

  if (verdict === 'dropped' || verdict === 'rejected') {
    const by = explanation.result.rule;
    const where = by ? `${by.family} ${by.table} ${by.chain}${by.handle === null ? ' policy' : ` rule ${by.handle}`}` : 'netfilter';
    return fail(`${options.what} (${proto}) is ${verdict} by ${where}`, fixCommand(lan.dev, tunnel, false));
  }
  if (verdict === 'no-route') return fail(`${options.what} (${proto}): no route on this router`);
  if (verdict === 'delivered') return fail(`${options.what} (${proto}) is delivered to the router itself, not forwarded`);
  if (!dev || !options.wantDev(dev)) return fail(options.wrongDev && dev ? options.wrongDev(dev) : `${options.what} (${proto}) leaves by ${dev ?? 'nowhere'}, not the tunnel`);

  let how: string;
  if (isOwn(input, saddr)) {
    how = `masqueraded to ${saddr} on ${dev}`;
  } else {
    const advertised = options.advertisable ? advertisedPrefix(input, options.lanPrefix) : undefined;
    const lanText = formatPrefix(options.lanPrefix);
    if (advertised) {
      how = `${lanText} advertised to the mesh (${advertised}), not masqueraded`;
    } else if (input.tailscale) {
      return fail(`${options.what} (${proto}) leaves ${dev} with source ${saddr}: not masqueraded and ${lanText} is not advertised (AdvertiseRoutes ${JSON.stringify(input.tailscale.prefs.AdvertiseRoutes ?? [])}), so the peer drops it`, fixCommand(lan.dev, dev, true));
    } else {
      return {
        status: 'warn',
        summary: `${options.what} (${proto}) leaves ${dev} with source ${saddr}, not masqueraded: a WireGuard peer drops it unless its AllowedIPs for this router include ${lanText} (and it routes ${lanText} back)`,
        evidence, fix: fixCommand(lan.dev, dev, true),
      };
    }
  }
  if (!replyReturned(explanation)) {
    const reply = explanation.reply;
    const why = reply ? `${reply.result.verdict}: ${reply.result.summary}` : 'no reply simulated';
    return fail(`${options.what} (${proto}) gets through, but the reply does not come back (${why})`, fixCommand(lan.dev, dev, false));
  }
  if (uncertain.length) return { status: 'warn', summary: `${options.what} (${proto}) seems to work but netmend cannot be sure: ${uncertain[0]}`, evidence };
  return { status: 'pass', summary: `${options.what} (${proto}) forwarded, ${how}`, evidence: [], how };
}

/** The first failure, else the first warning, else undefined (all passed). */
export function worst(judgements: Judgement[]): (Judgement & { status: 'warn' | 'fail' }) | undefined {
  const found = judgements.find((j) => j.status === 'fail') ?? judgements.find((j) => j.status === 'warn');
  return found as (Judgement & { status: 'warn' | 'fail' }) | undefined;
}
