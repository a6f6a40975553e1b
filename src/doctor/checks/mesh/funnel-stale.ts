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

export interface StaleServeEntry {
  /** Which config holds it (background, or a foreground session). */
  label: string;
  hostPort: string;
  /** The name it is for, when that is no longer this node's. */
  oldName?: string;
  line: string;
}

export function staleServeEntries(config: TailscaleServeConfig | null, current: Set<string>): StaleServeEntry[] {
  if (!config) return [];
  const found: StaleServeEntry[] = [];
  for (const { label, config: one } of allConfigs(config)) {
    for (const hostPort of Object.keys(one.Web ?? {})) {
      const { host } = splitHostPort(hostPort);
      if (!current.has(host.toLowerCase())) found.push({ label, hostPort, oldName: host, line: `${label}: web handler for ${hostPort}, a name this node no longer has` });
    }
    for (const [hostPort, on] of Object.entries(one.AllowFunnel ?? {})) {
      if (!on) continue;
      const { host, port } = splitHostPort(hostPort);
      if (!current.has(host.toLowerCase())) found.push({ label, hostPort, oldName: host, line: `${label}: funnel=on for ${hostPort}, a name this node no longer has` });
      else if (!one.TCP?.[port]) found.push({ label, hostPort, line: `${label}: funnel=on for ${hostPort}, but no serve config on port ${port}` });
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

    const serveKnown = facts.serve.error === undefined;
    const entries = serveKnown ? staleServeEntries(facts.serve.value ?? null, current) : [];
    const staleCerts: Array<{ path: string; name: string }> = [];
    for (const { dir, files } of facts.certDirs) {
      for (const file of files) {
        const match = /^(.+)\.(crt|key)$/.exec(file);
        if (match && !current.has(match[1].toLowerCase())) staleCerts.push({ path: `${dir}/${file}`, name: match[1] });
      }
    }
    if (entries.length === 0 && staleCerts.length === 0) {
      if (!serveKnown) return skip(check, `cannot tell: \`${facts.serve.command}\` failed (${facts.serve.error}); no stale certificates`);
      return pass(check, `serve, Funnel and certificates all belong to ${dnsName}`);
    }
    const evidence = [
      ...entries.map((entry) => `${facts.serve.command}: ${entry.line}`),
      ...staleCerts.map((cert) => `certificate for an old name: ${cert.path}`),
    ];
    const oldNames = [...new Set([...entries.flatMap((entry) => (entry.oldName ? [entry.oldName] : [])), ...staleCerts.map((cert) => cert.name)])];
    const parts = [
      ...(entries.length > 0 ? [`${entries.length} serve/Funnel entr${entries.length === 1 ? 'y' : 'ies'}`] : []),
      ...(staleCerts.length > 0 ? [`${staleCerts.length} certificate file${staleCerts.length === 1 ? '' : 's'}`] : []),
    ];
    const summary = oldNames.length > 0
      ? `${parts.join(' and ')} for ${oldNames.length === 1 ? 'a name' : 'names'} this node no longer has (${listSome(oldNames)}; now ${dnsName})`
      : entries[0].line;
    const commands = [...(entries.length > 0 ? ['tailscale serve reset'] : []), ...(staleCerts.length > 0 ? [`rm ${staleCerts.map((cert) => cert.path).join(' ')}`] : [])];
    evidence.push(`this node's name: ${dnsName}`);
    return finding(check, 'warn', summary, evidence, {
      command: commands.join(' && '),
      explanation: 'the CLI only edits entries of the current name: reset clears every serve and Funnel entry, then re-add the current ones (`tailscale serve --bg ...`, `tailscale funnel --bg ...`)',
    });
  },
};

export default check;
