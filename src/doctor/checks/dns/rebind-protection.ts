import { answerAddresses, describeResult } from '../../../dns/client.js';
import { dnsmasqSplitState } from '../../../dns/dnsmasq.js';
import { unboundSplitState } from '../../../dns/unbound.js';
import { dnsFactsOf, fixDnsCommand } from '../../gather/dns.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

/**
 * Only the configuration of a resolver that runs is judged (a dnsmasq.conf left on disk while
 * unbound or systemd-resolved serves drops nothing), as dns.clobbered names only running
 * resolvers. When no resolver runs here at all (an image under --root), the files are all there
 * is, and every one is judged.
 */
const check: Check = {
  id: 'dns.rebind-protection',
  topic: 'dns',
  title: 'rebind protection lets the mesh addresses through',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    const evidence: string[] = [];
    const blocked = new Set<string>();
    const judged = (program: string) => facts.localResolvers.length === 0 || facts.localResolvers.includes(program);
    const idle = facts.configuredResolvers.filter((program) => !judged(program));
    if (idle.length > 0) evidence.push(`${idle.join(' and ')}: configured but not running here (running: ${facts.localResolvers.join(', ')}), so not judged`);
    const dnsmasq = judged('dnsmasq') ? facts.dnsmasq : undefined;
    const openwrt = judged('dnsmasq') ? facts.openwrt : undefined;
    const unbound = judged('unbound') ? facts.unbound : undefined;
    if (dnsmasq) {
      const split = dnsmasqSplitState(dnsmasq.options, facts.domains, facts.servers[0]);
      if (split.rebindProtection) {
        for (const domain of facts.domains) {
          if (split.rebindAllowed[domain]) continue;
          blocked.add(domain);
          evidence.push(`${split.rebindProtection.where}: stop-dns-rebind, and no rebind-domain-ok=/${domain}/`);
        }
      }
    }
    if (openwrt?.state.section && openwrt.state.rebindProtection) {
      for (const domain of facts.domains) {
        if (openwrt.state.rebindAllowed[domain]) continue;
        blocked.add(domain);
        evidence.push(`${openwrt.file}: rebind_protection is on (the default) and no list rebind_domain '${domain}'`);
      }
    }
    if (unbound) {
      const split = unboundSplitState(unbound.zones, facts.domains, facts.servers[0]);
      if (split.privateAddress) {
        for (const domain of facts.domains) {
          if (split.privateDomain[domain]) continue;
          blocked.add(domain);
          evidence.push(`${split.privateAddress.where}: private-address: ${split.privateAddress.value}, and no private-domain: "${domain}"`);
        }
      }
    }
    // What a user notices: the mesh resolver gives an address, the local resolver drops it.
    for (const probe of facts.splitProbes) {
      if (probe.direct.outcome !== 'answer' || !probe.viaSystem) continue;
      const direct = answerAddresses(probe.direct);
      const system = answerAddresses(probe.viaSystem);
      if (system.length === 0) evidence.push(`direct: ${describeResult(probe.direct)}`, `system: ${describeResult(probe.viaSystem)}  <- answer dropped`);
    }
    if (!dnsmasq && !openwrt && !unbound) {
      if (idle.length > 0) return { ...skip(check, `no running dnsmasq or unbound to judge (${idle.join(' and ')} ${idle.length > 1 ? 'have' : 'has'} a configuration but ${idle.length > 1 ? 'do' : 'does'} not run)`), evidence };
      return skip(check, 'no dnsmasq or unbound configured here');
    }
    if (blocked.size === 0) return { ...pass(check, 'the local resolver lets mesh answers (100.64.0.0/10, fd7a:115c:a1e0::/48) through'), evidence };
    return finding(check, 'fail', `rebind protection drops private answers for ${[...blocked].join(', ')}: mesh names fail through the local resolver`, evidence, {
      command: fixDnsCommand(facts),
      explanation: 'allow private answers for the mesh domains only (rebind-domain-ok / rebind_domain / private-domain)',
    });
  },
};

export default check;
