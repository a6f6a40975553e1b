/**
 * Routes a reader kept in their wire form (see src/netlink/route-dump.ts). The snapshot's
 * `routes` property decodes them on first read; until then the JSON writer can stream them
 * straight from the wire form, so `netmend snapshot` never builds half a million objects.
 */
import type { ParsedAddress } from '../net/address.js';
import type { Route, Snapshot } from './types.js';

export interface RawRoutes {
  readonly count: number;
  routes(): Route[];
  /** JSON array body; reuseBuffer lets every chunk share memory (synchronous consumers only). */
  jsonChunks(reuseBuffer?: boolean): Iterable<Uint8Array>;
}

const pending = new WeakMap<Snapshot, RawRoutes>();

/** Give `snapshot` a `routes` property backed by `raw`, decoded when first read. */
export function attachRawRoutes(snapshot: Snapshot, raw: RawRoutes): Snapshot {
  let decoded: Route[] | undefined;
  pending.set(snapshot, raw);
  Object.defineProperty(snapshot, 'routes', {
    enumerable: true,
    configurable: true,
    get(): Route[] {
      if (!decoded) {
        pending.delete(snapshot);
        decoded = raw.routes();
      }
      return decoded;
    },
    set(value: Route[]) {
      pending.delete(snapshot);
      decoded = value;
    },
  });
  return snapshot;
}

/** The wire-form routes of a snapshot whose `routes` nobody has read or replaced yet. */
export function untouchedRawRoutes(snapshot: Snapshot): RawRoutes | undefined {
  return pending.get(snapshot);
}

/**
 * Routes a reader left out of snapshot.routes (see plainGatewayRoutesApart in from-netlink.ts):
 * the snapshot's routes are then only part of the table, and lookups must add these.
 */
export interface RouteRemainder {
  /** Dump position of each route in snapshot.routes, to merge both in kernel order. */
  readonly positions: Uint32Array;
  readonly count: number;
  /** The left-out routes whose prefix contains one of the addresses, with dump positions. */
  containing(addresses: readonly ParsedAddress[]): Array<{ position: number; route: Route }>;
  all(): Array<{ position: number; route: Route }>;
}

const remainders = new WeakMap<Snapshot, RouteRemainder>();

export function attachRouteRemainder(snapshot: Snapshot, remainder: RouteRemainder): Snapshot {
  remainders.set(snapshot, remainder);
  return snapshot;
}

export function routeRemainder(snapshot: Snapshot): RouteRemainder | undefined {
  return remainders.get(snapshot);
}
