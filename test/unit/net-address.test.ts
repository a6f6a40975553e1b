import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalAddress, formatIPv6, formatPrefix, hasHostBits, parseAddress, parseIPv4, parseIPv6, parsePrefix, prefixContains, prefixesOverlap,
} from '../../src/net/address.js';

test('IPv4 parsing is strict dotted quad', () => {
  assert.equal(parseIPv4('10.1.2.3'), 0x0a010203);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.1.2', '10.1.2.3.4', '256.1.1.1', '01.1.1.1', '1..1.1', 'a.b.c.d', '', '1.2.3.4 ']) assert.equal(parseIPv4(bad), undefined, bad);
});

test('IPv6 parsing handles ::, embedded IPv4 and all 128 bits exactly', () => {
  assert.equal(parseIPv6('::'), 0n);
  assert.equal(parseIPv6('::1'), 1n);
  assert.equal(parseIPv6('2001:db8:1:2::13'), 0x20010db8000100020000000000000013n);
  assert.equal(parseIPv6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), (1n << 128n) - 1n);
  assert.equal(parseIPv6('::ffff:10.0.0.1'), 0xffff0a000001n);
  assert.equal(parseIPv6('fe80::1%eth0'), 0xfe800000000000000000000000000001n);
  for (const bad of ['1::2::3', ':::', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7::8:9']) assert.equal(parseIPv6(bad), undefined, bad);
});

test('formatting is canonical (RFC 5952) and round-trips', () => {
  assert.equal(formatIPv6(0x20010db8000000000000000000000001n), '2001:db8::1');
  assert.equal(formatIPv6(0x20010db8000000010000000000000001n), '2001:db8:0:1::1');
  assert.equal(formatIPv6(0n), '::');
  assert.equal(canonicalAddress('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  for (const text of ['2001:db8::', 'fe80::1', '2001:db8:1:2:3:4:5:6', '::ffff:1.2.3.4', '10.0.0.255']) assert.equal(canonicalAddress(text), text);
});

test('prefixes: host bits cleared, containment and overlap', () => {
  const p = parsePrefix('10.1.2.3/16')!;
  assert.equal(formatPrefix(p), '10.1.0.0/16');
  assert.ok(hasHostBits('10.1.2.3/16'));
  assert.ok(!hasHostBits('10.1.0.0/16'));
  assert.ok(prefixContains(p, parseAddress('10.1.255.9')!));
  assert.ok(!prefixContains(p, parseAddress('10.2.0.1')!));
  assert.ok(prefixContains(parsePrefix('0.0.0.0/0')!, parseAddress('8.8.8.8')!));
  assert.ok(!prefixContains(parsePrefix('::/0')!, parseAddress('8.8.8.8')!), 'families never mix');
  const v6 = parsePrefix('2001:db8:ff::/48')!;
  assert.ok(prefixContains(v6, parseAddress('2001:db8:ff:1::5')!));
  assert.ok(!prefixContains(v6, parseAddress('2001:db8:fe::5')!));
  assert.ok(prefixesOverlap(parsePrefix('10.0.0.0/8')!, parsePrefix('10.20.0.0/16')!));
  assert.ok(!prefixesOverlap(parsePrefix('10.0.0.0/16')!, parsePrefix('10.1.0.0/16')!));
  assert.equal(parsePrefix('10.0.0.0/33'), undefined);
  assert.equal(parsePrefix('2001:db8::/129'), undefined);
  assert.equal(formatPrefix(parsePrefix('2001:db8::1')!), '2001:db8::1/128');
});
