import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { netmend } from '../lab/harness.js';

test('--version prints name, version, platform and node', async () => {
  const result = await netmend(['--version']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^netmend\/\d+\.\d+\.\d+ linux-\w+ node-v20\./);
  // test/run.js built the prebuilds and removed native/build: a checkout loads what a user gets
  assert.match(result.stdout, /\ntun addon: loaded native\/prebuilds\/linux-\w+\/netmend_tun\.[\w.]+\.node\n$/);
});

test('an unknown flag is a one-line usage error with exit 2', async () => {
  const result = await netmend(['snapshot', '--no-such-flag']);
  assert.equal(result.code, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /no-such-flag/);
});

test('a snapshot file that is not JSON is named in a one-line error, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{"version": 1, "links": [');
  const result = await netmend(['snapshot', '--snapshot', file]);
  assert.equal(result.code, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /broken\.json is not JSON/);
  assert.doesNotMatch(result.stderr, /at .*\.js:\d+/);
});

test('a missing snapshot file is named, exit 2', async () => {
  const result = await netmend(['snapshot', '--snapshot', '/nonexistent/netmend.json']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /cannot read \/nonexistent\/netmend\.json: ENOENT/);
});
