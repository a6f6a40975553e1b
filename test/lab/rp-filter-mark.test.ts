/**
 * Strict rp_filter on a host using an exit node, with the kernel as the judge. tailscaled's own
 * packets (mark 0x80000) leave through the uplink; the reply arrives there while table 52's
 * default route points the reverse path at the tunnel. tailscaled's connmark rules put the mark
 * back on the reply, and with net.ipv4.conf.all.src_valid_mark=1 the kernel's reverse-path check
 * uses it: the reply is delivered and routes.rp-filter-strict must pass. Without src_valid_mark
 * the same reply is dropped, and the check must fail naming that sysctl.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable } from './harness.js';
import { doctorJson, type DoctorCheckJson } from './doctor-json.js';

const skip = labUnavailable();
const EXIT_NODE_ENDPOINT = '198.51.100.1';

test('strict rp_filter with tailscaled\'s connmark rules: src_valid_mark decides whether the reply arrives, and the check agrees', { skip, timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { host, peer: isp, hostIf: wan } = await lab.linkedPair(
    { label: 'rp', ifPrefix: 'rpw', addresses: ['10.50.0.2/24'] },
    { label: 'ri', ifPrefix: 'rpi', addresses: ['10.50.0.1/24'] },
    { gateway: '10.50.0.1' },
  );
  await lab.ip(isp, 'addr', 'add', `${EXIT_NODE_ENDPOINT}/32`, 'dev', 'lo');
  // An exit node: table 52 takes the default; the uplink's own subnet is thrown back to main.
  await lab.tun(host, 'tailscale0', { addresses: ['100.100.1.2/32'] });
  await lab.tailscaleRules(host, { families: [4] });
  await lab.ip(host, 'route', 'add', 'default', 'dev', 'tailscale0', 'table', '52');
  await lab.ip(host, 'route', 'add', 'throw', '10.50.0.0/24', 'table', '52');
  for (const setting of ['net.ipv4.conf.all.rp_filter=1', `net.ipv4.conf.${wan}.rp_filter=1`]) await lab.exec(host, 'sysctl', ['-qw', setting]);
  // tailscaled's rules (util/linuxfw, netfilter mode on).
  for (const rule of [
    ['-A', 'PREROUTING', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'CONNMARK', '--restore-mark', '--nfmask', '0xff0000', '--ctmask', '0xff0000'],
    ['-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'mark', '!', '--mark', '0x0/0xff0000', '-j', 'CONNMARK', '--save-mark', '--nfmask', '0xff0000', '--ctmask', '0xff0000'],
  ]) {
    const added = await lab.exec(host, 'iptables', ['-t', 'mangle', ...rule]);
    assert.equal(added.code, 0, added.stderr);
  }
  // tailscaled's own packet: marked 0x80000, so rule 5210 sends it out of the uplink.
  const reply = async () => (await lab.exec(host, 'ping', ['-c', '1', '-W', '2', '-m', String(0x80000), EXIT_NODE_ENDPOINT])).code === 0;
  const check = async (): Promise<DoctorCheckJson> => (await doctorJson(lab, host, ['doctor', 'routes', '--check', 'routes.rp-filter-strict'])).document.checks[0];

  await lab.exec(host, 'sysctl', ['-qw', 'net.ipv4.conf.all.src_valid_mark=1']);
  assert.equal(await reply(), true, 'with src_valid_mark=1 the restored mark routes the reverse path through main: the reply arrives');
  const passing = await check();
  assert.equal(passing.status, 'pass', `${passing.summary}\n${passing.evidence.join('\n')}`);
  assert.match(passing.summary, /mark 0x80000 back \(connmark rules\) and src_valid_mark=1/);

  await lab.exec(host, 'sysctl', ['-qw', 'net.ipv4.conf.all.src_valid_mark=0']);
  // A new flow (another ICMP id): without src_valid_mark the reverse path ignores the mark.
  assert.equal(await reply(), false, 'without src_valid_mark strict rp_filter drops the reply');
  const failing = await check();
  assert.equal(failing.status, 'fail', failing.summary);
  assert.match(failing.summary, /src_valid_mark is off/);
  assert.equal(failing.fix?.command, 'sysctl -w net.ipv4.conf.all.src_valid_mark=1');
  assert.ok(failing.evidence.some((line) => /CONNMARK --restore-mark/.test(line)), failing.evidence.join('\n'));

  // Without the connmark rules (netfilter mode off) strict mode cannot work: loose mode is the fix.
  await lab.exec(host, 'iptables', ['-t', 'mangle', '-F']);
  await lab.exec(host, 'sysctl', ['-qw', 'net.ipv4.conf.all.src_valid_mark=1']);
  assert.equal(await reply(), false, 'no restored mark: the reply is dropped even with src_valid_mark');
  const noRules = await check();
  assert.equal(noRules.status, 'fail', noRules.summary);
  assert.match(noRules.fix?.command ?? '', /rp_filter=2/);
});
