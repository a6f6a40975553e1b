import { describeResult } from '../../../dns/client.js';
import { isMeshResolver } from '../../../dns/resolv-conf.js';
import { dnsFactsOf } from '../../gather/dns.js';
import { finding, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

const WHY: Record<string, string> = {
  timeout: 'does not answer (timeout: nothing listens, or packets are dropped on the way)',
  unreachable: 'is unreachable (the kernel refused: no listener on port 53, or no route)',
  refused: 'refuses queries (REFUSED)',
  servfail: 'fails (SERVFAIL)',
  error: 'sends malformed replies',
};

const check: Check = {
  id: 'dns.mesh-resolver',
  topic: 'dns',
  title: 'the mesh resolver answers DNS queries',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    if (facts.meshProbes.length === 0 && facts.unroutedServers.length > 0) {
      const evidence = facts.unroutedServers.map(({ server, via }) => `${server} -> ${via}: not into a mesh tunnel, so it was not asked`);
      const configured = [...(facts.resolv?.nameservers ?? [])].filter(isMeshResolver);
      if (configured.length === 0) return skip(check, `no mesh here: ${evidence[0]}`);
      return finding(check, 'fail', `resolv.conf uses the mesh resolver ${configured[0]}, but the kernel routes it out of a non-mesh link: the mesh is down or its routes are missing`, evidence, {
        command: 'tailscale status',
        explanation: 'the mesh daemon installs the route to its resolver while it runs and is logged in',
      });
    }
    if (facts.meshProbes.length === 0) return skip(check, 'no mesh resolver to ask');
    const evidence = facts.meshProbes.map(describeResult);
    const broken = facts.meshProbes.filter((probe) => ['timeout', 'unreachable', 'refused', 'servfail', 'error'].includes(probe.outcome));
    if (broken.length === 0) return pass(check, `${facts.servers.join(' and ')} answer${facts.servers.length > 1 ? '' : 's'} over UDP and TCP`);
    const udpBroken = broken.filter((probe) => probe.transport === 'udp');
    const worst = udpBroken[0] ?? broken[0];
    const status = udpBroken.length > 0 ? 'fail' : 'warn';
    return finding(check, status, `mesh resolver ${worst.server} ${WHY[worst.outcome]}${udpBroken.length === 0 ? ' over TCP only' : ''}`, evidence, {
      command: 'tailscale status',
      explanation: 'the mesh daemon serves its resolver only while it runs and is logged in',
    });
  },
};

export default check;
