/**
 * The mesh's UDP port (a WireGuard ListenPort from `wg show`, wireguard-go's and the netmend
 * node's alike; tailscaled's 41641) must be accepted by input from the WAN. Without it no peer
 * behind NAT can open a direct path: every connection is relayed (Tailscale's DERP) or fails
 * (plain WireGuard with this router as the listening side).
 */
import { TAILSCALE_DEFAULT_PORT } from '../../../tailscale/json.js';
import { WIREGUARD_GATHERER, type WireguardFacts } from '../../gather/wireguard.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { explainCommand, FORWARD_NEEDS, forwardInput, isInputSkip, ownOn, probe, REMOTE_PEER_SAMPLE, story, uncertainOf } from './inputs.js';

export interface MeshPort {
  port: number;
  /** The tunnel it belongs to. */
  dev: string;
  source: string;
}

/** The mesh's listening UDP ports on this host's tunnels. */
export function meshPorts(facts: WireguardFacts | undefined, meshIfaces: Set<string>, tailscale: boolean): MeshPort[] {
  const ports: MeshPort[] = [];
  for (const iface of facts?.first.interfaces ?? []) {
    if (iface.listenPort && meshIfaces.has(iface.name)) ports.push({ port: iface.listenPort, dev: iface.name, source: `${facts!.source}: ${iface.name} listen-port ${iface.listenPort}` });
  }
  const tailscaleDev = [...meshIfaces].find((name) => name.startsWith('tailscale'));
  if (tailscale && tailscaleDev) ports.push({ port: TAILSCALE_DEFAULT_PORT, dev: tailscaleDev, source: `tailscaled's default --port ${TAILSCALE_DEFAULT_PORT}` });
  return ports;
}

const check: Check = {
  id: 'forward.mesh-port',
  topic: 'forward',
  title: 'the mesh\'s UDP port is accepted from the WAN (else peers are relayed or cannot connect)',
  needs: [...FORWARD_NEEDS, WIREGUARD_GATHERER],
  run(state, options): CheckResult {
    const input = forwardInput(check, state, options);
    if (isInputSkip(input)) return input;
    const ports = meshPorts(state.facts[WIREGUARD_GATHERER] as WireguardFacts | undefined, input.view.meshIfaces, input.tailscale !== undefined);
    if (ports.length === 0) {
      const why = state.gatherErrors[WIREGUARD_GATHERER];
      return skip(check, `no listening mesh port known${why ? ` (${why})` : ''}`);
    }
    if (input.wans.length === 0) return skip(check, 'no WAN link (no default route through a gateway)');
    const blocked: Array<{ summary: string; evidence: string[] }> = [];
    const open: string[] = [];
    for (const mesh of ports) {
      for (const wan of input.wans) {
        const address = ownOn(input.snapshot, wan.dev).find((candidate) => candidate.includes(':') === (wan.family === 6));
        if (!address) continue;
        const query = { destination: address, from: REMOTE_PEER_SAMPLE[wan.family], iif: wan.dev, protocol: 'udp', dport: mesh.port };
        const result = probe(input.snapshot, query);
        if (!result.explanation) continue;
        const { verdict, rule } = result.explanation.result;
        const uncertain = uncertainOf(result.explanation);
        if (verdict === 'delivered' && uncertain.length === 0) {
          open.push(`udp ${mesh.port} (${mesh.dev}) on ${wan.dev} ${address}`);
          continue;
        }
        const by = rule ? ` by ${rule.family} ${rule.table} ${rule.chain}${rule.handle === null ? ' policy' : ` rule ${rule.handle}`}` : '';
        blocked.push({
          summary: `udp ${mesh.port} (${mesh.dev}) from the WAN ${wan.dev} is ${verdict}${by}${uncertain.length ? ` (uncertain: ${uncertain[0]})` : ''}`,
          evidence: [mesh.source, ...story(result.explanation), `replay: ${explainCommand(query)}`],
        });
      }
    }
    if (blocked.length) {
      const tunnel = ports[0].dev;
      return finding(check, 'fail', `${blocked[0].summary}: peers behind NAT cannot reach this router directly; every connection is relayed or fails`, blocked.flatMap((b) => b.evidence), {
        command: `netmend fix forwarding --tunnel ${tunnel} --allow-port`,
        explanation: `accepts udp ${listSome([...new Set(ports.map((p) => String(p.port)))])} arriving on the WAN in netmend's own table (OpenWrt: a firewall rule)`,
      });
    }
    if (open.length === 0) return skip(check, 'the WAN link has no address to send to');
    return pass(check, `accepted from the WAN: ${listSome(open)}`);
  },
};

export default check;
