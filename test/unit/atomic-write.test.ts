import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/system/atomic-write.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('replaces a file, keeps its mode and leaves no temp file behind', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a.conf');
  writeFileSync(file, 'old\n');
  chmodSync(file, 0o600);
  writeFileAtomic(file, ['new', ' text\n']);
  assert.equal(readFileSync(file, 'utf8'), 'new text\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['a.conf']);
});

test('refuses to write through a symlink another manager owns, and changes nothing', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'target'), 'theirs\n');
  symlinkSync(join(dir, 'target'), join(dir, 'resolv.conf'));
  assert.throws(() => writeFileAtomic(join(dir, 'resolv.conf'), 'mine\n'), /symlink/);
  assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'theirs\n');
  assert.ok(lstatSync(join(dir, 'resolv.conf')).isSymbolicLink());
});

test('writes into a pipe or device instead of renaming over it (--out /dev/null stays a device)', (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  const reader = execFileSync('sh', ['-c', `cat "${fifo}" > "${join(dir, 'got')}" 2>/dev/null </dev/null & echo $!`], { encoding: 'utf8' });
  writeFileAtomic(fifo, 'through the pipe\n');
  // Give the reader up to 5 s to see the data, then stop it (it would wait forever if the fifo was replaced).
  execFileSync('sh', ['-c', `i=0; while kill -0 ${reader.trim()} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; kill ${reader.trim()} 2>/dev/null; true`]);
  assert.ok(lstatSync(fifo).isFIFO(), 'the fifo must still be a fifo');
  assert.equal(readFileSync(join(dir, 'got'), 'utf8'), 'through the pipe\n');
});
