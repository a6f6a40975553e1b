/**
 * `netmend node up -c FILE` with what wg-quick would do for the same file: AllowedIPs = 0.0.0.0/0
 * becomes a full tunnel through its own table and wg-quick's two rules, with the node's own
 * datagrams marked so they do not loop; `DNS =` goes to the host's resolver manager. Both are
 * undone on shutdown.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, netmendBin, run } from './harness.js';
import { b64, ping, pingUntilReply, waitFor, wireguardGoMissing, wireguardGoPeerWithAddressBehind } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

/** netmend's config for the peer of wireguardGoPeerWithAddressBehind, with a full tunnel. */
async function fullTunnelLab(lab: Lab, port: number) {
  const { nsA, nsB, mine, peer } = await wireguardGoPeerWithAddressBehind(lab, port);
  const config = (extra: string[]) => {
    const file = join(lab.tmpdir(), `${mine.iface}.conf`);
    writeFileSync(file, ['[Interface]', `PrivateKey = ${b64(mine.privateKey)}`, 'Address = 10.242.0.1/24', `ListenPort = ${port}`, ...extra, '',
      '[Peer]', `PublicKey = ${b64(peer.publicKey)}`, `Endpoint = 10.241.0.2:${port + 1}`, 'AllowedIPs = 0.0.0.0/0', ''].join('\n'), { mode: 0o600 });
    return file;
  };
  return { nsA, nsB, mine, peer, config };
}

test('node up -c with AllowedIPs = 0.0.0.0/0: a full tunnel as wg-quick builds it, no loop, rules removed on down', { skip, timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, mine, config } = await fullTunnelLab(lab, 51950);
  const file = config([]);
  const child = lab.spawn(nsA, process.execPath, [netmendBin, 'node', 'up', '-c', file], { env: { ...process.env, NETMEND_RUN_DIR: lab.tmpdir() } });
  let log = '';
  child.stderr?.on('data', (chunk) => { log += String(chunk); });
  lab.onCleanup(() => run('ip', ['-n', nsA, 'link', 'del', mine.iface]).then(() => undefined));
  await waitFor(() => log.includes(' up: ') || child.exitCode !== null, 30_000, 'node up');
  assert.equal(child.exitCode, null, log);

  const rules = await lab.ip(nsA, 'rule', 'show');
  assert.match(rules, /not from all fwmark 0xca6c lookup 51820/, rules);
  assert.match(rules, /from all lookup main suppress_prefixlength 0/, rules);
  assert.match(await lab.ip(nsA, 'route', 'show', 'table', '51820'), new RegExp(`default dev ${mine.iface}`));
  assert.match((await lab.exec(nsA, 'ss', ['-u', '-a', '-n', '-e'])).stdout, /:51950 .*fwmark:0xca6c/);
  // The address behind the peer is only reachable through the tunnel's default route.
  assert.ok(await pingUntilReply(lab, nsA, '10.99.0.1'), `full tunnel ping: ${log}`);
  assert.ok((await ping(lab, nsA, '10.99.0.1')).ok);

  child.kill('SIGTERM');
  await waitFor(() => child.exitCode !== null, 10_000, 'node exit');
  assert.equal(child.exitCode, 0, log);
  const after = await lab.ip(nsA, 'rule', 'show');
  assert.doesNotMatch(after, /51820|suppress_prefixlength/, after);
  assert.notEqual((await lab.exec(nsA, 'ip', ['link', 'show', mine.iface])).code, 0);
});

/**
 * A directory to put first on PATH that holds a `resolvconf`: none when the host has one, else
 * Debian's openresolv, fetched with `apt-get download` and unpacked once into /var/tmp (nothing is
 * installed on the host), its script pointed at its own subscribers and at an empty configuration
 * directory, so it writes only /etc/resolv.conf and /run/resolvconf, which the test makes private.
 */
async function resolvconfDir(lab: Lab): Promise<string | undefined> {
  if (existsSync('/sbin/resolvconf') || existsSync('/usr/sbin/resolvconf')) return undefined;
  const unpacked = '/var/tmp/netmend-openresolv';
  if (!existsSync(join(unpacked, 'sbin', 'resolvconf'))) {
    const download = mkdtempSync('/var/tmp/netmend-openresolv-');
    try {
      const fetched = await run('sh', ['-c', `cd '${download}' && apt-get download -q openresolv && dpkg -x openresolv_*.deb root`], { timeoutMs: 120_000 });
      if (fetched.code !== 0) throw new Error(`apt-get download openresolv failed: ${fetched.stderr}`);
      rmSync(unpacked, { recursive: true, force: true });
      renameSync(join(download, 'root'), unpacked);
    } finally {
      rmSync(download, { recursive: true, force: true });
    }
  }
  const bin = join(lab.tmpdir(), 'resolvconf-bin');
  const sysconf = join(lab.tmpdir(), 'resolvconf-etc');
  mkdirSync(bin);
  mkdirSync(sysconf);
  const script = readFileSync(join(unpacked, 'sbin', 'resolvconf'), 'utf8')
    .replace(/^SYSCONFDIR=.*$/m, `SYSCONFDIR=${sysconf}`)
    .replace(/^LIBEXECDIR=.*$/m, `LIBEXECDIR=${join(unpacked, 'lib', 'resolvconf')}`);
  writeFileSync(join(bin, 'resolvconf'), script);
  chmodSync(join(bin, 'resolvconf'), 0o755);
  return bin;
}

test('node up -c with DNS =: given to resolvconf while up, withdrawn on down (in a private mount namespace)', { skip, timeout: 240_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const resolvconf = await resolvconfDir(lab);
  const { nsA, mine, config } = await fullTunnelLab(lab, 51960);
  const file = config(['DNS = 10.99.0.53, mesh.example']);
  // resolvconf writes /etc/resolv.conf and keeps state under /run: both private to this test.
  const resolv = join(lab.tmpdir(), 'resolv.conf');
  writeFileSync(resolv, 'nameserver 192.0.2.1\n');
  const script = `mount --make-rprivate / && mount --bind '${resolv}' /etc/resolv.conf && mount -t tmpfs tmpfs /run && exec '${process.execPath}' '${netmendBin}' node up -c '${file}'`;
  const child = lab.spawn(nsA, 'unshare', ['-m', 'sh', '-c', script], { env: { ...process.env, NETMEND_RUN_DIR: '/run/netmend', PATH: `${resolvconf ? `${resolvconf}:` : ''}${process.env.PATH}` } });
  let log = '';
  child.stderr?.on('data', (chunk) => { log += String(chunk); });
  lab.onCleanup(() => run('ip', ['-n', nsA, 'link', 'del', mine.iface]).then(() => undefined));
  await waitFor(() => log.includes(' up: ') || child.exitCode !== null, 30_000, 'node up');
  assert.equal(child.exitCode, null, log);
  assert.match(log, /applied through resolvconf/);
  assert.match(readFileSync(resolv, 'utf8'), /nameserver 10\.99\.0\.53/);
  child.kill('SIGTERM');
  await waitFor(() => child.exitCode !== null, 10_000, 'node exit');
  assert.doesNotMatch(readFileSync(resolv, 'utf8'), /10\.99\.0\.53/);
});
