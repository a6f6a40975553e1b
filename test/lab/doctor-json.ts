/** `netmend doctor ... --json` in a lab namespace, parsed, with each check by id. */
import type { CommandOutput, Lab } from './harness.js';

export interface DoctorCheckJson {
  id: string;
  status: string;
  summary: string;
  evidence: string[];
  fix: { command: string; explanation: string } | null;
}

export interface DoctorRun extends CommandOutput {
  document: { version: number; host: string; checks: DoctorCheckJson[]; summary: Record<string, number> };
  byId: Record<string, DoctorCheckJson>;
}

/** ns undefined: netmend runs on the host (a saved --snapshot, or --ssh to a namespace's sshd). */
export async function doctorJson(lab: Lab, ns: string | undefined, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 90_000): Promise<DoctorRun> {
  const result = await lab.netmend(ns, [...args, '--json'], { env, timeoutMs });
  let document: DoctorRun['document'];
  try {
    document = JSON.parse(result.stdout);
  } catch {
    throw new Error(`${args.join(' ')} printed no JSON (exit ${result.code}): ${result.stderr}${result.stdout}`);
  }
  return { ...result, document, byId: Object.fromEntries(document.checks.map((check) => [check.id, check])) };
}

