/**
 * Connection tracking is per family and on demand: the kernel runs an inet table's nat chains for
 * IPv6 only once something in the namespace uses IPv6 conntrack. `dnat ip to` enables IPv4 alone,
 * so with it as the only conntrack user an IPv6 packet passes the nat chain untouched (its counter
 * rule never matches); one `ct state` rule in an inet table turns IPv6 tracking on. Both rulesets
 * are loaded on the lab router, real packets of both families are traced by the kernel, and
 * `path explain` must agree with every trace and name why the nat chain was skipped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PathQuery } from '../../src/path/simulate.js';
import { Lab, labUnavailable } from './harness.js';
import { dualStackRouter, TRACE_TABLE, TraceBench } from './path-lab.js';

const NAT_TABLE = (forwardRule: string) => `table inet nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    counter
    tcp dport 8080 dnat ip to 10.3.0.5
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ${forwardRule}
  }
}
`;

const IPV4: PathQuery = { destination: '10.2.0.2', from: '10.1.0.2', iif: 'lan0', protocol: 'tcp', sport: 40100, dport: 8080 };
const IPV6: PathQuery = { destination: 'fd02::2', from: 'fd01::2', iif: 'lan0', protocol: 'tcp', sport: 40101, dport: 8080 };

async function traced(forwardRule: string): Promise<Record<'v4' | 'v6', { matched: string[]; skipWhy: string[]; dev: string | null; problems: string[] }>> {
  const lab = new Lab();
  try {
    const { client, router } = await dualStackRouter(lab, 'k');
    await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const loaded = await lab.exec(router, 'nft', ['-f', '-'], { input: `${TRACE_TABLE}${NAT_TABLE(forwardRule)}` });
    assert.equal(loaded.code, 0, loaded.stderr);
    const bench = new TraceBench(lab, router);
    await bench.startSenders({ client: { ns: client, sentinel: ['10.1.0.2', '10.1.0.1'], chain: 'pre' } });
    await bench.start();
    const out = {} as Record<'v4' | 'v6', { matched: string[]; skipWhy: string[]; dev: string | null; problems: string[] }>;
    for (const [key, query, ipId] of [['v4', IPV4, 41001], ['v6', IPV6, 41002]] as const) {
      const result = await bench.probe({ origin: 'client', query, ipId });
      if ('missing' in result) throw new Error(result.missing);
      const skipWhy = result.explanation.steps.flatMap((s) => (s.kind === 'skip' && s.chain === 'pre' ? [s.why] : []));
      out[key] = { matched: result.kernel.matched, skipWhy, dev: result.kernel.dev, problems: result.problems };
    }
    return out;
  } finally {
    await lab.destroy();
  }
}

test('IPv6 conntrack off: the kernel skips the inet nat chain for IPv6, and path explain says why', { skip: labUnavailable(), timeout: 120_000 }, async () => {
  const run = await traced('counter');
  assert.deepEqual(run.v4.problems, [], 'IPv4 packet');
  assert.deepEqual(run.v6.problems, [], 'IPv6 packet');
  assert.ok(run.v4.matched.some((rule) => rule.startsWith('inet nat pre')), `IPv4 crosses the nat chain (dnat ip enables IPv4 conntrack): ${run.v4.matched}`);
  assert.equal(run.v4.dev, 'wan1', 'DNAT to 10.3.0.5 sends the IPv4 packet out of wan1');
  assert.ok(!run.v6.matched.some((rule) => rule.startsWith('inet nat pre')), `the kernel ran the nat chain for IPv6: ${run.v6.matched}`);
  assert.match(run.v6.skipWhy.join('\n'), /enables IPv6 connection tracking/);
});

test('IPv6 conntrack on (a ct rule in an inet table): the nat chain runs for IPv6 as well', { skip: labUnavailable(), timeout: 120_000 }, async () => {
  const run = await traced('ct state invalid drop');
  assert.deepEqual(run.v4.problems, [], 'IPv4 packet');
  assert.deepEqual(run.v6.problems, [], 'IPv6 packet');
  assert.ok(run.v6.matched.some((rule) => rule.startsWith('inet nat pre')), `IPv6 crosses the nat chain: ${run.v6.matched}`);
  assert.deepEqual(run.v6.skipWhy, []);
});
