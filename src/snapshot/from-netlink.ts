/**
 * The primary reader: the local kernel over rtnetlink (links, addresses, routes of every table
 * and policy rules, IPv4 and IPv6), plus sysctls and host name from /proc/sys.
 */
import { CheckCouldNotRunError } from '../errors.js';
import { decodeAddress, decodeLink, decodeRule, type DecodedLink } from '../netlink/decode.js';
import type { ParsedAddress } from '../net/address.js';
import { PlainRouteSplitter } from '../netlink/plain-routes.js';
import { addressBytes, RawRouteDump, RouteContainmentSelection } from '../netlink/route-dump.js';
import { attachRawRoutes, attachRouteRemainder } from './raw-routes.js';
import { AF_INET, AF_INET6, AF_UNSPEC, canOpenRouteSocket, RouteNetlink, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_GETRULE } from '../netlink/socket.js';
import { readLocalHostname, readLocalSysctls } from './sysctls.js';
import { SNAPSHOT_VERSION, type Address, type Link, type Rule, type Snapshot } from './types.js';

const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const RTM_NEWRULE = 32;
const IFINFOMSG_BYTES = 16;
const IFADDRMSG_BYTES = 8;
const RTMSG_BYTES = 12;
const FIB_RULE_HDR_BYTES = 12;

export async function netlinkAvailable(): Promise<boolean> {
  return canOpenRouteSocket();
}

export interface NetlinkReadOptions {
  /**
   * Keep only the routes a lookup of these addresses can depend on (see RouteContainmentSelection):
   * a snapshot for the route simulator answering questions about these addresses, and nothing else.
   */
  routesContaining?: readonly ParsedAddress[];
  /**
   * Read /proc/sys when snapshot.sysctls is first read instead of now (dozens of files, a
   * noticeable part of a small command's run time). Only for one-shot readers such as
   * `route explain`, which needs them for forwarded (--iif) lookups only.
   */
  sysctlsOnDemand?: boolean;
  /**
   * Leave plain gateway routes (see PlainRouteSplitter: any table but local, via a gateway, in a
   * table with no route out of a link `keepLink` picks) out of snapshot.routes, in wire form:
   * routeRemainder(snapshot) answers containment queries over them. For the doctor, whose checks
   * look at every other route but at these only through route lookups.
   */
  plainGatewayRoutesApart?: { keepLink: (link: Link) => boolean };
}

function defineSysctlsOnDemand(snapshot: Snapshot): void {
  let sysctls: Snapshot['sysctls'] | undefined;
  Object.defineProperty(snapshot, 'sysctls', {
    enumerable: true,
    configurable: true,
    get: () => (sysctls ??= readLocalSysctls()),
    set: (value: Snapshot['sysctls']) => { sysctls = value; },
  });
}

export async function readNetlinkSnapshot(options: NetlinkReadOptions = {}): Promise<Snapshot> {
  const netlink = new RouteNetlink();
  try {
    const decoded: DecodedLink[] = [];
    await netlink.dump(RTM_GETLINK, AF_UNSPEC, IFINFOMSG_BYTES, (type, buffer, payload, end) => {
      if (type !== RTM_NEWLINK) return;
      const link = decodeLink(buffer, payload, end);
      if (link) decoded.push(link);
    }, () => { decoded.length = 0; });
    const names = new Map<number, string>(decoded.map((link) => [link.index, link.name]));
    const linkName = (index: number) => names.get(index) ?? `if${index}`;
    const links: Link[] = decoded.map(({ masterIndex, ...link }) => (masterIndex ? { ...link, master: linkName(masterIndex) } : link));

    const addresses: Address[] = [];
    await netlink.dump(RTM_GETADDR, AF_UNSPEC, IFADDRMSG_BYTES, (type, buffer, payload, end) => {
      if (type !== RTM_NEWADDR) return;
      const address = decodeAddress(buffer, payload, end, linkName);
      if (address) addresses.push(address);
    }, () => { addresses.length = 0; });
    // `ip addr` groups addresses by link (IPv4 before IPv6 within a link); the kernel dumps by family.
    addresses.sort((a, b) => a.ifindex - b.ifindex || a.family - b.family);

    // Routes stay in wire form until someone reads snapshot.routes (see raw-routes.ts), or, for the
    // doctor, plain gateway routes stay in wire form for good (see plain-routes.ts).
    const apart = options.plainGatewayRoutesApart;
    const routeDump = apart ? new PlainRouteSplitter(new Set(links.filter(apart.keepLink).map((link) => link.index))) : new RawRouteDump();
    for (const family of [AF_INET, AF_INET6]) {
      const start = routeDump.count;
      const newSelection = () => (options.routesContaining ? new RouteContainmentSelection(options.routesContaining.map(addressBytes)) : undefined);
      let selection = newSelection();
      await netlink.dump(RTM_GETROUTE, family, RTMSG_BYTES, (type, buffer, payload, end) => {
        if (type !== RTM_NEWROUTE) return;
        if (selection && !selection.keep(buffer, payload, end)) return;
        routeDump.add(buffer, payload, end);
      }, () => {
        routeDump.truncate(start);
        selection = newSelection();
      });
    }

    const rules: Rule[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      const start = rules.length;
      await netlink.dump(RTM_GETRULE, family, FIB_RULE_HDR_BYTES, (type, buffer, payload, end) => {
        if (type !== RTM_NEWRULE) return;
        const rule = decodeRule(buffer, payload, end);
        if (rule) rules.push(rule);
      }, () => { rules.length = start; });
    }

    const snapshot: Snapshot = {
      version: SNAPSHOT_VERSION,
      host: readLocalHostname(),
      takenAt: new Date().toISOString(),
      source: 'netlink',
      links,
      addresses,
      routes: [],
      rules,
      sysctls: options.sysctlsOnDemand ? { interfaces: {} } : readLocalSysctls(),
    };
    if (options.sysctlsOnDemand) defineSysctlsOnDemand(snapshot);
    if (routeDump instanceof PlainRouteSplitter) {
      const { routes, positions, remainder } = routeDump.finish(linkName);
      snapshot.routes = routes;
      return attachRouteRemainder(snapshot, {
        positions,
        count: remainder.count,
        containing: (addresses) => remainder.containing(addresses.map(addressBytes)),
        all: () => remainder.all(),
      });
    }
    return attachRawRoutes(snapshot, {
      count: routeDump.count,
      routes: () => routeDump.routes(linkName),
      jsonChunks: (reuseBuffer?: boolean) => routeDump.jsonChunks(linkName, reuseBuffer),
    });
  } catch (error) {
    if (error instanceof CheckCouldNotRunError) throw error;
    throw new CheckCouldNotRunError(`reading the routing state over netlink failed: ${(error as Error).message}`, 'use --source ip-json');
  } finally {
    netlink.close();
  }
}
