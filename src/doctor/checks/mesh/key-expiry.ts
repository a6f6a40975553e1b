/**
 * This node's key expires within 14 days (warn) or has expired (fail); peers whose keys expired
 * are unreachable and listed. KeyExpiry is absent both when expiry is disabled and on clients
 * older than the field (added January 2023, tailscale#7040): only a version that has the field
 * lets its absence mean "disabled".
 */
import { goTime, peerName, peersOf, versionAtLeast } from '../../../tailscale/json.js';
import { MESH_TAILSCALE_GATHERER } from '../../gather/mesh-tailscale.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { formatDate, isSkip, skipOlderClient, tailscaleInput } from './inputs.js';

export const EXPIRY_WARN_DAYS = 14;
const DAY_MS = 86_400_000;

const check: Check = {
  id: 'mesh.key-expiry',
  topic: 'mesh',
  title: "this node's key expires soon or has expired; peers with expired keys",
  needs: [MESH_TAILSCALE_GATHERER],
  run(state): CheckResult {
    const input = tailscaleInput(check, state, { running: false });
    if (isSkip(input)) return input;
    const { facts, status } = input;
    const self = status.Self;
    if (!self) return skip(check, `cannot tell: \`${facts.status.command}\` has no Self (not logged in?)`);
    const now = facts.now;

    const expiredPeers = peersOf(status).filter((peer) => peer.Expired === true || (goTime(peer.KeyExpiry)?.getTime() ?? Infinity) <= now);
    const peerEvidence = expiredPeers.map((peer) => `peer ${peerName(peer)}: key expired ${peer.KeyExpiry ? formatDate(goTime(peer.KeyExpiry)!) : '(Expired true)'}`);

    const expiry = goTime(self.KeyExpiry);
    const evidence = [`${facts.status.command}: Self.KeyExpiry ${JSON.stringify(self.KeyExpiry ?? null)}`];
    const renew = { command: 'tailscale up --force-reauth', explanation: 'logs this node in again, which renews its key; or disable key expiry for it in the admin console (Machines → Disable key expiry)' };
    if (expiry && expiry.getTime() <= now) {
      return finding(check, 'fail', `this node's key expired on ${formatDate(expiry)}: it is cut off from the tailnet`, [...evidence, ...peerEvidence], renew);
    }
    if (expiry && expiry.getTime() - now < EXPIRY_WARN_DAYS * DAY_MS) {
      const days = Math.floor((expiry.getTime() - now) / DAY_MS);
      return finding(check, 'warn', `this node's key expires on ${formatDate(expiry)} (in ${days} day${days === 1 ? '' : 's'}); re-login is manual`, [...evidence, ...peerEvidence], renew);
    }
    let own: string;
    if (expiry) own = `this node's key expires on ${formatDate(expiry)}`;
    else if (versionAtLeast(status, 1, 38)) own = 'key expiry is disabled for this node';
    else return skipOlderClient(check, status, '', 'does not report KeyExpiry (older than 1.38)');
    if (expiredPeers.length > 0) {
      return finding(check, 'warn', `${own}; ${expiredPeers.length} peer${expiredPeers.length === 1 ? "'s key has" : "s' keys have"} expired: ${listSome(expiredPeers.map(peerName))}`, peerEvidence, {
        command: 'tailscale up --force-reauth (on each expired peer)',
        explanation: 'an expired peer is unreachable until it logs in again',
      });
    }
    return pass(check, own);
  },
};

export default check;
