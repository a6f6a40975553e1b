/**
 * Rekey: a session with traffic flowing outlives REKEY_AFTER_TIME (120 s). netmend initiated
 * it, so netmend must start the new handshake; pings keep flowing across the switch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable } from './harness.js';
import { netmendInitiatesToWireguardGo, pingUntilReply, twoHosts, wgDump, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

test('a session survives past REKEY_AFTER_TIME with traffic flowing (about 150 s)', { skip, timeout: 400_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const { mine, theirs } = await netmendInitiatesToWireguardGo(lab, nsA, nsB, 51081);
  assert.ok(await pingUntilReply(lab, nsA, '10.232.0.2'), mine.log.join(''));
  const first = (await wgDump(lab, nsA, mine.iface))[0].latestHandshake;

  const result = await lab.exec(nsA, 'ping', ['-c', '150', '-i', '1', '-W', '2', '10.232.0.2'], { timeoutMs: 250_000 });
  const received = Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 0);
  t.diagnostic(`150 pings over 150 s: ${received} answered`);
  const last = (await wgDump(lab, nsA, mine.iface))[0].latestHandshake;
  const theirView = (await wgDump(lab, nsB, theirs.iface))[0].latestHandshake;
  assert.ok(last - first >= 120, `a new handshake after 120 s (first ${first}, last ${last})\n${mine.log.join('')}`);
  assert.equal(theirView, last, 'wireguard-go completed the same rekey');
  assert.ok(received >= 147, `at most 3 of 150 pings lost across the rekey (${received} answered)`);
  assert.match(mine.log.join(''), /sending handshake initiation[\s\S]*session established[\s\S]*sending handshake initiation[\s\S]*session established/);
});
