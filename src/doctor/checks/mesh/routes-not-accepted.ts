/**
 * Peers advertise subnet routes that this node does not accept (--accept-routes is off, the
 * default on Linux), and the reverse danger: accepted routes that cover one of this host's own
 * LANs, which then answers its LAN clients through the tunnel (routes.subnet-shadows-lan).
 */
import { formatPrefix, parsePrefix, prefixesOverlap, type ParsedPrefix } from '../../../net/address.js';
import { peerName, peersOf, type TailscalePeer } from '../../../tailscale/json.js';
import { routingView } from '../../analysis.js';
import { MESH_TAILSCALE_GATHERER } from '../../gather/mesh-tailscale.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { isSkip, skipOlderClient, tailscaleInput } from './inputs.js';

/**
 * The subnets a peer routes for the tailnet: PrimaryRoutes, or on clients without it AllowedIPs
 * minus the peer's own addresses; exit routes (/0) are the exit-node check's business.
 * undefined: the status says nothing about this peer's routes.
 */
export function advertisedSubnets(peer: TailscalePeer): ParsedPrefix[] | undefined {
  let texts: string[];
  if (peer.PrimaryRoutes !== undefined) texts = peer.PrimaryRoutes ?? [];
  else if (peer.AllowedIPs !== undefined) {
    const own = new Set((peer.TailscaleIPs ?? []).flatMap((ip) => [`${ip}/32`, `${ip}/128`]));
    texts = (peer.AllowedIPs ?? []).filter((prefix) => !own.has(prefix));
  } else return undefined;
  return texts.map((text) => parsePrefix(text)).filter((prefix): prefix is ParsedPrefix => prefix !== undefined && prefix.length > 0);
}

const check: Check = {
  id: 'mesh.routes-not-accepted',
  topic: 'mesh',
  title: 'subnet routes peers advertise but this node does not accept, or accepted routes covering its LAN',
  needs: [MESH_TAILSCALE_GATHERER],
  run(state, options): CheckResult {
    const input = tailscaleInput(check, state, { running: true });
    if (isSkip(input)) return input;
    const { facts, status } = input;
    const prefs = facts.prefs.value;
    if (!prefs || prefs.RouteAll === undefined) return skip(check, `cannot tell whether routes are accepted: \`${facts.prefs.command}\` ${facts.prefs.error ? `failed (${facts.prefs.error})` : 'has no RouteAll'}`);
    const offers: Array<{ peer: TailscalePeer; prefix: ParsedPrefix }> = [];
    const unknown: string[] = [];
    for (const peer of peersOf(status)) {
      const subnets = advertisedSubnets(peer);
      if (subnets === undefined) unknown.push(peerName(peer));
      else for (const prefix of subnets) offers.push({ peer, prefix });
    }
    if (offers.length === 0 && unknown.length > 0) return skipOlderClient(check, status, '', 'reports neither PrimaryRoutes nor AllowedIPs for its peers');
    const lans = routingView(state, options).lans;
    const offerText = ({ peer, prefix }: { peer: TailscalePeer; prefix: ParsedPrefix }) => `${formatPrefix(prefix)} from ${peerName(peer)}`;
    const shadowing = offers.flatMap((offer) => lans.filter((lan) => prefixesOverlap(lan.prefix, offer.prefix)).map((lan) => ({ offer, lan })));
    const routeAll = `${facts.prefs.command}: RouteAll ${prefs.RouteAll}`;

    if (prefs.RouteAll) {
      if (shadowing.length === 0) return pass(check, offers.length ? `accepts ${offers.length} subnet route${offers.length === 1 ? '' : 's'} (${listSome(offers.map(offerText))}), none covering a LAN of this host` : 'accepts subnet routes; no peer advertises any');
      const evidence = [routeAll, ...shadowing.map(({ offer, lan }) => `accepted ${offerText(offer)} covers this host's LAN ${formatPrefix(lan.prefix)} on ${lan.dev}`)];
      return finding(check, 'fail', `accepted route ${offerText(shadowing[0].offer)} covers this host's own LAN ${formatPrefix(shadowing[0].lan.prefix)} (${shadowing[0].lan.dev}): replies to LAN clients leave through the tunnel (see routes.subnet-shadows-lan)`, evidence, {
        command: 'netmend fix subnet-routes',
        explanation: 'keeps connected LANs on the main table ahead of the mesh table; or `tailscale set --accept-routes=false` on a node that sits in that LAN',
      });
    }
    if (offers.length === 0) return pass(check, 'no peer advertises subnet routes');
    const safe = offers.filter((offer) => !shadowing.some((entry) => entry.offer === offer));
    const evidence = [routeAll, ...offers.map((offer) => `${offerText(offer)} is not accepted`)];
    for (const { offer, lan } of shadowing) evidence.push(`accepting ${offerText(offer)} would cover this host's LAN ${formatPrefix(lan.prefix)} on ${lan.dev} (see routes.subnet-shadows-lan)`);
    if (safe.length === 0) return pass(check, `not accepting ${listSome(offers.map(offerText))}, which would cover this host's own LAN: leave it so`);
    return finding(check, 'warn', `peers advertise ${listSome(safe.map(offerText))}, but this node does not accept subnet routes`, evidence, {
      command: 'tailscale set --accept-routes',
      explanation: shadowing.length ? 'but first keep the LAN routes on main (`netmend fix subnet-routes`), since some advertised routes cover this host\'s LAN' : 'installs the advertised subnets in table 52',
    });
  },
};

export default check;
