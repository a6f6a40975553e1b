import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPLAY_WINDOW_SIZE, ReplayFilter } from '../../src/mesh/replay.js';

// The kernel's counter.c cases (ported by wireguard-go replay_test.go) with its limit.
const LIMIT = (1n << 64n) - (1n << 4n) - 1n;
const WINDOW = BigInt(REPLAY_WINDOW_SIZE);
const T_LIM = WINDOW + 1n;

test('the usable window is 8128 counters, as in the kernel and wireguard-go', () => {
  assert.equal(REPLAY_WINDOW_SIZE, 8128);
});

test('the 34 kernel counter cases', () => {
  const filter = new ReplayFilter();
  const cases: Array<[bigint, boolean]> = [
    [0n, true], [1n, true], [1n, false], [9n, true], [8n, true], [7n, true], [7n, false],
    [T_LIM, true], [T_LIM - 1n, true], [T_LIM - 1n, false], [T_LIM - 2n, true], [2n, true], [2n, false],
    [T_LIM + 16n, true], [3n, false], [T_LIM + 16n, false], [T_LIM * 4n, true], [T_LIM * 4n - (T_LIM - 1n), true],
    [10n, false], [T_LIM * 4n - T_LIM, false], [T_LIM * 4n - (T_LIM + 1n), false], [T_LIM * 4n - (T_LIM - 2n), true],
    [T_LIM * 4n + 1n - T_LIM, false], [0n, false], [LIMIT, false], [LIMIT - 1n, true], [LIMIT, false], [LIMIT - 1n, false],
    [LIMIT - 2n, true], [LIMIT + 1n, false], [LIMIT + 2n, false], [LIMIT - 2n, false], [LIMIT - 3n, true], [0n, false],
  ];
  assert.equal(cases.length, 34);
  cases.forEach(([counter, expected], i) => assert.equal(filter.validate(counter, LIMIT), expected, `case ${i + 1}: ${counter}`));
});

function bulk(name: string, steps: (check: (n: bigint, expected: boolean) => void) => void) {
  test(`bulk: ${name}`, () => {
    const filter = new ReplayFilter();
    let failures = 0;
    steps((n, expected) => { if (filter.validate(n, LIMIT) !== expected) failures += 1; });
    assert.equal(failures, 0);
  });
}

bulk('1..window then 0', (T) => { for (let i = 1n; i <= WINDOW; i++) T(i, true); T(0n, true); T(0n, false); });
bulk('2..window+1 then 1, and 0 is too old', (T) => { for (let i = 2n; i <= WINDOW + 1n; i++) T(i, true); T(1n, true); T(0n, false); });
bulk('window+1 down to 1', (T) => { for (let i = WINDOW + 1n; i > 0n; i--) T(i, true); });
bulk('window+2 down to 2, and 0 is too old', (T) => { for (let i = WINDOW + 2n; i > 1n; i--) T(i, true); T(0n, false); });
bulk('window down to 1, then window+1, and 0 is too old', (T) => { for (let i = WINDOW; i > 0n; i--) T(i, true); T(WINDOW + 1n, true); T(0n, false); });
bulk('window down to 1, then 0, then window+1', (T) => { for (let i = WINDOW; i > 0n; i--) T(i, true); T(0n, true); T(WINDOW + 1n, true); });

test('a reset filter accepts counters again', () => {
  const filter = new ReplayFilter();
  assert.ok(filter.validate(5n, LIMIT));
  assert.equal(filter.validate(5n, LIMIT), false);
  filter.reset();
  assert.ok(filter.validate(5n, LIMIT));
});
