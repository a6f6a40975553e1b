/**
 * wireguard-go's interop test, step by step (test/lab/wg-netns-steps.ts), run in one go with
 * wireguard-go itself and with netmend-wg as the program: every step that passes with
 * wireguard-go must pass with netmend-wg. The per-step table is printed for the record.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, projectRoot } from './harness.js';
import { wireguardGoMissing } from './mesh-interop-lab.js';
import { runNetnsSteps, type StepResult } from './wg-netns-steps.js';

const skip = labUnavailable() ?? wireguardGoMissing() ?? (process.env.NETMEND_SKIP_NETNS_STEPS ? 'NETMEND_SKIP_NETNS_STEPS is set' : undefined);
const netmendWg = [process.execPath, join(projectRoot, 'bin', 'netmend-wg.js')];

test('every netns.sh step that passes with wireguard-go passes with netmend-wg', { skip, timeout: 600_000 }, async (t) => {
  const reference = await (async () => {
    const lab = new Lab();
    try { return await runNetnsSteps(lab, ['wireguard-go'], 'nmg'); } finally { await lab.destroy(); }
  })();
  const lab = Lab.forTest(t);
  const ours = await runNetnsSteps(lab, netmendWg, 'nmw');
  const table = reference.map((step: StepResult, i: number) => {
    const mine = ours[i];
    return `${step.ok ? 'pass' : 'FAIL'}  ${mine?.ok ? 'pass' : 'FAIL'}  ${step.name}${mine && !mine.ok ? `  <- ${mine.error}` : ''}${!step.ok ? `  [wireguard-go: ${step.error}]` : ''}`;
  });
  const passed = (results: StepResult[]) => results.filter((step) => step.ok).length;
  t.diagnostic(`netns.sh steps: wireguard-go ${passed(reference)}/${reference.length}, netmend-wg ${passed(ours)}/${ours.length}`);
  for (const line of table) t.diagnostic(line);
  assert.equal(ours.length, reference.length);
  const regressions = reference.filter((step, i) => step.ok && !ours[i].ok).map((step, i) => `${step.name}: ${ours.find((s) => s.name === step.name)?.error ?? i}`);
  assert.deepEqual(regressions, [], 'steps that pass with wireguard-go but not with netmend-wg');
  // The comparison means something only if the reference itself works here.
  assert.ok(passed(reference) >= reference.length - 3, `wireguard-go passed only ${passed(reference)}/${reference.length}`);
});
