/**
 * A remote host is asked over one ssh connection per netmend run, however many files and
 * commands the run gathers there (a router behind a slow link or a login prompt is asked once),
 * counted in the log of a real sshd. And what the remote shell says when a command is missing
 * reaches the user.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, must, uniqueName } from './harness.js';
import { acceptedLogins, startSshd } from './sshd.js';

/** A host with a LAN, a default route and a mesh tunnel with tailscaled's rules: every routes check has something to read. */
async function meshHost(lab: Lab): Promise<string> {
  const { host: ns } = await lab.linkedPair(
    { label: 'sc', ifPrefix: 'lan', addresses: ['192.168.7.1/24'] },
    { label: 'sp', ifPrefix: 'lanp' },
    { gateway: '192.168.7.2' },
  );
  const tun = uniqueName('tailscale');
  await lab.tun(ns, tun, { addresses: ['100.100.7.2/32'] });
  await lab.tailscaleRules(ns);
  await lab.ip(ns, 'route', 'add', '100.64.0.0/10', 'dev', tun, 'table', '52');
  return ns;
}

test('doctor routes, doctor and snapshot --ssh each log in once', { skip: labUnavailable(), timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await meshHost(lab);
  const sshd = await startSshd(lab, ns);
  // A TMPDIR of its own, to see that the ssh control directory does not outlive the run.
  const tmp = lab.tmpdir();
  const env = { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv, TMPDIR: tmp };
  let before = await acceptedLogins(lab, ns, sshd);
  for (const args of [['doctor', 'routes', '--json'], ['doctor', '--json'], ['snapshot'], ['snapshot', '--source', 'ip-json']]) {
    const result = await lab.netmend(ns, [...args, '--ssh', sshd.target], { env, timeoutMs: 120_000 });
    assert.ok(result.code === 0 || result.code === 1, `${args.join(' ')}: exit ${result.code}: ${result.stderr}`);
    assert.doesNotThrow(() => JSON.parse(result.stdout), `${args.join(' ')} printed no JSON`);
    const after = await acceptedLogins(lab, ns, sshd);
    assert.equal(after - before, 1, `${args.join(' ')} --ssh logged in ${after - before} times:\n${sshd.log()}`);
    before = after;
    assert.deepEqual(readdirSync(tmp), [], `${args.join(' ')} left its ssh control directory behind`);
    // The master connection ends with the run (it would otherwise linger for its idle time).
    await lab.waitFor(async () => (await lab.exec(ns, 'ss', ['-Htn', 'state', 'established', '( sport = :2222 )'])).stdout.trim() === '', 20_000, `${args.join(' ')}'s ssh connection to close`);
  }
});

test('a command missing on the remote host is reported with what its shell said', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('sm');
  // The host's tools are busybox applets, without ip.
  const bin = mkdtempSync(join(tmpdir(), 'netmend-noip-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  await must('busybox', ['--install', '-s', bin]);
  unlinkSync(join(bin, 'ip'));
  const sshd = await startSshd(lab, ns, { env: { PATH: bin } });
  for (const args of [['doctor', 'routes'], ['snapshot']]) {
    const result = await lab.netmend(ns, [...args, '--ssh', sshd.target], { env: { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv } });
    assert.equal(result.code, 3, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /`ip addr show` failed on ssh root@127\.0\.0\.1 with exit code 127: sh: ip: not found/);
  }
});
