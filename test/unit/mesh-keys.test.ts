import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { decodeKey, encodeKey, generatePresharedKey, generatePrivateKey, publicKeyOf } from '../../src/mesh/keys.js';
import { netmend, run } from '../lab/harness.js';

async function wg(args: string[], input?: string): Promise<string> {
  const result = await run('wg', args, { input });
  assert.equal(result.code, 0, `wg ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

test('publicKeyOf matches `wg pubkey` for keys made by `wg genkey`', async () => {
  for (let i = 0; i < 5; i++) {
    const privateText = await wg(['genkey']);
    const expected = await wg(['pubkey'], `${privateText}\n`);
    assert.equal(encodeKey(publicKeyOf(decodeKey(privateText, 'test'))), expected);
  }
});

test('generatePrivateKey gives clamped keys that `wg pubkey` accepts and agrees on', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const key = generatePrivateKey();
    assert.equal(key.length, 32);
    assert.equal(key[0] & 7, 0, 'low three bits cleared');
    assert.equal(key[31] & 0xc0, 0x40, 'top bit cleared, second bit set');
    const text = encodeKey(key);
    assert.match(text, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(await wg(['pubkey'], `${text}\n`), encodeKey(publicKeyOf(key)));
    seen.add(text);
  }
  assert.equal(seen.size, 5);
});

test('an unclamped private key gives the same public key as `wg pubkey` (X25519 clamps)', async () => {
  const raw = Buffer.alloc(32, 0xff);
  assert.equal(encodeKey(publicKeyOf(raw)), await wg(['pubkey'], `${encodeKey(raw)}\n`));
});

test('generatePresharedKey: 32 random bytes in wg genpsk format', () => {
  const a = generatePresharedKey();
  const b = generatePresharedKey();
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
  assert.deepEqual(decodeKey(encodeKey(a), 'psk'), a);
});

test('decodeKey rejects wrong lengths and non-canonical base64, naming what', () => {
  const good = encodeKey(generatePrivateKey());
  assert.throws(() => decodeKey(good.slice(1), 'PrivateKey'), (error: unknown) => error instanceof InputError && /^PrivateKey: the key is 43 characters/.test(error.message));
  assert.throws(() => decodeKey(`${good.slice(0, 42)}B=`, 'PublicKey'), (error: unknown) => error instanceof InputError && /^PublicKey: .*not valid base64/.test(error.message));
  assert.throws(() => decodeKey(`${good.slice(0, 43)}A`, 'stdin'), InputError);
  assert.deepEqual(decodeKey(`  ${good}\n`, 'x'), Buffer.from(good, 'base64'));
});

test('`netmend node genkey | netmend node pubkey` equals `wg pubkey`; genpsk is a key', async () => {
  const genkey = await netmend(['node', 'genkey']);
  assert.equal(genkey.code, 0, genkey.stderr);
  assert.match(genkey.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  const ours = await netmend(['node', 'pubkey'], { input: genkey.stdout });
  assert.equal(ours.code, 0, ours.stderr);
  assert.equal(ours.stdout.trim(), await wg(['pubkey'], genkey.stdout));
  const psk = await netmend(['node', 'genpsk']);
  assert.equal(psk.code, 0, psk.stderr);
  assert.equal(decodeKey(psk.stdout, 'genpsk').length, 32);
});

test('`netmend node pubkey` with garbage on stdin: one line naming stdin, exit 2 (like wg)', async () => {
  const ours = await netmend(['node', 'pubkey'], { input: 'not a key\n' });
  assert.equal(ours.code, 2);
  assert.equal(ours.stderr.trim().split('\n').length, 1, ours.stderr);
  assert.match(ours.stderr, /stdin: the key is 9 characters, not 44/);
  const theirs = await run('wg', ['pubkey'], { input: 'not a key\n' });
  assert.notEqual(theirs.code, 0, 'wg rejects it too');
});
