import { dnsFactsOf } from '../../gather/dns.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

const check: Check = {
  id: 'dns.resolv-owner',
  topic: 'dns',
  title: 'who manages /etc/resolv.conf',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    const { owner } = facts;
    if (owner.kind === 'missing') {
      return finding(check, 'fail', `${facts.resolvFile.path} is missing: programs using the system resolver cannot resolve any name`, owner.evidence);
    }
    if (owner.kind === 'systemd-resolved' && facts.resolvFile.symlinkTarget?.endsWith('/systemd/resolve/resolv.conf')) {
      // Uplink mode lists the upstream servers: clients bypass resolved, so no split DNS.
      return finding(check, 'warn', `${owner.summary}: clients bypass systemd-resolved, so per-link (split) DNS does not apply`, owner.evidence, {
        command: `ln -sf /run/systemd/resolve/stub-resolv.conf ${facts.resolvFile.path}`,
        explanation: 'point resolv.conf at the stub (127.0.0.53) so routing domains such as ~ts.net work',
      });
    }
    const result = pass(check, owner.summary);
    return { ...result, evidence: owner.evidence };
  },
};

export default check;
