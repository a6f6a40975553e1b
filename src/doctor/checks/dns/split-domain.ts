import { answerAddresses, describeResult } from '../../../dns/client.js';
import { splitServer } from '../../../dns/dnsmasq.js';
import { isMeshResolver, isTailscaleDirectMode } from '../../../dns/resolv-conf.js';
import { dnsFactsOf, fixDnsCommand, type DnsFacts } from '../../gather/dns.js';
import { finding, info, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

/** Configuration that sends every name (not only the mesh domains) to the mesh resolver. */
function everythingToMesh(facts: DnsFacts): string[] {
  const evidence: string[] = [];
  const nameservers = facts.resolv?.nameservers ?? [];
  if (nameservers.length > 0 && nameservers.every(isMeshResolver)) {
    evidence.push(...nameservers.map((server) => `${facts.resolvFile.path}: nameserver ${server}`));
  }
  for (const option of facts.dnsmasq?.options ?? []) {
    if (option.name === 'server' && option.value && !option.value.startsWith('/') && isMeshResolver(option.value.replace(/#53$/, ''))) evidence.push(`${option.where}: server=${option.value}`);
  }
  for (const zone of facts.unbound?.zones ?? []) {
    const name = zone.entries.find((entry) => entry.key === 'name');
    const mesh = zone.entries.find((entry) => entry.key === 'forward-addr' && isMeshResolver(entry.value.replace(/@53$/, '')));
    if (zone.clause === 'forward-zone' && name && (name.value === '.' || name.value === '') && mesh) evidence.push(`${name.where}: forward-zone "." to ${mesh.value}`);
  }
  return evidence;
}

const check: Check = {
  id: 'dns.split-domain',
  topic: 'dns',
  title: 'mesh names resolve through the system resolver, other names do not go to the mesh',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    const fix = { command: fixDnsCommand(facts), explanation: `forward only ${facts.domains.join(', ')} to ${facts.servers[0]}, everything else to the normal resolver` };
    const takeover = everythingToMesh(facts);
    if (isTailscaleDirectMode(facts.owner, facts.resolv) && takeover.every((line) => line.startsWith(`${facts.resolvFile.path}:`))) {
      const upstream = facts.backup?.nameservers.length ? facts.backup.nameservers.join(', ') : undefined;
      return info(check, `tailscaled's direct mode: every name goes to ${facts.resolv!.nameservers.join(' and ')}, which answers the tailnet's names and forwards the others${upstream ? ` to ${upstream}` : ''}, as designed`, [
        ...facts.owner.evidence,
        ...(facts.backup ? [`${facts.resolvFile.meshBackupPath}: nameserver ${facts.backup.nameservers.join(', ') || '(none)'}  <- where other names are forwarded`] : []),
        'a local resolver bypassed this way is dns.clobbered\'s finding; `tailscale set --accept-dns=false` keeps resolv.conf and needs split DNS in the local resolver instead',
      ]);
    }
    if (takeover.length > 0) {
      return finding(check, 'fail', `every name, not only ${facts.domains.join(', ')}, is sent to the mesh resolver`, takeover, { ...fix, command: fixDnsCommand(facts, ' --restore-resolv-conf') });
    }
    if (facts.names.length === 0) return skip(check, 'no mesh name to try: pass --name HOST.TAILNET.ts.net (or install the tailscale CLI)');
    const probes = facts.splitProbes.filter((probe) => probe.type === 'A');
    const evidence: string[] = [];
    const wrong: string[] = [];
    let compared = 0;
    for (const probe of probes) {
      if (probe.direct.outcome !== 'answer') {
        evidence.push(`mesh resolver does not resolve ${probe.name}: ${describeResult(probe.direct)}`);
        continue;
      }
      if (!probe.viaSystem) continue;
      compared += 1;
      const direct = answerAddresses(probe.direct).sort().join(',');
      const system = answerAddresses(probe.viaSystem).sort().join(',');
      evidence.push(`direct: ${describeResult(probe.direct)}`, `system: ${describeResult(probe.viaSystem)}`);
      if (direct !== system) wrong.push(probe.name);
    }
    if (wrong.length > 0) {
      return finding(check, 'fail', `${wrong.join(', ')} ${wrong.length > 1 ? 'do' : 'does'} not resolve through the system resolver ${facts.systemResolver} as the mesh resolver answers`, evidence, fix);
    }
    if (compared === 0) return skip(check, `could not compare: ${evidence[0] ?? 'no system resolver in resolv.conf'}`);
    return { ...pass(check, `${probes.map((p) => p.name).join(', ')} resolve${compared > 1 ? '' : 's'} the same through ${facts.systemResolver} as through ${facts.servers[0]}`), evidence };
  },
};

export default check;
