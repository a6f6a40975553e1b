/**
 * `netmend doctor` (every topic) on a host without any mesh and without the tailscale or wg
 * tools: it finishes with exit 0, `--json` is one document, and the mesh checks say what the
 * routes checks say (no mesh VPN here) instead of "`tailscale` is not installed" once per check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostWithoutMesh, Lab, labUnavailable, pathWithoutMeshTools } from './harness.js';

interface DoctorDocument {
  version: number;
  checks: Array<{ id: string; status: string; summary: string }>;
}

test('doctor on a host without any mesh and without tailscale/wg: exit 0, one JSON document, the mesh checks skip as "no mesh here" like the routes checks', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await hostWithoutMesh(lab, 'nom');
  const env = { PATH: pathWithoutMeshTools(t) };

  const json = await lab.netmend(ns, ['doctor', '--json'], { env });
  assert.equal(json.code, 0, `${json.stdout}\n${json.stderr}`);
  let document: DoctorDocument;
  try {
    document = JSON.parse(json.stdout) as DoctorDocument;
  } catch (error) {
    throw new Error(`stdout is not one JSON document (${(error as Error).message}): ${json.stdout.slice(0, 400)}`);
  }
  assert.equal(document.version, 1);
  const byId = Object.fromEntries(document.checks.map((check) => [check.id, check]));
  for (const topic of ['routes.', 'dns.', 'mesh.']) assert.ok(document.checks.some((check) => check.id.startsWith(topic)), `${topic} checks ran`);
  const noMesh = byId['routes.tunnel-link-local'];
  assert.equal(noMesh.status, 'skip');
  for (const id of ['mesh.daemon', 'mesh.key-expiry', 'mesh.peer-relayed', 'mesh.funnel-stale', 'mesh.routes-not-accepted', 'mesh.exit-node', 'mesh.wg-handshake']) {
    assert.deepEqual([byId[id]?.status, byId[id]?.summary], ['skip', noMesh.summary], id);
  }

  const human = await lab.netmend(ns, ['doctor'], { env });
  assert.equal(human.code, 0, `${human.stdout}\n${human.stderr}`);
  assert.equal(human.stderr, '');
  assert.doesNotMatch(human.stdout, /is not installed/, human.stdout);
  assert.match(human.stdout, /: \d+ passed, \d+ skipped\n$/, human.stdout);
});
