import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hash, kdf, mac, tai64n } from '../../src/mesh/crypto.js';
import { paddedLength } from '../../src/mesh/messages.js';

// wireguard-go device/kdf_test.go
const cases = [
  { key: '746573742d6b6579', input: '746573742d696e707574', t: ['6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633', 'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a', 'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24'] },
  { key: '776972656775617264', input: '776972656775617264', t: ['491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8', '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f', '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160'] },
  { key: '', input: '', t: ['8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0', '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e', '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e'] },
];

for (const { key, input, t } of cases) {
  test(`KDF1/2/3 of key '${key}' input '${input}' match wireguard-go`, () => {
    const k = Buffer.from(key, 'hex');
    const i = Buffer.from(input, 'hex');
    assert.deepEqual(kdf(3, k, i).map((b) => b.toString('hex')), t);
    assert.deepEqual(kdf(2, k, i).map((b) => b.toString('hex')), t.slice(0, 2));
    assert.deepEqual(kdf(1, k, i).map((b) => b.toString('hex')), t.slice(0, 1));
  });
}

test('HASH is BLAKE2s-256 and MAC is keyed BLAKE2s-128 (RFC 7693 test vector)', () => {
  assert.equal(hash(Buffer.from('abc')).toString('hex'), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  // keyed BLAKE2s with a 16-byte output differs from a truncated unkeyed hash.
  const key = Buffer.alloc(32, 1);
  assert.equal(mac(key, Buffer.from('abc')).length, 16);
  assert.notEqual(mac(key, Buffer.from('abc')).toString('hex'), hash(Buffer.from('abc')).subarray(0, 16).toString('hex'));
});

test('TAI64N: seconds offset by 2^62+10, nanoseconds rounded down to 2^24', () => {
  const stamp = tai64n(1_700_000_000_123, 456_789);
  assert.equal(stamp.readBigUInt64BE(0), 0x400000000000000an + 1_700_000_000n);
  assert.equal(stamp.readUInt32BE(8) % 2 ** 24, 0);
  assert.equal(stamp.readUInt32BE(8), Math.floor(123_456_789 / 2 ** 24) * 2 ** 24);
  // Past 2106 the seconds overflow 32 bits into the label's upper half.
  assert.equal(tai64n((2 ** 32 - 5) * 1000).readBigUInt64BE(0), 0x400000000000000an + BigInt(2 ** 32 - 5));
});

test('padding: multiple of 16, capped at the MTU, MTU 0 survives', () => {
  assert.equal(paddedLength(33, 1420), 48);
  assert.equal(paddedLength(84, 1420), 96);
  assert.equal(paddedLength(1400, 1420), 1408);
  assert.equal(paddedLength(1419, 1420), 1420);
  assert.equal(paddedLength(1420, 1420), 1420);
  assert.equal(paddedLength(33, 0), 48);
  assert.equal(paddedLength(1500, 1420), 1500);
  assert.equal(paddedLength(1505, 1420), 1516);
});
