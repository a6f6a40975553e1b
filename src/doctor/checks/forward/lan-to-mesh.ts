/**
 * A LAN client's packet to a mesh peer (and to each subnet a peer serves) must be routed into the
 * tunnel, accepted by forward, and either leave with the router's own tunnel address (masquerade)
 * or come from a LAN the mesh knows (advertised), because a WireGuard peer accepts only sources
 * inside the AllowedIPs it holds for this router, and must be able to reply. Each probe is a ping
 * and a TCP connection followed by `path explain`, forward and reply.
 */
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { FORWARD_NEEDS, forwardInput, isInputSkip, pingAndTcp } from './inputs.js';
import { judgeOutbound, worst, type Judgement } from './judge.js';

const check: Check = {
  id: 'forward.lan-to-mesh',
  topic: 'forward',
  title: 'LAN clients reach mesh peers and their subnets through this router, and the replies come back',
  needs: FORWARD_NEEDS,
  run(state, options): CheckResult {
    const input = forwardInput(check, state, options);
    if (isInputSkip(input)) return input;
    if (input.lans.length === 0) return skip(check, 'no LAN link (a connected prefix on a link other than the mesh and the default route)');
    if (input.meshTargets.length === 0) return skip(check, `no mesh peer or subnet is routed through ${[...input.view.meshIfaces].join(', ')}`);
    const judgements: Judgement[] = [];
    for (const lan of input.lans) {
      for (const target of input.meshTargets) {
        if (target.family !== lan.family) continue;
        for (const query of pingAndTcp({ destination: target.sample, from: lan.client, iif: lan.dev })) {
          judgements.push(judgeOutbound(input, lan, query, {
            what: `${lan.client} (${lan.dev}) → ${target.kind} ${target.sample}${target.kind === 'subnet' ? ` (${target.prefix})` : ''}`,
            lanPrefix: lan.prefix,
            wantDev: (dev) => input.view.meshIfaces.has(dev),
            advertisable: true,
          }));
        }
      }
    }
    if (judgements.length === 0) return skip(check, 'no LAN and mesh destination of the same address family');
    const bad = worst(judgements);
    if (!bad) {
      const how = [...new Set(judgements.map((j) => j.how).filter(Boolean))];
      return pass(check, `${listSome([...new Set(input.lans.map((lan) => lan.dev))])} → ${listSome([...new Set(input.meshTargets.map((t) => t.prefix))])}: forwarded${how.length ? `, ${how.join('; ')}` : ''}, replies return`);
    }
    return finding(check, bad.status, bad.summary, bad.evidence, bad.fix);
  },
};

export default check;
