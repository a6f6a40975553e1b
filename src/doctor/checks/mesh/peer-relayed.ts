/**
 * Active peers reached only through a relay (DERP or a peer relay), which caps their speed, each
 * with the likely cause netcheck shows on this side (UDP blocked, a NAT that maps per
 * destination, no port mapping protocol on the router) and what the router can change.
 */
import type { TailscaleNetcheck, TailscalePeer } from '../../../tailscale/json.js';
import { peerName, peersOf, TAILSCALE_DEFAULT_PORT as DEFAULT_MESH_PORT } from '../../../tailscale/json.js';
import { MESH_TAILSCALE_GATHERER } from '../../gather/mesh-tailscale.js';
import type { TailscaleOutput } from '../../gather/tailscale.js';
import { finding, listSome, pass } from '../../result.js';
import type { Check, CheckResult, FixSuggestion } from '../../types.js';
import { isSkip, skipOlderClient, tailscaleInput } from './inputs.js';

interface Cause {
  evidence: string;
  fix: FixSuggestion;
}

/** Causes on this side, strongest first, from netcheck's report. */
export function relayCauses(netcheck: TailscaleOutput<TailscaleNetcheck> | undefined): { causes: Cause[]; evidence: string[] } {
  if (!netcheck) return { causes: [], evidence: ['netcheck was not run'] };
  const report = netcheck.value;
  if (!report) return { causes: [], evidence: [`${netcheck.command}: ${netcheck.error}`] };
  const shown = { UDP: report.UDP ?? null, MappingVariesByDestIP: report.MappingVariesByDestIP ?? null, UPnP: report.UPnP ?? null, PMP: report.PMP ?? null, PCP: report.PCP ?? null, GlobalV4: report.GlobalV4 ?? null };
  const evidence = [`${netcheck.command}: ${Object.entries(shown).map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(', ')}`];
  const causes: Cause[] = [];
  if (report.UDP === false) {
    causes.push({
      evidence: 'UDP is blocked: no STUN answer came back (UDP false)',
      fix: { command: `allow outbound UDP (STUN 3478 and the mesh port ${DEFAULT_MESH_PORT}) in the firewall`, explanation: 'without UDP every packet goes through DERP over TCP 443' },
    });
  }
  if (report.MappingVariesByDestIP === true) {
    causes.push({
      evidence: 'the NAT maps per destination (MappingVariesByDestIP true, a "hard" NAT): the address a peer learns is not the one it must send to',
      fix: { command: `on the router: forward UDP ${DEFAULT_MESH_PORT} to this host, or stop randomising source ports`, explanation: 'e.g. nftables `masquerade` without `fully-random` (iptables --random-fully), pfSense/OPNsense "static port" for this host' },
    });
  }
  const mapping = [report.UPnP, report.PMP, report.PCP];
  if (mapping.every((value) => value === false)) {
    causes.push({
      evidence: 'the router offers no UPnP, NAT-PMP or PCP (all false), so no port can be opened for this host',
      fix: { command: 'enable PCP or NAT-PMP (or UPnP) on the router', explanation: 'tailscaled then maps its port itself; a static forward works as well' },
    });
  }
  return { causes, evidence };
}

function route(peer: TailscalePeer): string {
  if (peer.PeerRelay) return `peer relay ${peer.PeerRelay}`;
  return peer.Relay ? `DERP ${peer.Relay}` : 'a relay';
}

const check: Check = {
  id: 'mesh.peer-relayed',
  topic: 'mesh',
  title: 'active peers reached only through a relay, with the likely cause',
  needs: [MESH_TAILSCALE_GATHERER],
  run(state): CheckResult {
    const input = tailscaleInput(check, state, { running: true });
    if (isSkip(input)) return input;
    const { facts, status } = input;
    const peers = peersOf(status);
    if (peers.length > 0 && peers.every((peer) => peer.Active === undefined)) {
      return skipOlderClient(check, status, 'which peers are active', 'does not report Active');
    }
    const active = peers.filter((peer) => peer.Active === true);
    const relayed = active.filter((peer) => !peer.CurAddr);
    if (relayed.length === 0) {
      return pass(check, active.length === 0 ? 'no active peers' : `${active.length} active peer${active.length === 1 ? '' : 's'}, all direct`);
    }
    const evidence = relayed.map((peer) => `peer ${peerName(peer)}: via ${route(peer)}, no direct address (CurAddr empty${peer.Addrs?.length ? `; endpoints ${peer.Addrs.join(' ')}` : ''})`);
    const { causes, evidence: netcheckEvidence } = relayCauses(facts.netcheck);
    evidence.push(...netcheckEvidence);
    const names = listSome(relayed.map(peerName));
    if (causes.length === 0) {
      const netcheckRan = facts.netcheck?.value !== undefined;
      evidence.push(netcheckRan
        ? `this side looks open (UDP works, mapping does not vary by destination): the block is likely at the peer, or a firewall drops UDP ${DEFAULT_MESH_PORT} inbound (see \`netmend doctor forward\`)`
        : 'the cause could not be read from netcheck');
      return finding(check, 'warn', `${relayed.length} active peer${relayed.length === 1 ? '' : 's'} only reached through a relay: ${names}`, evidence, {
        command: `on the router: forward UDP ${DEFAULT_MESH_PORT} to this host, or enable PCP/NAT-PMP`,
        explanation: 'a reachable mesh port lets the peers connect directly',
      });
    }
    evidence.push(...causes.map((cause) => `likely cause: ${cause.evidence}`));
    evidence.push(...causes.slice(1).map((cause) => `also: ${cause.fix.command} (${cause.fix.explanation})`));
    return finding(check, 'warn', `${relayed.length} active peer${relayed.length === 1 ? '' : 's'} only reached through a relay (${names}): ${causes[0].evidence.split(':')[0]}`, evidence, causes[0].fix);
  },
};

export default check;
