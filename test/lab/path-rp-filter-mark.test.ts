/**
 * rp_filter with src_valid_mark in `path explain`, with the kernel as the judge. A dual-WAN
 * router: the main table's default leaves through wan0; `lookup main suppress_prefixlength 0`
 * then `fwmark 0x1 lookup 100` send marked traffic out of wan1; a prerouting mangle chain marks
 * what arrives on wan1. Under strict rp_filter a packet from 8.8.8.8 arriving on wan1 passes the
 * reverse-path check only when that check uses the mark (src_valid_mark on `all` or on wan1):
 * delivered and forwarded then, dropped by the routing decision (no-route) without. Each packet is
 * sent for real and traced; netmend's answer over a fresh snapshot must equal the kernel's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable } from './harness.js';
import { dualWanRouter, TRACE_TABLE, TraceBench } from './path-lab.js';

const MANGLE = `table inet mangle {
  chain pre {
    type filter hook prerouting priority -150; policy accept;
    iifname "wan1" meta mark set 0x1
  }
}
`;

test('strict rp_filter: the mark prerouting sets routes the reverse path only with src_valid_mark, and path explain agrees with the kernel', { skip: labUnavailable(), timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { router, world } = await dualWanRouter(lab, 'v');
  await lab.batch(router, ['rule add pref 100 lookup main suppress_prefixlength 0', 'rule add pref 110 fwmark 0x1/0x1 lookup 100']);
  await lab.ip(world, 'route', 'add', '10.1.0.0/24', 'via', '10.3.0.1', 'dev', 'w1');
  await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.wan1.rp_filter=1']);
  const loaded = await lab.exec(router, 'nft', ['-f', '-'], { input: TRACE_TABLE + MANGLE });
  assert.equal(loaded.code, 0, loaded.stderr);

  const bench = new TraceBench(lab, router);
  await bench.startSenders({ world: { ns: world, sentinel: ['10.3.0.2', '10.3.0.1'], chain: 'pre' } });
  await bench.start();
  let ipId = 41000;
  const send = async (destination: string) => {
    ipId++;
    const result = await bench.probe({ origin: 'world', ipId, query: { destination, from: '8.8.8.8', iif: 'wan1', protocol: 'tcp', sport: ipId, dport: 22 } });
    assert.ok(!('missing' in result), 'missing' in result ? result.missing : '');
    return result;
  };
  const cases = [
    { sysctls: ['net.ipv4.conf.all.src_valid_mark=1', 'net.ipv4.conf.wan1.src_valid_mark=0'], passes: true },
    { sysctls: ['net.ipv4.conf.all.src_valid_mark=0', 'net.ipv4.conf.wan1.src_valid_mark=0'], passes: false },
    { sysctls: ['net.ipv4.conf.all.src_valid_mark=0', 'net.ipv4.conf.wan1.src_valid_mark=1'], passes: true },
  ];
  for (const { sysctls, passes } of cases) {
    await lab.exec(router, 'sysctl', ['-qw', ...sysctls]);
    await bench.takeSnapshot();
    for (const [destination, verdict] of [['10.3.0.1', 'delivered'], ['10.1.0.2', 'forwarded']] as const) {
      const result = await send(destination);
      const where = `${sysctls.join(' ')}: 8.8.8.8 → ${destination} on wan1`;
      assert.equal(result.kernel.verdict, passes ? verdict : 'no-route', `${where}: the kernel\n${result.trace}`);
      assert.deepEqual(result.problems, [], `${where}: netmend disagrees with the kernel`);
      if (passes && verdict === 'forwarded') assert.equal(result.explanation.result.dev, 'lan0');
      if (!passes) assert.match(result.explanation.result.summary, /rp_filter 1 \(strict\).*src_valid_mark=0.*goes out of wan0, not wan1/);
    }
  }
});
