import { dnsFactsOf } from '../../gather/dns.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

const check: Check = {
  id: 'dns.search-domain',
  topic: 'dns',
  title: 'the mesh search domain is present for short names',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    const tailnet = facts.tailnetDomain;
    if (!tailnet) return skip(check, 'the tailnet domain is unknown (give --name HOST.TAILNET.ts.net), so short names are not expected');
    if (facts.owner.kind === 'systemd-resolved' && facts.resolvFile.symlinkTarget) {
      return skip(check, 'systemd-resolved keeps per-link search domains (see `resolvectl domain`)');
    }
    const search = facts.resolv?.search ?? [];
    if (search.some((domain) => domain.replace(/\.$/, '') === tailnet)) return pass(check, `search ${search.join(' ')} includes ${tailnet}`);
    return finding(check, 'warn', `short mesh names (e.g. '${facts.names[0]?.split('.')[0] ?? 'host'}') will not resolve: ${tailnet} is not in the search list`, [
      `${facts.resolvFile.path}: ${search.length ? `search ${search.join(' ')}` : 'no search line'}`,
    ], { command: `add 'search ${tailnet}' to ${facts.resolvFile.path} (or to the resolver manager's configuration)`, explanation: 'lets `ssh host` find host.' + tailnet });
  },
};

export default check;
