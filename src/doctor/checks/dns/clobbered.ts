import { isLoopback } from '../../../dns/resolv-conf.js';
import { dnsFactsOf, fixDnsCommand } from '../../gather/dns.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

const check: Check = {
  id: 'dns.clobbered',
  topic: 'dns',
  title: 'resolv.conf not overwritten by the mesh daemon while a local resolver runs',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    // Only a resolver that runs can be bypassed; one that only has a config file is not named.
    const backupLocal = facts.backup?.nameservers.filter(isLoopback) ?? [];
    const bypassed = [...facts.localResolvers];
    if (backupLocal.length > 0 && bypassed.length === 0) bypassed.push(`a resolver on ${backupLocal.join(', ')} (from the backup)`);
    if (facts.owner.kind !== 'mesh-daemon') {
      return pass(check, facts.localResolvers.length ? `${facts.resolvFile.path} is not the mesh daemon's; local resolver running: ${facts.localResolvers.join(', ')}` : `${facts.resolvFile.path} is not the mesh daemon's`);
    }
    if (bypassed.length === 0) {
      const idle = facts.configuredResolvers.length ? ` (${facts.configuredResolvers.join(', ')} ${facts.configuredResolvers.length === 1 ? 'has' : 'have'} a configuration but ${facts.configuredResolvers.length === 1 ? 'does' : 'do'} not run)` : '';
      return pass(check, `the mesh daemon owns ${facts.resolvFile.path}, and no local resolver runs here to be bypassed${idle}`);
    }
    const evidence = [...facts.owner.evidence];
    for (const process of facts.processes.filter((p) => p.listening.some((socket) => /^(127\.|\[::1\])/.test(socket)))) evidence.push(`${process.name} (pid ${process.pid}) listens on ${process.listening.join(', ')} and is bypassed`);
    if (facts.dnsmasq?.files.length) evidence.push(`dnsmasq config: ${facts.dnsmasq.files.join(', ')}`);
    if (facts.unbound) evidence.push(`unbound config: ${facts.unbound.files.join(', ')}`);
    if (facts.backup) evidence.push(`${facts.resolvFile.meshBackupPath}: nameserver ${facts.backup.nameservers.join(', ')}`);
    return finding(check, 'fail', `${facts.owner.program ?? 'the mesh daemon'} rewrote ${facts.resolvFile.path} to its own resolver, bypassing the local ${bypassed.join(', ')}`, [...new Set(evidence)], {
      command: fixDnsCommand(facts, ' --restore-resolv-conf'),
      explanation: 'put the local resolver back in resolv.conf and send only the mesh domains to the mesh resolver',
    });
  },
};

export default check;
