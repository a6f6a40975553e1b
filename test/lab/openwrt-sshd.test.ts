import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable } from './harness.js';
import { sshInNamespace, startSshd } from './sshd.js';

test('the lab sshd runs a command over a real ssh login, with the session environment it was given', { skip: labUnavailable() }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('ssh');
  const sshd = await startSshd(lab, ns, { env: { NETMEND_LAB_MARK: 'hello from sshd' } });
  const result = await sshInNamespace(lab, ns, sshd, 'id -u; echo "$NETMEND_LAB_MARK"; cat /proc/self/net/dev >/dev/null && ip -o link show | wc -l');
  assert.equal(result.code, 0, `${result.stderr}\n${sshd.log()}`);
  const [uid, mark, links] = result.stdout.trim().split('\n');
  assert.equal(uid, '0');
  assert.equal(mark, 'hello from sshd');
  // The session runs inside the lab namespace: only lo exists there.
  assert.equal(links.trim(), '1');

  const refused = await lab.exec(ns, 'ssh', ['-o', 'BatchMode=yes', ...sshd.sshOptions.filter((o) => o !== sshd.clientKey && o !== '-i'), sshd.target, 'true']);
  assert.equal(refused.code, 255, 'a client without the key must be refused');
});
