import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AllowedIps, formatPrefix, parsePrefix } from '../../src/mesh/allowed-ips.js';

function v4Packet(source: string, destination: string): Buffer {
  const packet = Buffer.alloc(20);
  packet[0] = 0x45;
  packet.writeUInt16BE(20, 2);
  Buffer.from(source.split('.').map(Number)).copy(packet, 12);
  Buffer.from(destination.split('.').map(Number)).copy(packet, 16);
  return packet;
}

function v6Packet(destinationBytes: Buffer): Buffer {
  const packet = Buffer.alloc(40);
  packet[0] = 0x60;
  destinationBytes.copy(packet, 24);
  return packet;
}

test('longest prefix wins, for IPv4 and IPv6', () => {
  const table = new AllowedIps<string>();
  table.insert(parsePrefix('10.0.0.0/8'), 'wide');
  table.insert(parsePrefix('10.1.0.0/16'), 'middle');
  table.insert(parsePrefix('10.1.2.3/32'), 'host');
  table.insert(parsePrefix('0.0.0.0/0'), 'default');
  assert.equal(table.lookupAddress('10.1.2.3'), 'host');
  assert.equal(table.lookupAddress('10.1.2.4'), 'middle');
  assert.equal(table.lookupAddress('10.2.0.1'), 'wide');
  assert.equal(table.lookupAddress('192.168.1.1'), 'default');
  assert.equal(table.lookupPacket(v4Packet('1.1.1.1', '10.1.9.9'), 'destination'), 'middle');
  assert.equal(table.lookupPacket(v4Packet('10.1.2.3', '8.8.8.8'), 'source'), 'host');

  table.insert(parsePrefix('fd00::/64'), 'lan6');
  table.insert(parsePrefix('fd00::1/128'), 'one6');
  assert.equal(table.lookupAddress('fd00::1'), 'one6');
  assert.equal(table.lookupAddress('fd00::2'), 'lan6');
  assert.equal(table.lookupAddress('fd01::1'), undefined);
  assert.equal(table.lookupPacket(v6Packet(parsePrefix('fd00::1').bytes), 'destination'), 'one6');
});

test('a prefix belongs to one peer: inserting it for another moves it', () => {
  const table = new AllowedIps<string>();
  table.insert(parsePrefix('10.9.0.0/24'), 'a');
  table.insert(parsePrefix('10.9.0.0/24'), 'b');
  assert.equal(table.lookupAddress('10.9.0.7'), 'b');
  assert.deepEqual(table.prefixesOf('a'), []);
  assert.deepEqual(table.prefixesOf('b').map(formatPrefix), ['10.9.0.0/24']);
});

test('host bits are masked and removal by peer clears only that peer', () => {
  const table = new AllowedIps<string>();
  assert.equal(formatPrefix(parsePrefix('10.9.0.77/24')), '10.9.0.0/24');
  assert.equal(formatPrefix(parsePrefix('fd00::abcd/112')), 'fd00::/112');
  table.insert(parsePrefix('10.9.0.77/24'), 'a');
  table.insert(parsePrefix('10.8.0.0/24'), 'b');
  table.removePeer('a');
  assert.equal(table.lookupAddress('10.9.0.1'), undefined);
  assert.equal(table.lookupAddress('10.8.0.1'), 'b');
  table.remove(parsePrefix('10.8.0.0/24'), 'a');
  assert.equal(table.lookupAddress('10.8.0.1'), 'b', 'removing a prefix on behalf of a non-owner does nothing');
  table.remove(parsePrefix('10.8.0.0/24'), 'b');
  assert.equal(table.lookupAddress('10.8.0.1'), undefined);
});

test('malformed packets and bad prefixes do not match or parse', () => {
  const table = new AllowedIps<string>();
  table.insert(parsePrefix('0.0.0.0/0'), 'default');
  assert.equal(table.lookupPacket(Buffer.alloc(0), 'destination'), undefined);
  assert.equal(table.lookupPacket(Buffer.from([0x45, 0, 0]), 'destination'), undefined);
  assert.throws(() => parsePrefix('10.0.0.0/33'), /bad prefix length/);
  assert.throws(() => parsePrefix('banana/8'), /not an IP prefix/);
});

test('IPv4 prefixes read as ipaddr.js reads them, canonical or not (leading zeros are octal there)', async () => {
  const { default: ipaddr } = await import('ipaddr.js');
  const reference = (text: string) => {
    const [address, length] = text.split('/');
    const bytes = Buffer.from(ipaddr.parse(address).toByteArray());
    const bits = length === undefined ? 32 : Number(length);
    const masked = bits === 0 ? 0 : (bytes.readUInt32BE(0) & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
    const out = Buffer.alloc(4);
    out.writeUInt32BE(masked, 0);
    return `${out.join('.')}/${bits}`;
  };
  const samples = ['0.0.0.0/0', '255.255.255.255', '10.232.0.2/32', '010.1.1.1/32', '1.2.3/8', '192.168.001.7/24'];
  for (let i = 0; i < 500; i++) {
    const octets = Array.from({ length: 4 }, () => Math.floor(Math.random() * 256));
    samples.push(`${octets.join('.')}/${Math.floor(Math.random() * 33)}`);
  }
  for (const text of samples) assert.equal(formatPrefix(parsePrefix(text)), reference(text), text);
  for (const bad of ['10.1.2.3/33', '256.1.1.1/8', '10.1.2.3/', '10.1.2.3/-1']) assert.throws(() => parsePrefix(bad), bad);
});
