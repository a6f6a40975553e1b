/**
 * A subnet router: a mesh peer's packet to a host on an advertised LAN must be forwarded, and the
 * host's reply must come back. With SNAT toward the LAN the reply goes to the router itself;
 * without it the LAN hosts must send the mesh range back through this router (true when it is
 * their default gateway): the check says which, and follows the reply through the firewall.
 */
import { formatPrefix } from '../../../net/address.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { advertisedPrefix, explainCommand, FORWARD_NEEDS, forwardInput, isInputSkip, isOwn, pingAndTcp, probe, replyReturned, story, uncertainOf, type Lan } from './inputs.js';
import { fixCommand, worst, type Judgement } from './judge.js';

const check: Check = {
  id: 'forward.mesh-to-lan',
  topic: 'forward',
  title: 'subnet router: mesh peers reach the advertised LAN and the LAN hosts\' replies return',
  needs: FORWARD_NEEDS,
  run(state, options): CheckResult {
    const input = forwardInput(check, state, options);
    if (isInputSkip(input)) return input;
    let lans: Lan[];
    let inferred = false;
    if (input.tailscale) {
      lans = input.lans.filter((lan) => advertisedPrefix(input, lan.prefix));
      if (lans.length === 0) return pass(check, `this node advertises no LAN to the mesh (AdvertiseRoutes ${JSON.stringify(input.tailscale.prefs.AdvertiseRoutes ?? [])})`);
    } else {
      // Plain WireGuard says nothing about what peers route here: forwarding on makes it a router.
      if (state.snapshot.sysctls.ipForward !== 1) return skip(check, 'forwarding is off and no mesh state says this node serves its LAN to the mesh');
      lans = input.lans;
      inferred = true;
    }
    if (lans.length === 0) return skip(check, 'no LAN link');
    const peers = input.meshTargets.filter((target) => target.kind === 'peer');
    const judgements: Judgement[] = [];
    for (const lan of lans) {
      const peer = peers.find((candidate) => candidate.family === lan.family);
      if (!peer) continue;
      for (const query of pingAndTcp({ destination: lan.client, from: peer.sample, iif: peer.dev })) {
        const result = probe(input.snapshot, query);
        if (!result.explanation) continue;
        const explanation = result.explanation;
        const evidence = [...story(explanation), `replay: ${explainCommand(query)}`];
        const what = `mesh peer ${peer.sample} (${peer.dev}) → ${lan.client} (${formatPrefix(lan.prefix)} on ${lan.dev}, ${explanation.packet.protocol})`;
        const uncertain = uncertainOf(explanation);
        const status = uncertain.length || inferred ? 'warn' : 'fail';
        const { verdict, dev, saddr } = explanation.result;
        if (verdict === 'dropped' || verdict === 'rejected') {
          const rule = explanation.result.rule;
          judgements.push({ status, summary: `${what} is ${verdict} by ${rule ? `${rule.family} ${rule.table} ${rule.chain}${rule.handle === null ? ' policy' : ` rule ${rule.handle}`}` : 'netfilter'}`, evidence, fix: fromMesh(fixCommand(lan.dev, peer.dev, false)) });
          continue;
        }
        if (verdict !== 'forwarded' || dev !== lan.dev) {
          judgements.push({ status, summary: `${what} ends ${verdict}${dev ? ` on ${dev}` : ''}, not on ${lan.dev}`, evidence });
          continue;
        }
        const how = isOwn(input, saddr)
          ? `SNAT on: it reaches the LAN from ${saddr}, so replies come to the router`
          : `no SNAT: LAN hosts must route ${explanation.packet.saddr} back through this router (true when it is their default gateway)`;
        if (!replyReturned(explanation)) {
          const reply = explanation.reply;
          judgements.push({ status, summary: `${what} is forwarded (${how}), but the reply does not get back: ${reply ? reply.result.summary : 'not simulated'}`, evidence, fix: fromMesh(fixCommand(lan.dev, peer.dev, false)) });
          continue;
        }
        judgements.push({ status: uncertain.length ? 'warn' : 'pass', summary: `${what}: ${how}; the reply returns through ${peer.dev}`, evidence: uncertain.length ? evidence : [], how });
      }
    }
    if (judgements.length === 0) return skip(check, 'no mesh peer address of the LAN\'s family to send from');
    const bad = worst(judgements);
    if (bad) return finding(check, bad.status, inferred ? `${bad.summary} (if peers use this router for ${listSome(lans.map((lan) => formatPrefix(lan.prefix)))})` : bad.summary, bad.evidence, bad.fix);
    return pass(check, `mesh → ${listSome(lans.map((lan) => `${formatPrefix(lan.prefix)} (${lan.dev})`))} forwarded; ${[...new Set(judgements.map((j) => j.how))].join('; ')}`);
  },
};

function fromMesh(fix: { command: string; explanation: string }): { command: string; explanation: string } {
  return { command: `${fix.command} --from-mesh`, explanation: `${fix.explanation}; --from-mesh also accepts new connections from the mesh into the LAN` };
}

export default check;
