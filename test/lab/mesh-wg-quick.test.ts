/**
 * wg-quick driving a userspace implementation (WG_QUICK_USERSPACE_IMPLEMENTATION), with
 * netmend-wg and with wireguard-go, the same checks for both: up, ping both ways, a full tunnel
 * (AllowedIPs = 0.0.0.0/0, ::/0) to an address behind a wireguard-go peer without a routing loop
 * (the implementation's UDP sockets must carry wg-quick's fwmark), `wg show`/`showconf`/
 * `set peer remove`, down removing the rules and the interface, and down+up at once (the name
 * and the control socket must be free right after the link is deleted).
 * wg-quick runs inside a namespace with a config file in a temporary directory and no DNS line,
 * so it never touches the host's /etc or resolv.conf.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, projectRoot, run, uniqueName } from './harness.js';
import { b64, ping, pingUntilReply, waitFor, wireguardGoMissing, wireguardGoPeerWithAddressBehind } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing() ?? (existsSync('/usr/bin/wg-quick') ? undefined : 'wg-quick is not installed')
  ?? (existsSync('/sys/module/wireguard') ? 'the WireGuard kernel module is loaded: wg-quick would not use a userspace implementation' : undefined);

const implementations: Array<[string, string]> = [
  ['netmend-wg', join(projectRoot, 'bin', 'netmend-wg.js')],
  ['wireguard-go', 'wireguard-go'],
];

for (const [label, implementation] of implementations) {
  test(`wg-quick with ${label}: full tunnel without a loop, wg show/showconf/set, down, down+up at once`, { skip, timeout: 180_000 }, async (t) => {
    const lab = Lab.forTest(t);
    const { nsA, nsB, mine, peer } = await wireguardGoPeerWithAddressBehind(lab, 51900);
    const iface = uniqueName('nmq');

    const file = join(lab.tmpdir(), `${iface}.conf`);
    writeFileSync(file, [
      '[Interface]', `PrivateKey = ${b64(mine.privateKey)}`, 'Address = 10.242.0.1/24, fd42::1/64', 'ListenPort = 51900', '',
      '[Peer]', `PublicKey = ${b64(peer.publicKey)}`, 'Endpoint = 10.241.0.2:51901', 'AllowedIPs = 0.0.0.0/0, ::/0', '',
    ].join('\n'), { mode: 0o600 });
    const env = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: implementation };
    const wgQuick = (action: 'up' | 'down') => lab.exec(nsA, 'wg-quick', [action, file], { env, timeoutMs: 60_000 });
    const daemons = async () => (await run('ip', ['netns', 'pids', nsA])).stdout.split(/\s+/).filter((word) => /^\d+$/.test(word));
    lab.onCleanup(async () => {
      await run('ip', ['-n', nsA, 'link', 'del', iface]);
      for (const pid of await daemons()) { try { process.kill(Number(pid), 'SIGTERM'); } catch { /* gone */ } }
    });

    const up = await wgQuick('up');
    assert.equal(up.code, 0, up.stderr);
    assert.equal((await daemons()).length, 1, 'wg-quick started the userspace implementation');

    // Both ways through the tunnel, then the full tunnel to an address behind the peer.
    assert.ok(await pingUntilReply(lab, nsA, '10.242.0.2'), 'ping A -> B through the tunnel');
    assert.ok((await ping(lab, nsB, '10.242.0.1')).ok, 'ping B -> A through the tunnel');
    assert.ok((await ping(lab, nsA, '10.99.0.1')).ok, 'ping to an address behind the peer, via the default route through the tunnel');
    assert.ok((await ping(lab, nsA, 'fd42::2')).ok, 'IPv6 through the tunnel');
    // No loop: the implementation's own datagrams carry the mark the `not fwmark` rule exempts.
    const sockets = await lab.exec(nsA, 'ss', ['-u', '-a', '-n', '-e']);
    assert.match(sockets.stdout, /:51900 .*fwmark:0xca6c/, sockets.stdout);
    assert.match(await lab.ip(nsA, 'rule', 'show'), /not from all fwmark 0xca6c lookup 51820/);

    const show = await lab.exec(nsA, 'wg', ['show', iface]);
    assert.match(show.stdout, /fwmark: 0xca6c/);
    assert.match(show.stdout, new RegExp(`peer: ${b64(peer.publicKey).replace(/[+/]/g, '.')}`));
    assert.match(show.stdout, /latest handshake: /);
    const showconf = await lab.exec(nsA, 'wg', ['showconf', iface]);
    assert.match(showconf.stdout, /FwMark = 0xca6c/);
    assert.match(showconf.stdout, /AllowedIPs = 0\.0\.0\.0\/0, ::\/0/);
    assert.match(showconf.stdout, /Endpoint = 10\.241\.0\.2:51901/);

    assert.equal((await lab.exec(nsA, 'wg', ['set', iface, 'peer', b64(peer.publicKey), 'remove'])).code, 0);
    assert.equal((await lab.exec(nsA, 'wg', ['show', iface, 'peers'])).stdout.trim(), '');
    assert.equal((await lab.exec(nsA, 'ping', ['-c', '1', '-W', '1', '10.99.0.1'])).code, 1, 'no peer, no way out');
    assert.equal((await lab.exec(nsA, 'wg', ['set', iface, 'peer', b64(peer.publicKey), 'endpoint', '10.241.0.2:51901', 'allowed-ips', '0.0.0.0/0,::/0'])).code, 0);
    assert.ok(await pingUntilReply(lab, nsA, '10.99.0.1'), 'the restored peer carries the full tunnel again');

    // Down and up again at once: the name and the control socket must already be free.
    const cycle = await lab.exec(nsA, 'sh', ['-c', `wg-quick down '${file}' && wg-quick up '${file}'`], { env, timeoutMs: 60_000 });
    assert.equal(cycle.code, 0, cycle.stderr);
    assert.ok(await pingUntilReply(lab, nsA, '10.99.0.1'), 'the full tunnel works after down+up');

    const down = await wgQuick('down');
    assert.equal(down.code, 0, down.stderr);
    assert.notEqual((await lab.exec(nsA, 'ip', ['link', 'show', iface])).code, 0, 'the interface is gone');
    const rules = await lab.ip(nsA, 'rule', 'show');
    assert.doesNotMatch(rules, /51820|suppress_prefixlength/, rules);
    assert.doesNotMatch(await lab.ip(nsA, '-6', 'rule', 'show'), /51820|suppress_prefixlength/);
    await waitFor(async () => (await daemons()).length === 0, 10_000, 'the implementation to exit after down');
    assert.equal(existsSync(`/var/run/wireguard/${iface}.sock`), false);
  });
}
