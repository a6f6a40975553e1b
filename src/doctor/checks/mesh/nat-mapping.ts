/**
 * This host's NAT mapping behaviour (RFC 5780 §4.3), measured with STUN Binding requests from
 * one socket on the mesh port: does the NAT give the same public address and port whatever the
 * destination (endpoint-independent: peers can reach the address STUN found) or a new one per
 * destination (a "hard" NAT: direct connections fail and the mesh falls back to relays), and is
 * the public port the local one (port-preserving)? No answer at all means UDP does not get out.
 */
import { formatTransport, type StunAnswer, type TransportAddress } from '../../../net/stun.js';
import { TAILSCALE_DEFAULT_PORT } from '../../../tailscale/json.js';
import { STUN_GATHERER, type StunFacts } from '../../gather/stun.js';
import { finding, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { gatheredFacts, isSkip } from './inputs.js';

export type MappingBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' | 'varies-by-destination' | 'unknown';

const same = (a: TransportAddress | undefined, b: TransportAddress | undefined) => a !== undefined && b !== undefined && a.address === b.address && a.port === b.port;

export function mappingBehaviour(answers: StunAnswer[], alternate: StunAnswer[]): MappingBehaviour {
  const mapped = answers.filter((answer) => answer.mapped);
  if (mapped.length >= 2) return mapped.every((answer) => same(answer.mapped, mapped[0].mapped)) ? 'endpoint-independent' : 'varies-by-destination';
  const [test2, test3] = alternate;
  if (mapped.length === 0 || !test2?.mapped) return 'unknown';
  if (same(test2.mapped, mapped[0].mapped)) return 'endpoint-independent';
  if (!test3?.mapped) return 'varies-by-destination';
  return same(test3.mapped, test2.mapped) ? 'address-dependent' : 'address-and-port-dependent';
}

const check: Check = {
  id: 'mesh.nat-mapping',
  topic: 'mesh',
  title: "this host's NAT mapping behaviour and port preservation, measured with STUN (--stun)",
  needs: [STUN_GATHERER],
  run(state): CheckResult {
    const facts = gatheredFacts<StunFacts>(check, state, STUN_GATHERER, 'the STUN measurement');
    if (isSkip(facts)) return facts;
    if (facts.servers.length === 0 || !facts.measurement) return skip(check, 'no STUN server given (--stun HOST[:PORT], twice for the mapping test)');
    const { localPort, wantedPortBusy, answers, alternate } = facts.measurement;
    const evidence = [`STUN Binding requests from local UDP port ${localPort}${wantedPortBusy ? ` (the mesh port ${wantedPortBusy} is held by the mesh daemon)` : ''}`];
    for (const answer of [...answers, ...alternate]) {
      const to = formatTransport(answer.to);
      const asked = answer.label.startsWith(to) ? answer.label : `${answer.label} (${to})`;
      evidence.push(answer.mapped ? `${asked} sees ${formatTransport(answer.mapped)}` : `${asked}: ${answer.error}`);
    }
    const first = answers.find((answer) => answer.mapped)?.mapped;
    if (!first) {
      return finding(check, 'fail', `no STUN server answered: UDP from this host does not get out (or the servers are down)`, evidence, {
        command: `allow outbound UDP to the STUN servers and the mesh port (${TAILSCALE_DEFAULT_PORT}) in the firewall`,
        explanation: 'without UDP a mesh can only relay over TCP (DERP), at a fraction of the speed',
      });
    }
    const ownAddresses = new Set(state.snapshot.addresses.map((address) => address.local));
    if (ownAddresses.has(first.address)) return pass(check, `no NAT: the STUN servers see this host's own address ${formatTransport(first)}`);
    const behaviour = mappingBehaviour(answers, alternate);
    const preserved = first.port === localPort;
    const portText = preserved ? `port ${localPort} preserved` : `port ${localPort} not preserved (public port ${first.port})`;
    const busyText = wantedPortBusy ? ` (the mesh port ${wantedPortBusy} is held by the mesh daemon)` : '';
    if (behaviour === 'endpoint-independent') return pass(check, `endpoint-independent mapping to ${formatTransport(first)}, ${portText}${busyText}`);
    if (behaviour === 'unknown') {
      return skip(check, `cannot tell the mapping behaviour from one server without an alternate address (give --stun twice); public ${formatTransport(first)}, ${portText}`);
    }
    const kind = behaviour === 'varies-by-destination' ? 'a new public port per destination' : behaviour === 'address-dependent' ? 'a new mapping per destination address' : 'a new mapping per destination address and port';
    return finding(check, 'warn', `the NAT gives ${kind} (hard NAT), ${portText}: peers cannot reach the address STUN finds, so direct mesh paths fail`, evidence, {
      command: `on the router: stop randomising source ports, or forward UDP ${localPort} to this host`,
      explanation: 'e.g. nftables `masquerade` instead of `masquerade fully-random`, iptables MASQUERADE without --random-fully, pfSense/OPNsense "static port"; or enable PCP/NAT-PMP',
    });
  },
};

export default check;
