/** What the unit tests of doctor checks build their host states from. */
import type { CheckOptions } from '../../src/doctor/types.js';
import type { Route } from '../../src/snapshot/types.js';

export const checkOptions: CheckOptions = { ifaces: [], domains: ['ts.net'], names: [] };

/** A main-table unicast route as `ip route add` makes it (proto boot), family from dst. */
export function route(partial: Partial<Route> & Pick<Route, 'dst'>): Route {
  return { family: partial.dst.includes(':') ? 6 : 4, table: 254, type: 'unicast', metric: 0, protocol: 'boot', scope: 'global', flags: [], ...partial };
}
