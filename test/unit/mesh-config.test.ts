import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { DEFAULT_MTU, parseMeshConfig, readMeshConfig } from '../../src/mesh/config.js';
import { encodeKey, generatePresharedKey, generatePrivateKey, publicKeyOf } from '../../src/mesh/keys.js';

const privateKey = generatePrivateKey();
const peerA = publicKeyOf(generatePrivateKey());
const peerB = publicKeyOf(generatePrivateKey());
const psk = generatePresharedKey();

const good = `# the router's mesh
[Interface]
PrivateKey = ${encodeKey(privateKey)}
Address = 10.9.0.1/24, fd09::1/64
Address = 10.9.1.1
ListenPort = 51820
DNS = 10.9.0.53, mesh.example

[Peer]
# laptop
PublicKey = ${encodeKey(peerA)}
AllowedIPs = 10.9.0.2/32, 192.168.7.9/24   # its LAN
AllowedIPs = fd09::2/128
Endpoint = 192.0.2.7:51820
PersistentKeepalive = 25

[peer]
publickey = ${encodeKey(peerB)}
PresharedKey = ${encodeKey(psk)}
Endpoint = [2001:db8::7]:51821
AllowedIPs=10.9.0.3/32
`;

/** Asserts parseMeshConfig fails with an InputError naming FILE:LINE and matching `pattern`. */
function assertConfigError(text: string, line: number, pattern: RegExp, file = '/etc/netmend/mesh0.conf'): InputError {
  let caught: unknown;
  try {
    parseMeshConfig(text, file);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InputError, `expected an InputError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 2);
  assert.ok(caught.message.startsWith(`${file}:${line}: `), caught.message);
  assert.match(caught.message, pattern);
  assert.doesNotMatch(caught.message, new RegExp(encodeKey(privateKey).replace(/[+/=]/g, '\\$&')), 'the private key never appears in errors');
  return caught;
}

function withLine(text: string, search: string, replacement: string): string {
  assert.ok(text.includes(search), `fixture has ${search}`);
  return text.replace(search, replacement);
}

test('a full wg-quick file: repeated [Peer] sections, repeated keys, comma lists, comments', () => {
  const config = parseMeshConfig(good, '/etc/netmend/mesh0.conf');
  assert.equal(config.iface, 'mesh0');
  assert.deepEqual(config.interface.privateKey, privateKey);
  assert.deepEqual(config.interface.addresses, ['10.9.0.1/24', 'fd09::1/64', '10.9.1.1/32']);
  assert.equal(config.interface.listenPort, 51820);
  assert.equal(config.interface.mtu, DEFAULT_MTU);
  assert.equal(config.interface.mtu, 1420);
  assert.deepEqual(config.interface.dns, ['10.9.0.53', 'mesh.example']);
  assert.equal(config.interface.fwmark, undefined);
  assert.equal(config.peers.length, 2);
  const [a, b] = config.peers;
  assert.deepEqual(a.publicKey, peerA);
  assert.deepEqual(a.allowedIps, ['10.9.0.2/32', '192.168.7.0/24', 'fd09::2/128']);
  assert.deepEqual(a.endpoint, { host: '192.0.2.7', port: 51820 });
  assert.equal(a.persistentKeepalive, 25);
  assert.equal(a.presharedKey, undefined);
  assert.deepEqual(b.publicKey, peerB);
  assert.deepEqual(b.presharedKey, psk);
  assert.deepEqual(b.endpoint, { host: '2001:db8::7', port: 51821 });
  assert.deepEqual(b.allowedIps, ['10.9.0.3/32']);
  assert.deepEqual(config.warnings, []);
});

test('MTU, FwMark, host-name endpoints and keepalive off are read', () => {
  const text = withLine(withLine(good, 'ListenPort = 51820', 'ListenPort = 51820\nMTU = 1280\nFwMark = 0xca6c'), 'PersistentKeepalive = 25', 'PersistentKeepalive = off');
  const config = parseMeshConfig(text.replace('192.0.2.7:51820', 'vpn.example.net:4500'), 'wg1.conf');
  assert.equal(config.iface, 'wg1');
  assert.equal(config.interface.mtu, 1280);
  assert.equal(config.interface.fwmark, 0xca6c);
  assert.deepEqual(config.peers[0].endpoint, { host: 'vpn.example.net', port: 4500 });
  assert.equal(config.peers[0].persistentKeepalive, undefined);
});

test('wg-quick-only keys (PostUp, Table, SaveConfig) load with a warning naming the line', () => {
  const config = parseMeshConfig(withLine(good, 'ListenPort = 51820', 'ListenPort = 51820\nPostUp = iptables -A FORWARD -i %i -j ACCEPT\nTable = off'), 'mesh0.conf');
  assert.deepEqual(config.warnings, [
    'mesh0.conf:7: PostUp is a wg-quick setting the netmend node ignores',
    'mesh0.conf:8: Table is a wg-quick setting the netmend node ignores',
  ]);
});

test('a bad private key: FILE:LINE, exit 2, key not echoed', () => {
  const broken = encodeKey(privateKey).slice(0, 40);
  const error = assertConfigError(withLine(good, encodeKey(privateKey), broken), 3, /PrivateKey is not a valid key: the key is 40 characters, not 44/);
  assert.match(error.hint ?? '', /genkey/);
});

test('a bad peer public key names the [Peer] line', () => {
  assertConfigError(withLine(good, encodeKey(peerB), `${encodeKey(peerB).slice(0, 43)}!`), 18, /publickey is not a valid key/);
});

test('bad CIDRs: address, prefix length, AllowedIPs item in a comma list', () => {
  assertConfigError(withLine(good, 'Address = 10.9.1.1', 'Address = 10.9.1.256'), 5, /Address '10\.9\.1\.256' is not an IP address or CIDR/);
  assertConfigError(withLine(good, 'Address = 10.9.1.1', 'Address = 10.9.1.1/33'), 5, /bad prefix length \(0-32 for IPv4\)/);
  assertConfigError(withLine(good, 'fd09::2/128', 'fd09::2/129'), 13, /AllowedIPs 'fd09::2\/129' has a bad prefix length \(0-128 for IPv6\)/);
  assertConfigError(withLine(good, '192.168.7.9/24', '192.168.7/24'), 12, /AllowedIPs '192\.168\.7\/24'/);
});

test('unknown keys and keys in the wrong section are errors with a hint', () => {
  const unknown = assertConfigError(withLine(good, 'ListenPort = 51820', 'ListenPrt = 51820'), 6, /unknown key 'ListenPrt' in \[Interface\]/);
  assert.match(unknown.hint ?? '', /ListenPort/);
  const misplaced = assertConfigError(withLine(good, 'ListenPort = 51820', 'Endpoint = 192.0.2.1:1'), 6, /unknown key 'Endpoint' in \[Interface\]/);
  assert.match(misplaced.hint ?? '', /belongs in \[Peer\]/);
  assertConfigError(withLine(good, '[peer]', '[Pear]'), 17, /unknown section \[Pear\]/);
});

test('bad ports, endpoints, keepalives, MTUs and line shapes', () => {
  assertConfigError(withLine(good, 'ListenPort = 51820', 'ListenPort = 70000'), 6, /ListenPort 70000 is out of range \(0-65535\)/);
  assertConfigError(withLine(good, 'ListenPort = 51820', 'ListenPort = 51820x'), 6, /ListenPort '51820x' is not a number/);
  assertConfigError(withLine(good, '192.0.2.7:51820', '192.0.2.7'), 14, /Endpoint '192\.0\.2\.7' is not HOST:PORT/);
  assertConfigError(withLine(good, '192.0.2.7:51820', '192.0.2.7:0'), 14, /Endpoint port 0 is out of range/);
  assertConfigError(withLine(good, '[2001:db8::7]:51821', '2001:db8::7:51821'), 20, /is not HOST:PORT/);
  assertConfigError(withLine(good, 'PersistentKeepalive = 25', 'PersistentKeepalive = -1'), 15, /not a number/);
  assertConfigError(withLine(good, 'ListenPort = 51820', 'MTU = 100'), 6, /MTU 100 is out of range/);
  assertConfigError(withLine(good, 'ListenPort = 51820', `PrivateKey ${encodeKey(privateKey)}`), 6, /not "Key = Value"/);
  assertConfigError(`ListenPort = 1\n${good}`, 1, /comes before any \[Interface\] or \[Peer\] section/);
});

test('missing or duplicated essentials', () => {
  assertConfigError(withLine(good, `PrivateKey = ${encodeKey(privateKey)}`, ''), 2, /\[Interface\] has no PrivateKey/);
  assertConfigError(withLine(good, `publickey = ${encodeKey(peerB)}`, ''), 17, /\[Peer\] has no PublicKey/);
  assertConfigError(withLine(good, 'ListenPort = 51820', 'ListenPort = 51820\nListenPort = 51821'), 7, /ListenPort given twice \(first on line 6\)/);
  assertConfigError(withLine(good, encodeKey(peerB), encodeKey(peerA)), 18, /the same PublicKey as the \[Peer\] on line 9/);
  assertConfigError(`${good}\n[Interface]\nListenPort = 1\n`, 23, /a second \[Interface\] section/);
  assert.throws(() => parseMeshConfig('[Peer]\n', 'x/mesh0.conf'), /^InputError: x\/mesh0\.conf: no \[Interface\] section/);
});

test('the interface name comes from the file name and must be a valid one', () => {
  assert.equal(parseMeshConfig(good, '/tmp/a/wg-office.conf').iface, 'wg-office');
  assert.throws(() => parseMeshConfig(good, '/tmp/a/this-name-is-too-long.conf'), (error: unknown) => error instanceof InputError && /\/tmp\/a\/this-name-is-too-long\.conf: the interface name/.test(error.message));
});

test('a [Peer] with the interface\'s own public key is skipped with a warning', () => {
  const text = `${good}\n[Peer]\nPublicKey = ${encodeKey(publicKeyOf(privateKey))}\nAllowedIPs = 10.9.0.9/32\n`;
  const config = parseMeshConfig(text, 'mesh0.conf');
  assert.equal(config.peers.length, 2);
  assert.match(config.warnings[0], /^mesh0\.conf:24: this \[Peer\] has the interface's own public key/);
});

test('readMeshConfig warns when the file with a private key is readable by group or others', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-meshconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mesh0.conf');
  writeFileSync(file, good);
  chmodSync(file, 0o644);
  const open = readMeshConfig(file);
  assert.equal(open.iface, 'mesh0');
  assert.match(open.warnings[0], new RegExp(`${file.replace(/[.]/g, '\\.')} holds a private key and is readable by everyone \\(mode 0644\\); run \`chmod 600`));
  chmodSync(file, 0o640);
  assert.match(readMeshConfig(file).warnings[0], /readable by its group \(mode 0640\)/);
  chmodSync(file, 0o600);
  assert.deepEqual(readMeshConfig(file).warnings, []);
  assert.throws(() => readMeshConfig(join(dir, 'missing.conf')), (error: unknown) => error instanceof InputError && /cannot read .*missing\.conf: ENOENT/.test(error.message));
});

