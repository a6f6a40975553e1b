/**
 * An ISP's carrier-grade NAT numbers the WAN from 100.64.0.0/10, the range Tailscale gives its
 * peers. With tailscaled's rules and a 100.64.0.0/10 route in table 52 (its one-route form), the
 * WAN's own subnet (the ISP gateway included) is routed into the tunnel. The doctor names the fix
 * that works (a rule ahead of 5270 keeping the WAN's subnet on main), and running exactly that
 * command makes real traffic to the ISP gateway flow again while mesh peers stay in the tunnel.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable } from './harness.js';
import { doctorJson } from './doctor-json.js';

const skip = labUnavailable();

const WAN = '100.72.1.0/24';
const HOST = '100.72.1.5';
const ISP_GATEWAY = '100.72.1.1';

test('a CGNAT WAN inside 100.64.0.0/10: the doctor\'s fix keeps the WAN subnet on main, proven with ping', { skip, timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { host } = await lab.linkedPair(
    { label: 'cg', ifPrefix: 'cgw', addresses: [`${HOST}/24`] },
    { label: 'ci', ifPrefix: 'cgi', addresses: [`${ISP_GATEWAY}/24`] },
    { gateway: ISP_GATEWAY },
  );
  await lab.tun(host, 'tailscale0', { addresses: ['100.100.1.2/32'] });
  await lab.tailscaleRules(host, { families: [4] });
  await lab.ip(host, 'route', 'add', '100.64.0.0/10', 'dev', 'tailscale0', 'table', '52');
  await lab.ip(host, 'route', 'add', '100.100.100.100', 'dev', 'tailscale0', 'table', '52');
  const ping = async () => (await lab.exec(host, 'ping', ['-c', '1', '-W', '2', ISP_GATEWAY])).code === 0;
  const netmend = (args: string[]) => lab.netmend(host, args, { env: { SSH_CONNECTION: '' }, timeoutMs: 60_000 });

  assert.match(await lab.ip(host, 'route', 'get', ISP_GATEWAY), /dev tailscale0 table 52/);
  assert.equal(await ping(), false, 'the ISP gateway is unreachable: its packets go into the tunnel');

  const doctor = () => doctorJson(lab, host, ['doctor', 'routes'], { SSH_CONNECTION: '' });
  const overlap = (await doctor()).byId['routes.overlapping-advertised'];
  assert.equal(overlap.status, 'fail', overlap.summary);
  assert.match(overlap.summary, /100\.72\.1\.5\/24 on .* inside 100\.64\.0\.0\/10.*goes into the tunnel/);
  assert.equal(overlap.fix?.command, `netmend fix subnet-routes --lan ${WAN}`);
  assert.match(overlap.fix?.explanation ?? '', /--accept-routes=false` does not help/);

  // Exactly the command the doctor printed, applied (persisted with a udev rule under --root).
  const root = lab.tmpdir();
  const applied = await netmend([...overlap.fix!.command.split(' ').slice(1), '--root', root, '--method', 'sysctl', '--apply']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(await lab.ip(host, 'rule'), new RegExp(`^5205:\\s+from all to ${WAN.replace(/\./g, '\\.')} lookup main`, 'm'));
  assert.equal(await ping(), true, 'the ISP gateway answers once the WAN subnet is routed through main');
  assert.match(await lab.ip(host, 'route', 'get', '100.64.0.5'), /dev tailscale0 table 52/, 'mesh peers still go into the tunnel');
  const udev = join(root, 'etc/udev/rules.d/90-netmend-subnet-routes.rules');
  assert.ok(existsSync(udev));
  assert.match(readFileSync(udev, 'utf8'), /rule add to 100\.72\.1\.0\/24 lookup main priority 5205/);

  const fixed = (await doctor()).byId['routes.overlapping-advertised'];
  assert.equal(fixed.status, 'pass', fixed.summary);
  assert.match(fixed.summary, /kept on main by a rule ahead of the mesh's lookup/);
});
