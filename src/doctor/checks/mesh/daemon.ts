/**
 * tailscaled runs and this node is logged in (BackendState Running); its own health warnings
 * are shown, since they are what `tailscale status` prints under "# Health check:".
 */
import { MESH_TAILSCALE_GATHERER, type MeshTailscaleFacts } from '../../gather/mesh-tailscale.js';
import { finding, pass } from '../../result.js';
import { gatheredFacts, isSkip } from './inputs.js';
import type { Check, CheckResult } from '../../types.js';

const STATES: Record<string, { summary: string; command: string; explanation: string }> = {
  NeedsLogin: { summary: 'this node is logged out (BackendState NeedsLogin)', command: 'tailscale up', explanation: 'log in again (an expired node key also ends here; `tailscale up --force-reauth` renews it)' },
  NeedsMachineAuth: { summary: 'this node waits for an admin to approve it (BackendState NeedsMachineAuth)', command: 'approve the device in the admin console (Machines)', explanation: 'device approval is on for this tailnet' },
  Stopped: { summary: 'Tailscale is switched off (BackendState Stopped, `tailscale down`)', command: 'tailscale up', explanation: 'reconnects with the saved settings' },
  NoState: { summary: 'tailscaled has no state yet (BackendState NoState)', command: 'tailscale up', explanation: 'starts the login' },
};

const check: Check = {
  id: 'mesh.daemon',
  topic: 'mesh',
  title: 'tailscaled runs and is logged in; its health warnings',
  needs: [MESH_TAILSCALE_GATHERER],
  run(state): CheckResult {
    const facts = gatheredFacts<MeshTailscaleFacts>(check, state, MESH_TAILSCALE_GATHERER, 'Tailscale state');
    if (isSkip(facts)) return facts;
    const { status } = facts;
    if (!status.value) {
      return finding(check, 'fail', `tailscaled does not answer: ${status.error}`, [`${status.command}: ${status.error}`], {
        command: 'systemctl start tailscaled',
        explanation: 'starts the daemon (on OpenWrt: /etc/init.d/tailscale start); `journalctl -u tailscaled` says why it stopped',
      });
    }
    const backend = status.value.BackendState;
    const health = (status.value.Health ?? []).filter(Boolean);
    const evidence = [`${status.command}: BackendState ${JSON.stringify(backend ?? null)}`, ...health.map((line) => `health: ${line}`)];
    if (backend === undefined) return finding(check, 'warn', 'cannot tell whether this node is logged in: the status has no BackendState', evidence);
    if (backend === 'Running') {
      const version = status.value.Version ? ` (tailscale ${status.value.Version.split('-')[0]})` : '';
      if (health.length === 0) return pass(check, `tailscaled runs and is logged in${version}`);
      return finding(check, 'warn', `tailscaled runs and is logged in, with ${health.length} health warning${health.length === 1 ? '' : 's'}: ${health[0]}`, evidence);
    }
    if (backend === 'Starting') return finding(check, 'warn', 'tailscaled is still starting (no connection to the control server yet)', evidence);
    const known = STATES[backend];
    if (status.value.AuthURL) evidence.push(`log in at: ${status.value.AuthURL}`);
    if (!known) return finding(check, 'fail', `tailscaled is in an unknown state ${backend}`, evidence);
    return finding(check, 'fail', known.summary, evidence, { command: known.command, explanation: known.explanation });
  },
};

export default check;
