/**
 * The mesh checks as pure functions: every Tailscale scenario (the same JSON the CLI stand-in
 * prints in the lab tests) to its verdicts, "cannot tell" on an older client, WireGuard dumps
 * with stale handshakes and NAT without keepalive, the STUN codec and the mapping verdicts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshChecks } from '../../src/doctor/checks/mesh/index.js';
import { mappingBehaviour } from '../../src/doctor/checks/mesh/nat-mapping.js';
import { hasRelayedActivePeer, MESH_TAILSCALE_GATHERER, TAILSCALE_CERT_DIRS, type MeshTailscaleFacts } from '../../src/doctor/gather/mesh-tailscale.js';
import { STUN_GATHERER } from '../../src/doctor/gather/stun.js';
import { hasStalePeer, WIREGUARD_GATHERER, type WireguardFacts } from '../../src/doctor/gather/wireguard.js';
import { runCheck } from '../../src/doctor/run.js';
import type { CheckResult, HostState } from '../../src/doctor/types.js';
import { encodeBindingRequest, parseStunResponse, parseStunTarget, type StunAnswer } from '../../src/net/stun.js';
import type { Snapshot } from '../../src/snapshot/types.js';
import type { TailscaleNetcheck, TailscalePrefs, TailscaleServeConfig, TailscaleStatus } from '../../src/tailscale/json.js';
import { parseWgDump } from '../../src/wireguard/dump.js';
import { EXPECTED_TAILSCALE, scenarios, TAILSCALE_IDS, type Scenario } from '../mesh/tailscale-scenarios.js';
import { checkOptions, route } from './check-fixtures.js';

const options = checkOptions;
const NOW = Date.parse('2026-03-01T12:00:00Z');


/** A host in LAN 192.168.77.0/24 (eth0) behind a gateway, with wg0. */
function snapshot(): Snapshot {
  return {
    version: 1, host: 'unit', takenAt: '2026-03-01T12:00:00Z', source: 'file',
    links: [
      { index: 1, name: 'lo', kind: 'loopback', flags: ['UP'], mtu: 65536, operstate: 'UNKNOWN', address: null },
      { index: 2, name: 'eth0', kind: 'veth', flags: ['UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01' },
      { index: 3, name: 'wg0', kind: 'wireguard', flags: ['UP', 'LOWER_UP', 'POINTOPOINT'], mtu: 1420, operstate: 'UNKNOWN', address: null },
    ],
    addresses: [{ ifindex: 2, dev: 'eth0', family: 4, local: '192.168.77.10', prefixlen: 24, scope: 'global', flags: [] }],
    routes: [
      route({ dst: '0.0.0.0/0', gateway: '192.168.77.1', dev: 'eth0' }),
      route({ dst: '192.168.77.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.168.77.10' }),
      route({ dst: '192.168.77.10/32', dev: 'eth0', table: 255, type: 'local', protocol: 'kernel', scope: 'host', prefsrc: '192.168.77.10' }),
    ],
    rules: [
      { family: 4, priority: 0, not: false, action: 'lookup', table: 255 },
      { family: 4, priority: 32766, not: false, action: 'lookup', table: 254 },
      { family: 4, priority: 32767, not: false, action: 'lookup', table: 253 },
    ],
    sysctls: { interfaces: {} },
  };
}

function output<T>(command: string, value: T | undefined, error: string | undefined) {
  return error !== undefined ? { command, error } : { command, value };
}

/** The facts the gatherer would have built from the scenario's CLI output. */
function tailscaleState(scenario: Scenario): HostState {
  const facts: MeshTailscaleFacts = {
    now: NOW,
    status: output('tailscale status --json', scenario.status as TailscaleStatus | undefined, scenario.errors?.status),
    prefs: output('tailscale debug prefs', scenario.prefs as TailscalePrefs | undefined, scenario.errors?.prefs),
    serve: output('tailscale serve status --json', (scenario.serve ?? null) as TailscaleServeConfig | null, scenario.errors?.serve),
    certDirs: scenario.certs ? [{ dir: TAILSCALE_CERT_DIRS[0], files: scenario.certs }] : [],
  };
  if (hasRelayedActivePeer(facts.status.value)) facts.netcheck = output('tailscale netcheck --format=json', scenario.netcheck as TailscaleNetcheck | undefined, scenario.errors?.netcheck);
  return { snapshot: snapshot(), facts: { [MESH_TAILSCALE_GATHERER]: facts }, gatherErrors: {} };
}

function results(state: HostState): Record<string, CheckResult> {
  return Object.fromEntries(meshChecks.map((check) => [check.id, runCheck(check, state, options)]));
}

test('mesh tailscale checks: every scenario gets its verdicts', () => {
  const all = scenarios(NOW);
  assert.deepEqual(Object.keys(all).sort(), Object.keys(EXPECTED_TAILSCALE).sort());
  for (const [name, scenario] of Object.entries(all)) {
    const byId = results(tailscaleState(scenario));
    assert.deepEqual(TAILSCALE_IDS.map((id) => byId[id].status), EXPECTED_TAILSCALE[name], `${name}: ${TAILSCALE_IDS.map((id) => `${id} ${byId[id].status} ${byId[id].summary}`).join('\n')}`);
  }
});

test('mesh tailscale checks: findings name the cause, the date and the command', () => {
  const all = scenarios(NOW);
  const down = results(tailscaleState(all['daemon-down']))['mesh.daemon'];
  assert.match(down.summary, /doesn't appear to be running/);
  assert.equal(down.fix?.command, 'systemctl start tailscaled');

  const expired = results(tailscaleState(all['key-expired']));
  assert.match(expired['mesh.key-expiry'].summary, /expired on 2026-02-27T12:00:00Z/);
  assert.match(expired['mesh.daemon'].summary, /NeedsLogin/);
  assert.ok(expired['mesh.daemon'].evidence.includes('log in at: https://login.tailscale.com/a/0123456789ab'));

  const expiring = results(tailscaleState(all['key-expiring']))['mesh.key-expiry'];
  assert.match(expiring.summary, /expires on 2026-03-04T13:00:00Z \(in 3 days\)/);
  assert.ok(expiring.evidence.some((line) => /peer old-nas: key expired 2026-02-19/.test(line)), expiring.evidence.join('\n'));

  const hardNat = results(tailscaleState(all['relayed-hard-nat']))['mesh.peer-relayed'];
  assert.match(hardNat.summary, /laptop.*NAT maps per destination/);
  assert.ok(hardNat.evidence.some((line) => /no UPnP, NAT-PMP or PCP/.test(line)));
  assert.match(hardNat.fix!.command, /forward UDP 41641/);
  const udp = results(tailscaleState(all['relayed-udp-blocked']))['mesh.peer-relayed'];
  assert.match(udp.summary, /UDP is blocked/);

  const funnel = results(tailscaleState(all['funnel-stale']))['mesh.funnel-stale'];
  assert.ok(funnel.evidence.some((line) => line.includes('funnel=on for oldbox.tailnet-1234.ts.net:443, a name this node no longer has')), funnel.evidence.join('\n'));
  assert.equal(funnel.fix?.command, 'tailscale serve reset && rm /var/lib/tailscale/certs/oldbox.tailnet-1234.ts.net.crt /var/lib/tailscale/certs/oldbox.tailnet-1234.ts.net.key');
  assert.equal(funnel.summary, '2 serve/Funnel entries and 2 certificate files for a name this node no longer has (oldbox.tailnet-1234.ts.net; now router.tailnet-1234.ts.net)');
  // Funnel on for the current name with nothing served on the port: what `tailscale serve status` warns about.
  const orphan = scenarios(NOW).healthy;
  delete (orphan.serve as { TCP?: unknown }).TCP;
  const orphaned = results(tailscaleState(orphan))['mesh.funnel-stale'];
  assert.equal(orphaned.status, 'warn');
  assert.equal(orphaned.summary, 'serve: funnel=on for router.tailnet-1234.ts.net:443, but no serve config on port 443');

  const notAccepted = results(tailscaleState(all['routes-not-accepted']))['mesh.routes-not-accepted'];
  assert.match(notAccepted.summary, /10\.20\.0\.0\/24 from office-gw/);
  assert.equal(notAccepted.fix?.command, 'tailscale set --accept-routes');
  const shadow = results(tailscaleState(all['routes-shadow-lan']))['mesh.routes-not-accepted'];
  assert.match(shadow.summary, /192\.168\.77\.0\/24 from home-gw covers this host's own LAN 192\.168\.77\.0\/24 \(eth0\).*routes\.subnet-shadows-lan/);

  assert.match(results(tailscaleState(all['exit-node-offline']))['mesh.exit-node'].summary, /exit-ams is offline/);
  assert.match(results(tailscaleState(all['exit-node-withdrawn']))['mesh.exit-node'].summary, /exit-ams no longer offers itself/);
});

test('mesh tailscale checks: an older client without the fields is "cannot tell", never a guess', () => {
  const byId = results(tailscaleState(scenarios(NOW)['older-client']));
  assert.match(byId['mesh.key-expiry'].summary, /^cannot tell: tailscale 1\.20\.4.* does not report KeyExpiry/);
  assert.match(byId['mesh.peer-relayed'].summary, /^cannot tell which peers are active/);
  assert.match(byId['mesh.routes-not-accepted'].summary, /^cannot tell: .*neither PrimaryRoutes nor AllowedIPs/);
  assert.match(byId['mesh.funnel-stale'].summary, /^cannot tell: `tailscale serve status --json` failed/);
  // The same status from a client that has the field means expiry is disabled.
  const modern = scenarios(NOW).healthy;
  delete (modern.status!.Self as Record<string, unknown>).KeyExpiry;
  assert.equal(results(tailscaleState(modern))['mesh.key-expiry'].summary, 'key expiry is disabled for this node');
});

test('mesh tailscale checks: netcheck is only wanted when an active peer is relayed', () => {
  const all = scenarios(NOW);
  assert.equal(hasRelayedActivePeer(all.healthy.status as TailscaleStatus), false);
  assert.equal(hasRelayedActivePeer(all['relayed-hard-nat'].status as TailscaleStatus), true);
  // An offline exit node without CurAddr is not active: no netcheck for it.
  assert.equal(hasRelayedActivePeer(all['exit-node-offline'].status as TailscaleStatus), false);
});

const KEY_A = 'jT3/4ZJb5ffsO9NSx/S5zOFGl7MMI4Y0G0ltDdfvt0A=';
const KEY_B = 'WRvBvBa1bx+sH6tp6qs6jC+/gbIczTEGy+7Nb9pKKlk=';

function wgState(first: string, at: number, second?: { dump: string; at: number }): HostState {
  const facts: WireguardFacts = {
    source: 'wg show IFACE dump',
    first: { at, interfaces: parseWgDump(first) },
    unreadable: [],
    ...(second ? { second: { at: second.at, interfaces: parseWgDump(second.dump) } } : {}),
  };
  return { snapshot: snapshot(), facts: { [WIREGUARD_GATHERER]: facts }, gatherErrors: {} };
}

const iface = `wg0\t(hidden)\t${KEY_A}\t51820\toff`;
const peerLine = (endpoint: string, handshake: number, rx: number, tx: number, keepalive = 'off') => `wg0\t${KEY_B}\t(none)\t${endpoint}\t10.9.0.2/32\t${handshake}\t${rx}\t${tx}\t${keepalive}`;
const wgCheck = meshChecks.find((check) => check.id === 'mesh.wg-handshake')!;

test('wg dump: interface and peer lines, (none)/off and no private key kept', () => {
  const [parsed] = parseWgDump(`${iface}\n${peerLine('(none)', 0, 0, 0)}\n`);
  assert.deepEqual(parsed, { name: 'wg0', publicKey: KEY_A, listenPort: 51820, peers: [{ publicKey: KEY_B, endpoint: undefined, allowedIps: ['10.9.0.2/32'], latestHandshake: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 }] });
});

test('mesh.wg-handshake: a stale handshake fails only while packets keep going out', () => {
  const at = NOW;
  const stale = Math.floor(at / 1000) - 600;
  const first = `${iface}\n${peerLine('192.168.77.20:51820', stale, 1000, 5000)}\n`;
  assert.equal(hasStalePeer({ at, interfaces: parseWgDump(first) }), true);
  const growing = runCheck(wgCheck, wgState(first, at, { dump: `${iface}\n${peerLine('192.168.77.20:51820', stale, 1000, 5148)}\n`, at: at + 6000 }), options);
  assert.equal(growing.status, 'fail');
  assert.match(growing.summary, /last handshake 600 s ago, yet 148 bytes went out in the last 6 s/);
  const idle = runCheck(wgCheck, wgState(first, at, { dump: first, at: at + 6000 }), options);
  assert.equal(idle.status, 'pass', idle.summary);
  const recent = `${iface}\n${peerLine('192.168.77.20:51820', Math.floor(at / 1000) - 30, 1000, 5000)}\n`;
  assert.equal(hasStalePeer({ at, interfaces: parseWgDump(recent) }), false);
});

test('mesh.wg-handshake: never answered, no endpoint on this side, NAT without keepalive', () => {
  const never = runCheck(wgCheck, wgState(`${iface}\n${peerLine('192.168.77.20:51820', 0, 0, 592)}\n`, NOW), options);
  assert.equal(never.status, 'fail');
  assert.match(never.summary, /no handshake ever, 592 bytes sent, 0 received/);
  const noEndpoint = runCheck(wgCheck, wgState(`${iface}\n${peerLine('(none)', 0, 0, 0)}\n`, NOW), options);
  assert.equal(noEndpoint.status, 'warn');
  assert.match(noEndpoint.summary, /no endpoint here and never connected/);
  // 198.51.100.2 is public, this host's source 192.168.77.10 private, via a gateway: NAT.
  const natted = runCheck(wgCheck, wgState(`${iface}\n${peerLine('198.51.100.2:51820', Math.floor(NOW / 1000) - 20, 500, 500)}\n`, NOW), options);
  assert.equal(natted.status, 'warn');
  assert.match(natted.evidence.join('\n'), /from private 192\.168\.77\.10 via 192\.168\.77\.1 dev eth0/);
  assert.equal(natted.fix?.command, `wg set wg0 peer ${KEY_B} persistent-keepalive 25`);
  const kept = runCheck(wgCheck, wgState(`${iface}\n${peerLine('198.51.100.2:51820', Math.floor(NOW / 1000) - 20, 500, 500, '25')}\n`, NOW), options);
  assert.equal(kept.status, 'pass', kept.summary);
  // A peer on the same LAN is not behind NAT.
  const onLan = runCheck(wgCheck, wgState(`${iface}\n${peerLine('192.168.77.20:51820', Math.floor(NOW / 1000) - 20, 500, 500)}\n`, NOW), options);
  assert.equal(onLan.status, 'pass', onLan.summary);
});

test('STUN: a Binding request, and a response with XOR-MAPPED-ADDRESS and OTHER-ADDRESS (RFC 5389/5780)', () => {
  const id = Buffer.from('0102030405060708090a0b0c', 'hex');
  const request = encodeBindingRequest(id);
  assert.equal(request.toString('hex'), '000100002112a442' + id.toString('hex'));
  // RFC 5769 §2.2 style response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, OTHER-ADDRESS 192.0.2.9:3479.
  const xorPort = 32853 ^ 0x2112;
  const xorAddress = (0xc0000201 ^ 0x2112a442) >>> 0;
  const attrs = Buffer.alloc(24);
  attrs.writeUInt16BE(0x0020, 0); attrs.writeUInt16BE(8, 2); attrs[5] = 0x01; attrs.writeUInt16BE(xorPort, 6); attrs.writeUInt32BE(xorAddress, 8);
  attrs.writeUInt16BE(0x802c, 12); attrs.writeUInt16BE(8, 14); attrs[17] = 0x01; attrs.writeUInt16BE(3479, 18); attrs.writeUInt32BE(0xc0000209, 20);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0101, 0); header.writeUInt16BE(attrs.length, 2); header.writeUInt32BE(0x2112a442, 4); id.copy(header, 8);
  const response = parseStunResponse(Buffer.concat([header, attrs]))!;
  assert.deepEqual(response.mapped, { address: '192.0.2.1', port: 32853 });
  assert.deepEqual(response.otherAddress, { address: '192.0.2.9', port: 3479 });
  assert.equal(response.transactionId.toString('hex'), id.toString('hex'));
  assert.equal(parseStunResponse(request), undefined);
  assert.deepEqual(parseStunTarget('stun.example.net'), { host: 'stun.example.net', port: 3478 });
  assert.deepEqual(parseStunTarget('192.0.2.10:3479'), { host: '192.0.2.10', port: 3479 });
  assert.throws(() => parseStunTarget('192.0.2:99'), /not HOST\[:PORT\]/);
  assert.throws(() => parseStunTarget('host:70000'), /not HOST\[:PORT\]/);
});

test('mesh.nat-mapping: endpoint-independent, per destination, RFC 5780 alternate tests, no answer', () => {
  const answer = (label: string, address?: string, port?: number): StunAnswer => (address ? { label, to: { address: label, port: 3478 }, mapped: { address, port: port! } } : { label, to: { address: label, port: 3478 }, error: 'no answer within 3000 ms' });
  assert.equal(mappingBehaviour([answer('a', '203.0.113.7', 41641), answer('b', '203.0.113.7', 41641)], []), 'endpoint-independent');
  assert.equal(mappingBehaviour([answer('a', '203.0.113.7', 40001), answer('b', '203.0.113.7', 52002)], []), 'varies-by-destination');
  assert.equal(mappingBehaviour([answer('a', '203.0.113.7', 40001)], [answer('II', '203.0.113.7', 40001), answer('III', '203.0.113.7', 40001)]), 'endpoint-independent');
  assert.equal(mappingBehaviour([answer('a', '203.0.113.7', 40001)], [answer('II', '203.0.113.7', 40002), answer('III', '203.0.113.7', 40002)]), 'address-dependent');
  assert.equal(mappingBehaviour([answer('a', '203.0.113.7', 40001)], [answer('II', '203.0.113.7', 40002), answer('III', '203.0.113.7', 40003)]), 'address-and-port-dependent');
  assert.equal(mappingBehaviour([answer('a', '203.0.113.7', 40001)], []), 'unknown');

  const natCheck = meshChecks.find((check) => check.id === 'mesh.nat-mapping')!;
  const state = (answers: StunAnswer[]): HostState => ({ snapshot: snapshot(), facts: { [STUN_GATHERER]: { servers: [{ host: 'a', port: 3478 }, { host: 'b', port: 3478 }], measurement: { localPort: 41641, answers, alternate: [] } } }, gatherErrors: {} });
  const blocked = runCheck(natCheck, state([answer('a'), answer('b')]), options);
  assert.equal(blocked.status, 'fail');
  assert.match(blocked.summary, /no STUN server answered/);
  assert.match(runCheck(natCheck, state([answer('a', '203.0.113.7', 41641), answer('b', '203.0.113.7', 41641)]), options).summary, /^endpoint-independent mapping to 203\.0\.113\.7:41641, port 41641 preserved/);
  const hard = runCheck(natCheck, state([answer('a', '203.0.113.7', 40001), answer('b', '203.0.113.7', 52002)]), options);
  assert.equal(hard.status, 'warn');
  assert.match(hard.summary, /a new public port per destination \(hard NAT\), port 41641 not preserved \(public port 40001\)/);
  assert.match(runCheck(natCheck, state([answer('a', '192.168.77.10', 41641), answer('b', '192.168.77.10', 41641)]), options).summary, /^no NAT/);
  assert.match(runCheck(natCheck, { snapshot: snapshot(), facts: { [STUN_GATHERER]: { servers: [] } }, gatherErrors: {} }, options).summary, /^no STUN server given/);
});
