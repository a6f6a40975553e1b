/**
 * The chosen exit node is offline, gone from the tailnet, or no longer offers itself. tailscaled
 * keeps the default route into the tunnel meanwhile (a blackhole, so nothing leaks), which
 * looks to the user like "the internet is down".
 */
import { peerName, peersOf } from '../../../tailscale/json.js';
import { MESH_TAILSCALE_GATHERER } from '../../gather/mesh-tailscale.js';
import { finding, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { isSkip, skipOlderClient, tailscaleInput } from './inputs.js';

const CLEAR = { command: 'tailscale set --exit-node=', explanation: 'stops using it (or pick another from `tailscale exit-node list`)' };

const check: Check = {
  id: 'mesh.exit-node',
  topic: 'mesh',
  title: 'the chosen exit node is offline or no longer offers itself',
  needs: [MESH_TAILSCALE_GATHERER],
  run(state): CheckResult {
    const input = tailscaleInput(check, state, { running: true });
    if (isSkip(input)) return input;
    const { facts, status } = input;
    const prefs = facts.prefs.value;
    if (!prefs) return skip(check, `cannot tell which exit node is chosen: \`${facts.prefs.command}\` failed (${facts.prefs.error})`);
    const chosenId = prefs.ExitNodeID ?? '';
    const chosenIp = prefs.ExitNodeIP ?? '';
    if (!chosenId && !chosenIp) {
      if (prefs.AutoExitNode) return finding(check, 'warn', `an automatic exit node (${prefs.AutoExitNode}) is wanted but none is chosen yet: internet traffic is held back`, [`${facts.prefs.command}: AutoExitNode ${JSON.stringify(prefs.AutoExitNode)}, ExitNodeID ""`]);
      return pass(check, 'no exit node in use');
    }
    const evidence = [`${facts.prefs.command}: ExitNodeID ${JSON.stringify(chosenId)}${chosenIp ? `, ExitNodeIP ${chosenIp}` : ''}`];
    const peer = peersOf(status).find((candidate) => (chosenId && candidate.ID === chosenId) || (chosenIp && candidate.TailscaleIPs?.includes(chosenIp)));
    const exitStatus = status.ExitNodeStatus;
    evidence.push(`${facts.status.command}: ExitNodeStatus ${JSON.stringify(exitStatus ?? null)}`);
    if (!peer) {
      return finding(check, 'fail', `the chosen exit node ${chosenId || chosenIp} is not in this tailnet any more: internet traffic goes nowhere`, evidence, CLEAR);
    }
    const name = peerName(peer);
    evidence.push(`peer ${name}: Online ${peer.Online ?? null}, ExitNodeOption ${peer.ExitNodeOption ?? null}`);
    if (peer.ExitNodeOption === false) {
      return finding(check, 'fail', `exit node ${name} no longer offers itself as an exit node (or it is not approved): internet traffic goes nowhere`, evidence, CLEAR);
    }
    const online = exitStatus?.Online ?? peer.Online;
    if (online === false) return finding(check, 'fail', `exit node ${name} is offline: internet traffic goes nowhere until it returns`, evidence, CLEAR);
    if (online === undefined || peer.ExitNodeOption === undefined) return skipOlderClient(check, status, `whether exit node ${name} is usable`, 'reports no Online/ExitNodeOption');
    return pass(check, `exit node ${name} is online and offers itself`);
  },
};

export default check;
