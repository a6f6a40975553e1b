/**
 * Undo of fix forwarding on iptables-nft puts the nf_tables ruleset back as it was. The router's
 * only firewall is `iptables -P FORWARD DROP` (table ip filter with one chain FORWARD): the fix's
 * rules create the table ip nat and the built-in chains INPUT and POSTROUTING, which iptables
 * cannot remove again. After undo, `nft list ruleset` is what it was before the fix. And when
 * another program added NAT rules of its own after the fix (as Docker does), undo keeps the
 * table and those rules, and removes only the chain of the fix's that is still empty.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardLab, iptables, iptablesSave, pings, type ForwardLab } from './forward-lab.js';
import { labUnavailable } from './harness.js';
import { wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

/** The ruleset without counters, to compare before and after. */
async function nftRuleset(f: ForwardLab): Promise<string> {
  const listed = await f.lab.exec(f.router, 'nft', ['-s', 'list', 'ruleset']);
  assert.equal(listed.code, 0, listed.stderr);
  return listed.stdout;
}

test('fix forwarding on iptables-nft: undo removes the nat table and built-in chains the fix created, and keeps what another program put there since', { skip, timeout: 180_000 }, async (t) => {
  const f = await forwardLab(t);
  await iptables(f, ['-P FORWARD DROP']);
  const before = await nftRuleset(f);
  assert.doesNotMatch(before, /table ip nat|chain INPUT/, before);
  assert.equal(await pings(f, '10.9.0.2'), false);

  const apply = () => f.netmend(['fix', 'forwarding', '--masquerade', '--allow-port', '--root', f.root, '--apply']);
  const applied = await apply();
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /fix forwarding \(iptables, netmend unit\)/);
  assert.equal(await pings(f, '10.9.0.2'), true);
  assert.match(await nftRuleset(f), /table ip nat \{[^]*chain POSTROUTING/);

  const undo = await f.netmend(['fix', 'undo', '--root', f.root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.equal(await nftRuleset(f), before, 'undo leaves the nf_tables ruleset as it was: no table ip nat, no chain INPUT');
  assert.equal(await pings(f, '10.9.0.2'), false);

  // Another program's NAT rule after the fix: the table is no longer the fix's to remove.
  const again = await apply();
  assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
  const dnat = '-A PREROUTING -i lo -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.50.2:80';
  await iptables(f, [`-t nat ${dnat}`]);
  const undoAgain = await f.netmend(['fix', 'undo', '--root', f.root]);
  assert.equal(undoAgain.code, 0, `${undoAgain.stdout}\n${undoAgain.stderr}`);
  assert.match(undoAgain.stdout, /table ip nat: kept, it holds a rule in chain PREROUTING/);
  const after = await nftRuleset(f);
  assert.match(after, /table ip nat \{\n\tchain PREROUTING \{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname "lo" tcp dport 8080 counter dnat to 192\.168\.50\.2:80\n\t\}\n\}/, after);
  assert.equal(after.replace(/table ip nat \{[^]*?\n\}\n/, ''), before, 'apart from the other program\'s table, the ruleset is as before');
  assert.ok((await iptablesSave(f)).includes(dnat), 'the other program\'s rule is intact');
});
