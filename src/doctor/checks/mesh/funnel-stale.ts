/**
 * Serve or Funnel entries for a name that is no longer this node's DNS name (left behind by a
 * rename), Funnel switched on for a name:port that serves nothing (what `tailscale serve status`
 * warns as "Funnel is on for X, but no serve config"), and certificates tailscaled cached for
 * old names. The CLI edits entries of the current name only, so stale ones go with a reset.
 */
import type { TailscaleServeConfig } from '../../../tailscale/json.js';
import { MESH_TAILSCALE_GATHERER } from '../../gather/mesh-tailscale.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check, CheckResult } from '../../types.js';
import { isSkip, tailscaleInput } from './inputs.js';

function splitHostPort(hostPort: string): { host: string; port: string } {
  const colon = hostPort.lastIndexOf(':');
  return colon < 0 ? { host: hostPort, port: '' } : { host: hostPort.slice(0, colon).replace(/^\[|\]$/g, ''), port: hostPort.slice(colon + 1) };
}

/** The background config and every foreground one, labelled for evidence. */
function allConfigs(config: TailscaleServeConfig): Array<{ label: string; config: TailscaleServeConfig }> {
  return [{ label: 'serve', config }, ...Object.entries(config.Foreground ?? {}).map(([session, inner]) => ({ label: `foreground serve (session ${session})`, config: inner }))];
}

export function staleServeEntries(config: TailscaleServeConfig | null, current: Set<string>): string[] {
  if (!config) return [];
  const found: string[] = [];
  for (const { label, config: one } of allConfigs(config)) {
    for (const hostPort of Object.keys(one.Web ?? {})) {
      if (!current.has(splitHostPort(hostPort).host.toLowerCase())) found.push(`${label}: web handler for ${hostPort}, a name this node no longer has`);
    }
    for (const [hostPort, on] of Object.entries(one.AllowFunnel ?? {})) {
      if (!on) continue;
      const { host, port } = splitHostPort(hostPort);
      if (!current.has(host.toLowerCase())) found.push(`${label}: funnel=on for ${hostPort}, a name this node no longer has`);
      else if (!one.TCP?.[port]) found.push(`${label}: funnel=on for ${hostPort}, but no serve config on port ${port}`);
    }
  }
  return found;
}

const check: Check = {
  id: 'mesh.funnel-stale',
  topic: 'mesh',
  title: 'Funnel/serve config and certificates for names this node no longer has',
  needs: [MESH_TAILSCALE_GATHERER],
  run(state): CheckResult {
    const input = tailscaleInput(check, state, { running: false });
    if (isSkip(input)) return input;
    const { facts, status } = input;
    const dnsName = (status.Self?.DNSName ?? '').replace(/\.$/, '').toLowerCase();
    if (!dnsName) return skip(check, `cannot tell: \`${facts.status.command}\` shows no DNS name for this node`);
    const current = new Set([dnsName, ...(status.CertDomains ?? []).map((name) => name.toLowerCase())]);

    const evidence: string[] = [];
    let serveKnown = true;
    if (facts.serve.error !== undefined) {
      serveKnown = false;
    } else {
      evidence.push(...staleServeEntries(facts.serve.value ?? null, current).map((line) => `${facts.serve.command}: ${line}`));
    }
    const staleCerts: string[] = [];
    for (const { dir, files } of facts.certDirs) {
      for (const file of files) {
        const match = /^(.+)\.(crt|key)$/.exec(file);
        if (!match || current.has(match[1].toLowerCase())) continue;
        staleCerts.push(`${dir}/${file}`);
      }
    }
    evidence.push(...staleCerts.map((path) => `certificate for an old name: ${path}`));
    if (evidence.length === 0) {
      if (!serveKnown) return skip(check, `cannot tell: \`${facts.serve.command}\` failed (${facts.serve.error}); no stale certificates`);
      return pass(check, `serve, Funnel and certificates all belong to ${dnsName}`);
    }
    const commands = [...(evidence.length > staleCerts.length ? ['tailscale serve reset'] : []), ...(staleCerts.length ? [`rm ${staleCerts.join(' ')}`] : [])];
    evidence.push(`this node's name: ${dnsName}`);
    return finding(check, 'warn', `${listSome(evidence.slice(0, -1).map((line) => line.replace(/^.*?: /, '')), 1)}`, evidence, {
      command: commands.join(' && '),
      explanation: 'the CLI only edits entries of the current name: reset clears every serve and Funnel entry, then re-add the current ones (`tailscale serve --bg ...`, `tailscale funnel --bg ...`)',
    });
  },
};

export default check;
