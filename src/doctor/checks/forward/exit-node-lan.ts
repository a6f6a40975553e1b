/**
 * With an exit node in use on the router (a default route into the tunnel, or Tailscale's
 * ExitNodeID), LAN clients' internet traffic must follow it: routed into the tunnel (else it
 * leaks out of the WAN) and masqueraded (else the exit node drops a source it does not know: a
 * black hole). The reply must come back to the client.
 */
import { decide } from '../../simulate.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { FORWARD_NEEDS, forwardInput, INTERNET_SAMPLE, isInputSkip, pingAndTcp } from './inputs.js';
import { judgeOutbound, worst, type Judgement } from './judge.js';

const check: Check = {
  id: 'forward.exit-node-lan',
  topic: 'forward',
  title: 'with an exit node, LAN clients\' internet traffic goes through the tunnel, masqueraded (no leak, no black hole)',
  needs: FORWARD_NEEDS,
  run(state, options): CheckResult {
    const input = forwardInput(check, state, options);
    if (isInputSkip(input)) return input;
    const families = ([4, 6] as const).filter((family) => {
      const decision = decide(input.snapshot, { destination: INTERNET_SAMPLE[family] });
      return decision.result.dev !== undefined && input.view.meshIfaces.has(decision.result.dev);
    });
    const exitNodeId = input.tailscale?.prefs.ExitNodeID;
    if (families.length === 0) {
      if (exitNodeId) return finding(check, 'warn', `Tailscale has an exit node set (${exitNodeId}) but this router's own internet traffic does not go into the tunnel`, [`routing: ${INTERNET_SAMPLE[4]} does not leave by ${[...input.view.meshIfaces].join(', ')}`]);
      return pass(check, 'no exit node in use on this router (its internet traffic does not enter the tunnel)');
    }
    if (input.lans.length === 0) return skip(check, 'exit node in use, but no LAN link to judge');
    const judgements: Judgement[] = [];
    for (const lan of input.lans) {
      if (!families.includes(lan.family)) continue;
      const destination = INTERNET_SAMPLE[lan.family];
      for (const query of pingAndTcp({ destination, from: lan.client, iif: lan.dev })) {
        judgements.push(judgeOutbound(input, lan, query, {
          what: `internet traffic of ${lan.client} (${lan.dev}) → ${destination}`,
          lanPrefix: lan.prefix,
          wantDev: (dev) => input.view.meshIfaces.has(dev),
          advertisable: true,
          wrongDev: (dev) => `leak: LAN clients' internet traffic (${lan.client} → ${destination}) leaves by ${dev}, not through the exit node the router itself uses`,
        }));
      }
    }
    if (judgements.length === 0) return skip(check, 'exit node in use, but no LAN of the same address family');
    const bad = worst(judgements);
    if (bad) {
      const summary = bad.summary.startsWith('leak') ? bad.summary : `black hole: ${bad.summary}`;
      return finding(check, bad.status, summary, bad.evidence, bad.fix);
    }
    return pass(check, `LAN clients (${listSome([...new Set(input.lans.map((lan) => lan.dev))])}) reach the internet through the exit node, ${[...new Set(judgements.map((j) => j.how))].join('; ')}`);
  },
};

export default check;
