/**
 * Tailscale drops packets from 100.64.0.0/10 that do not arrive on tailscale0 (ts-input, and
 * ts-forward for the tunnel's way out). Behind an ISP's carrier-grade NAT the WAN itself lives in
 * that range: the ISP's gateway and resolver answers, and direct connections from other
 * customers, are then dropped. The check sends those packets through `path explain`.
 */
import { parseAddress, parsePrefix, prefixContains } from '../../../net/address.js';
import type { PathExplanation, PathQuery } from '../../../path/simulate.js';
import { WIREGUARD_GATHERER, type WireguardFacts } from '../../gather/wireguard.js';
import { finding, pass } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { explainCommand, FORWARD_NEEDS, forwardInput, isInputSkip, ownOn, probe, ruleText, story } from './inputs.js';
import { meshPorts } from './mesh-port.js';

const CGNAT = parsePrefix('100.64.0.0/10')!;

function inCgnat(text: string): boolean {
  const address = parseAddress(text);
  return address !== undefined && prefixContains(CGNAT, address);
}

/** The rule that killed the packet or its reply, when it is a 100.64.0.0/10 rule. */
function cgnatDrop(explanation: PathExplanation): { leg: string; text: string } | undefined {
  for (const [leg, part] of [['packet', explanation], ['reply', explanation.reply]] as const) {
    const rule = part?.result.rule;
    if (part && (part.result.verdict === 'dropped' || part.result.verdict === 'rejected') && rule?.text.includes('100.64.0.0/10')) {
      return { leg, text: `${rule.family} ${rule.table} ${rule.chain}${rule.handle === null ? '' : ` rule ${rule.handle}`}: ${ruleText(rule.text)}` };
    }
  }
  return undefined;
}

const check: Check = {
  id: 'forward.cgnat-drop',
  topic: 'forward',
  title: 'the mesh\'s drop of 100.64.0.0/10 meets an ISP CGNAT WAN',
  needs: [...FORWARD_NEEDS, WIREGUARD_GATHERER],
  run(state, options): CheckResult {
    const input = forwardInput(check, state, options);
    if (isInputSkip(input)) return input;
    const wans = input.wans.filter((wan) => wan.family === 4)
      .map((wan) => ({ ...wan, address: ownOn(input.snapshot, wan.dev).find((a) => !a.includes(':')) }))
      .filter((wan) => wan.address && (inCgnat(wan.address) || inCgnat(wan.gateway)));
    if (wans.length === 0) return pass(check, 'the WAN is not in 100.64.0.0/10 (no ISP CGNAT)');
    const ports = meshPorts(state.facts[WIREGUARD_GATHERER] as WireguardFacts | undefined, input.view.meshIfaces, input.tailscale !== undefined);
    const killed: Array<{ what: string; rule: string; evidence: string[] }> = [];
    for (const wan of wans) {
      const probes: Array<{ what: string; query: PathQuery }> = [
        { what: `replies from the ISP gateway/resolver ${wan.gateway} to this router (DNS)`, query: { destination: wan.gateway, protocol: 'udp', dport: 53 } },
        { what: `pings from the ISP gateway ${wan.gateway}`, query: { destination: wan.address!, from: wan.gateway, iif: wan.dev, protocol: 'icmp' } },
      ];
      const neighbour = wan.gateway === wan.address ? undefined : wan.gateway;
      for (const port of ports) {
        if (neighbour) probes.push({ what: `direct mesh connections from peers behind the same CGNAT (udp ${port.port} from ${neighbour})`, query: { destination: wan.address!, from: neighbour, iif: wan.dev, protocol: 'udp', dport: port.port } });
      }
      for (const { what, query } of probes) {
        const result = probe(input.snapshot, query);
        if (!result.explanation) continue;
        const drop = cgnatDrop(result.explanation);
        if (drop) killed.push({ what, rule: drop.text, evidence: [...story(result.explanation), `replay: ${explainCommand(query)}`] });
      }
    }
    if (killed.length === 0) return pass(check, `the WAN ${wans[0].dev} is behind ISP CGNAT (${wans[0].address}), and no 100.64.0.0/10 drop hits its traffic`);
    return finding(check, 'fail', `the WAN ${wans[0].dev} is behind ISP CGNAT (${wans[0].address} via ${wans[0].gateway}); \`${killed[0].rule}\` kills ${killed.map((k) => k.what).join('; ')}`, [
      ...killed[0].evidence,
      ...killed.slice(1).map((k) => `also dropped: ${k.what}`),
    ], {
      command: 'add the node attribute "disable-linux-cgnat-drop-rule" for this node in the tailnet policy (tailscale v1.98+)',
      explanation: 'the drop sits in tailscaled\'s own chain, and a drop is final: an accept in another table cannot undo it, and editing ts-input is undone at the next start; with an older tailscaled run `tailscale up --netfilter-mode=nodivert` and `netmend fix forwarding --masquerade --allow-port`',
    });
  },
};

export default check;
