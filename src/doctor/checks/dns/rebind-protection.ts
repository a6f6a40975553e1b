import { answerAddresses, describeResult } from '../../../dns/client.js';
import { dnsmasqSplitState } from '../../../dns/dnsmasq.js';
import { unboundSplitState } from '../../../dns/unbound.js';
import { dnsFactsOf, fixDnsCommand } from '../../gather/dns.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

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
    if (facts.dnsmasq) {
      const split = dnsmasqSplitState(facts.dnsmasq.options, facts.domains, facts.servers[0]);
      if (split.rebindProtection) {
        for (const domain of facts.domains) {
          if (split.rebindAllowed[domain]) continue;
          blocked.add(domain);
          evidence.push(`${split.rebindProtection.where}: stop-dns-rebind, and no rebind-domain-ok=/${domain}/`);
        }
      }
    }
    if (facts.openwrt?.state.section && facts.openwrt.state.rebindProtection) {
      for (const domain of facts.domains) {
        if (facts.openwrt.state.rebindAllowed[domain]) continue;
        blocked.add(domain);
        evidence.push(`${facts.openwrt.file}: rebind_protection is on (the default) and no list rebind_domain '${domain}'`);
      }
    }
    if (facts.unbound) {
      const split = unboundSplitState(facts.unbound.zones, facts.domains, facts.servers[0]);
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
    if (!facts.dnsmasq && !facts.openwrt && !facts.unbound) return skip(check, 'no dnsmasq or unbound configured here');
    if (blocked.size === 0) return pass(check, 'the local resolver lets mesh answers (100.64.0.0/10, fd7a:115c:a1e0::/48) through');
    return finding(check, 'fail', `rebind protection drops private answers for ${[...blocked].join(', ')}: mesh names fail through the local resolver`, evidence, {
      command: fixDnsCommand(facts),
      explanation: 'allow private answers for the mesh domains only (rebind-domain-ok / rebind_domain / private-domain)',
    });
  },
};

export default check;
