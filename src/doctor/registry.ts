/**
 * Doctor topics and their checks, in the order `netmend doctor` runs them. A new topic adds one
 * import and one entry here.
 */
import { dnsChecks } from './checks/dns/index.js';
import { forwardChecks } from './checks/forward/index.js';
import { meshChecks } from './checks/mesh/index.js';
import { routesChecks } from './checks/routes/index.js';
import type { Check, DoctorTopic } from './types.js';

export const registry: Partial<Record<DoctorTopic, readonly Check[]>> = {
  routes: routesChecks,
  dns: dnsChecks,
  mesh: meshChecks,
  forward: forwardChecks,
};

export function topics(): DoctorTopic[] {
  return Object.keys(registry) as DoctorTopic[];
}

export function checksOf(selected: readonly DoctorTopic[]): Check[] {
  return selected.flatMap((topic) => [...(registry[topic] ?? [])]);
}

export function findCheck(id: string): Check | undefined {
  for (const checks of Object.values(registry)) {
    const found = checks?.find((check) => check.id === id);
    if (found) return found;
  }
  return undefined;
}
