/** fix forwarding's renderings: the OpenWrt firewall sections (user sections kept byte for byte, idempotent) and the iptables jump position. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { jumpPosition, uciFirewall, type ForwardingWants } from '../../src/fix/forwarding.js';
import { parseUci } from '../../src/fix/uci.js';
import { projectRoot } from '../lab/harness.js';

const wants: ForwardingWants = { tunnel: 'wg0', lans: ['br-lan'], wans: ['wan'], masquerade: true, fromMesh: true, port: 51820 };

test('uciFirewall: zone with masq, both forwardings and the port rule; the stock sections untouched; a second run changes nothing', () => {
  const stock = readFileSync(join(projectRoot, 'test/openwrt/fixtures/config/firewall'), 'utf8');
  const once = uciFirewall(stock, 'firewall', wants, ['lan'], 'wan');
  assert.ok(once.startsWith(stock.replace(/\n+$/, '\n')), 'the user\'s sections are kept byte for byte');
  const ours = parseUci(once, 'firewall').filter((section) => section.name?.startsWith('netmend_'));
  assert.deepEqual(ours.map((section) => `${section.type} ${section.name}`), ['zone netmend_mesh', 'forwarding netmend_lan_mesh', 'forwarding netmend_mesh_lan', 'rule netmend_mesh_port']);
  assert.match(once, /config zone 'netmend_mesh'\n\toption name 'nm_mesh'\n\tlist device 'wg0'\n.*\toption masq '1'/s);
  assert.match(once, /config rule 'netmend_mesh_port'\n\toption name 'Allow-netmend-mesh-port'\n\toption src 'wan'\n\toption proto 'udp'\n\toption dest_port '51820'\n\toption target 'ACCEPT'/);
  assert.equal(uciFirewall(once, 'firewall', wants, ['lan'], 'wan'), once);
  const fewer = uciFirewall(once, 'firewall', { ...wants, fromMesh: false, port: undefined }, ['lan'], 'wan');
  assert.doesNotMatch(fewer, /netmend_mesh_lan|netmend_mesh_port/);
});

test('jumpPosition: after tailscaled\'s leading ts-* jumps, first otherwise', () => {
  const save = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ts-input\n-A INPUT -i lo -j ACCEPT\n-A FORWARD -j ts-forward\nCOMMIT\n*nat\n-A POSTROUTING -j ts-postrouting\nCOMMIT\n';
  assert.equal(jumpPosition(save, 'filter', 'INPUT'), 2);
  assert.equal(jumpPosition(save, 'filter', 'FORWARD'), 2);
  assert.equal(jumpPosition(save, 'nat', 'POSTROUTING'), 2);
  assert.equal(jumpPosition('*filter\n-A FORWARD -j DROP\nCOMMIT\n', 'filter', 'FORWARD'), 1);
});
