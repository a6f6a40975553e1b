/** `netmend doctor ... --json` in a lab namespace, parsed, with each check by id. */
import type { Lab } from './harness.js';

export interface DoctorCheckJson {
  id: string;
  status: string;
  summary: string;
  evidence: string[];
  fix: { command: string; explanation: string } | null;
}

export interface DoctorRun {
  code: number;
  document: { version: number; host: string; checks: DoctorCheckJson[]; summary: Record<string, number> };
  byId: Record<string, DoctorCheckJson>;
}

export async function doctorJson(lab: Lab, ns: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<DoctorRun> {
  const result = await lab.netmend(ns, [...args, '--json'], { env, timeoutMs: 90_000 });
  let document: DoctorRun['document'];
  try {
    document = JSON.parse(result.stdout);
  } catch {
    throw new Error(`no JSON (exit ${result.code}): ${result.stderr}${result.stdout}`);
  }
  return { code: result.code, document, byId: Object.fromEntries(document.checks.map((check) => [check.id, check])) };
}