test('`netmend node up -c FILE` with a bad config: exit 2, one line naming FILE:LINE, nothing created', async (t) => {
  const { netmend, run, uniqueName } = await import('../lab/harness.js');
  const dir = mkdtempSync(join(tmpdir(), 'netmend-meshconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string, RegExp]> = [
    [withLine(good, encodeKey(peerA), 'not-a-key'), /:11: PublicKey is not a valid key/],
    [withLine(good, '10.9.0.2/32', '10.9.0.2/40'), /:12: AllowedIPs '10\.9\.0\.2\/40' has a bad prefix length/],
    [withLine(good, 'DNS = 10.9.0.53', 'DNSServer = 10.9.0.53'), /:7: unknown key 'DNSServer' in \[Interface\]/],
  ];
  for (const [text, pattern] of cases) {
    const iface = uniqueName('nmcf');
    const file = join(dir, `${iface}.conf`);
    writeFileSync(file, text, { mode: 0o600 });
    const result = await netmend(['node', 'up', '-c', file]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.ok(result.stderr.includes(`${file}:`), result.stderr);
    assert.match(result.stderr, pattern);
    assert.notEqual((await run('ip', ['link', 'show', 'dev', iface])).code, 0, `no interface ${iface} was created`);
    assert.equal((await run('test', ['-e', `/var/run/wireguard/${iface}.sock`])).code, 1, 'no control socket was created');
  }
});
