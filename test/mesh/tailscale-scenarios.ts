/**
 * What the tailscale CLI prints, per scenario, for the doctor mesh tests: one scenario per
 * finding plus a healthy one and an older client. Objects follow the Go structs field by field
 * and in their order (ipnstate.Status/PeerStatus/ExitNodeStatus, ipn.Prefs, ipn.ServeConfig,
 * netcheck.Report as of tailscale 1.80), with Go's JSON encoding: zero time
 * "0001-01-01T00:00:00Z", opt.Bool true/false/null, nil slices null, omitempty fields left out.
 * ipn.Prefs' "Config" (the persisted node keys) is left out: nothing reads it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ZERO_TIME = '0001-01-01T00:00:00Z';
const DAY = 86_400_000;
export const SUFFIX = 'tailnet-1234.ts.net';
export const SELF_NAME = 'router';
/** The LAN the lab host sits in (a route covering it shadows it). */
export const LAN = '192.168.77.0/24';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

type Json = Record<string, unknown>;

function peer(now: number, name: string, index: number, extra: Json = {}): Json {
  return {
    ID: `n${index}CNTRL`,
    PublicKey: `nodekey:${index.toString(16).padStart(64, 'a')}`,
    HostName: name,
    DNSName: `${name}.${SUFFIX}.`,
    OS: 'linux',
    UserID: 1001,
    TailscaleIPs: [`100.101.0.${index}`, `fd7a:115c:a1e0::${index}`],
    AllowedIPs: [`100.101.0.${index}/32`, `fd7a:115c:a1e0::${index}/128`],
    Addrs: [`198.51.100.${index}:41641`, `192.168.50.${index}:41641`],
    CurAddr: `198.51.100.${index}:41641`,
    Relay: 'fra',
    RxBytes: 123_456,
    TxBytes: 98_765,
    Created: iso(now - 300 * DAY),
    LastWrite: iso(now - 5_000),
    LastSeen: ZERO_TIME,
    LastHandshake: iso(now - 40_000),
    Online: true,
    ExitNode: false,
    ExitNodeOption: false,
    Active: true,
    PeerAPIURL: [`http://100.101.0.${index}:51234`],
    InNetworkMap: true,
    InMagicSock: true,
    InEngine: true,
    KeyExpiry: iso(now + 150 * DAY),
    ...extra,
  };
}

function status(now: number, peers: Json[], extra: Json = {}, self: Json = {}): Json {
  return {
    Version: '1.80.2-t3f9a1c2e4-g5b7d9f1a3',
    TUN: true,
    BackendState: 'Running',
    HaveNodeKey: true,
    AuthURL: '',
    TailscaleIPs: ['100.101.0.1', 'fd7a:115c:a1e0::1'],
    Self: {
      ...peer(now, SELF_NAME, 1, { Addrs: ['203.0.113.7:41641'], CurAddr: '', RxBytes: 0, TxBytes: 0, LastWrite: ZERO_TIME, LastHandshake: ZERO_TIME, Active: false, KeyExpiry: iso(now + 120 * DAY) }),
      ...self,
    },
    Health: [],
    MagicDNSSuffix: SUFFIX,
    CurrentTailnet: { Name: 'user@example.com', MagicDNSSuffix: SUFFIX, MagicDNSEnabled: true },
    CertDomains: [`${SELF_NAME}.${SUFFIX}`],
    Peer: Object.fromEntries(peers.map((entry) => [entry.PublicKey as string, entry])),
    User: { 1001: { ID: 1001, LoginName: 'user@example.com', DisplayName: 'User', ProfilePicURL: '' } },
    ClientVersion: null,
    ...extra,
  };
}

function prefs(extra: Json = {}): Json {
  return {
    ControlURL: 'https://controlplane.tailscale.com',
    RouteAll: true,
    ExitNodeID: '',
    ExitNodeIP: '',
    InternalExitNodePrior: '',
    ExitNodeAllowLANAccess: false,
    CorpDNS: true,
    RunSSH: false,
    RunWebClient: false,
    WantRunning: true,
    LoggedOut: false,
    ShieldsUp: false,
    AdvertiseTags: null,
    Hostname: '',
    NotepadURLs: false,
    AdvertiseRoutes: null,
    AdvertiseServices: null,
    Sync: null,
    NoSNAT: false,
    NoStatefulFiltering: false,
    NetfilterMode: 2,
    AutoUpdate: { Check: true, Apply: null },
    AppConnector: { Advertise: false },
    PostureChecking: false,
    NetfilterKind: '',
    DriveShares: null,
    AllowSingleHosts: true,
    ...extra,
  };
}

function netcheck(extra: Json = {}): Json {
  return {
    UDP: true,
    IPv6: false,
    IPv4: true,
    IPv6CanSend: false,
    IPv4CanSend: true,
    OSHasIPv6: true,
    ICMPv4: false,
    MappingVariesByDestIP: false,
    UPnP: false,
    PMP: false,
    PCP: true,
    PreferredDERP: 4,
    RegionLatency: { 4: 18_234_567, 1: 95_345_678 },
    RegionV4Latency: { 4: 18_234_567, 1: 95_345_678 },
    RegionV6Latency: {},
    GlobalV4Counters: { '203.0.113.7:41641': 5 },
    GlobalV6Counters: {},
    GlobalV4: '203.0.113.7:41641',
    GlobalV6: '',
    CaptivePortal: false,
    ...extra,
  };
}

const host = `${SELF_NAME}.${SUFFIX}`;
/** A web app on 443 with Funnel on, for this node's current name. */
const healthyServe = {
  TCP: { 443: { HTTPS: true } },
  Web: { [`${host}:443`]: { Handlers: { '/': { Proxy: 'http://127.0.0.1:8080' } } } },
  AllowFunnel: { [`${host}:443`]: true },
};

export interface Scenario {
  status?: Json;
  prefs?: Json;
  serve?: Json | null;
  netcheck?: Json;
  /** The CLI's error for a command (stderr, exit 1). */
  errors?: Partial<Record<'status' | 'prefs' | 'serve' | 'netcheck', string>>;
  /** Files in /var/lib/tailscale/certs. */
  certs?: string[];
}

const NOT_RUNNING = "failed to connect to local tailscaled; it doesn't appear to be running (sudo systemctl start tailscaled ?)";

export function scenarios(now: number): Record<string, Scenario> {
  const laptop = peer(now, 'laptop', 2);
  const subnetRouter = peer(now, 'office-gw', 3, { PrimaryRoutes: ['10.20.0.0/24'], AllowedIPs: ['100.101.0.3/32', 'fd7a:115c:a1e0::3/128', '10.20.0.0/24'] });
  const healthyCerts = [`${host}.crt`, `${host}.key`, 'acme-account.key.pem'];
  return {
    healthy: { status: status(now, [laptop, subnetRouter]), prefs: prefs(), serve: healthyServe, netcheck: netcheck(), certs: healthyCerts },
    'daemon-down': { errors: { status: NOT_RUNNING, prefs: NOT_RUNNING, serve: NOT_RUNNING } },
    'key-expired': {
      // An expired node key logs the node out.
      status: status(now, [], { BackendState: 'NeedsLogin', AuthURL: 'https://login.tailscale.com/a/0123456789ab', TailscaleIPs: null, CurrentTailnet: null, Peer: null }, { KeyExpiry: iso(now - 2 * DAY) }),
      prefs: prefs(),
      serve: null,
    },
    'key-expiring': {
      status: status(now, [laptop, peer(now, 'old-nas', 4, { Expired: true, Online: false, Active: false, CurAddr: '', KeyExpiry: iso(now - 10 * DAY) })], {}, { KeyExpiry: iso(now + 3 * DAY + 3_600_000) }),
      prefs: prefs(),
      serve: null,
    },
    'relayed-hard-nat': {
      status: status(now, [peer(now, 'laptop', 2, { CurAddr: '', Relay: 'fra' }), subnetRouter]),
      prefs: prefs(),
      serve: null,
      netcheck: netcheck({ MappingVariesByDestIP: true, UPnP: false, PMP: false, PCP: false, GlobalV4Counters: { '203.0.113.7:61001': 1, '203.0.113.7:61002': 1 }, GlobalV4: '203.0.113.7:61001' }),
    },
    'relayed-udp-blocked': {
      status: status(now, [peer(now, 'laptop', 2, { CurAddr: '', Relay: 'fra' })]),
      prefs: prefs(),
      serve: null,
      netcheck: netcheck({ UDP: false, IPv4: false, MappingVariesByDestIP: null, UPnP: null, PMP: null, PCP: null, RegionLatency: { 4: 35_000_000 }, RegionV4Latency: {}, GlobalV4Counters: null, GlobalV4: '' }),
    },
    'funnel-stale': {
      // Renamed from "oldbox": the serve config and a certificate still name the old host.
      status: status(now, [laptop]),
      prefs: prefs(),
      serve: {
        TCP: { 443: { HTTPS: true } },
        Web: { [`oldbox.${SUFFIX}:443`]: { Handlers: { '/': { Proxy: 'http://127.0.0.1:8080' } } } },
        AllowFunnel: { [`oldbox.${SUFFIX}:443`]: true },
      },
      certs: [...healthyCerts, `oldbox.${SUFFIX}.crt`, `oldbox.${SUFFIX}.key`],
    },
    'routes-not-accepted': {
      status: status(now, [laptop, subnetRouter], { Health: ['Some peers are advertising routes but --accept-routes is false'] }),
      prefs: prefs({ RouteAll: false }),
      serve: null,
    },
    'routes-shadow-lan': {
      status: status(now, [laptop, peer(now, 'home-gw', 5, { PrimaryRoutes: [LAN], AllowedIPs: ['100.101.0.5/32', 'fd7a:115c:a1e0::5/128', LAN] })]),
      prefs: prefs({ RouteAll: true }),
      serve: null,
    },
    'exit-node-offline': {
      status: status(now, [laptop, peer(now, 'exit-ams', 6, { ExitNode: true, ExitNodeOption: true, Online: false, Active: false, CurAddr: '', LastSeen: iso(now - 2 * DAY) })], { ExitNodeStatus: { ID: 'n6CNTRL', Online: false, TailscaleIPs: ['100.101.0.6/32', 'fd7a:115c:a1e0::6/128'] } }),
      prefs: prefs({ ExitNodeID: 'n6CNTRL' }),
      serve: null,
    },
    'exit-node-withdrawn': {
      status: status(now, [laptop, peer(now, 'exit-ams', 6, { ExitNode: true, ExitNodeOption: false })], { ExitNodeStatus: { ID: 'n6CNTRL', Online: true, TailscaleIPs: ['100.101.0.6/32', 'fd7a:115c:a1e0::6/128'] } }),
      prefs: prefs({ ExitNodeID: 'n6CNTRL' }),
      serve: null,
    },
    /** A client from before KeyExpiry, Active, PrimaryRoutes and AllowedIPs were in the status. */
    'older-client': {
      status: (() => {
        const old = status(now, [], { Version: '1.20.4-t0123456789-gabcdef0123', CertDomains: null, CurrentTailnet: undefined, ClientVersion: undefined });
        const strip = (entry: Json) => {
          for (const field of ['KeyExpiry', 'Active', 'PrimaryRoutes', 'AllowedIPs', 'Expired', 'PeerAPIURL', 'LastWrite']) delete entry[field];
          return entry;
        };
        strip(old.Self as Json);
        old.Peer = { [laptop.PublicKey as string]: strip({ ...laptop }), [subnetRouter.PublicKey as string]: strip({ ...subnetRouter }) };
        return JSON.parse(JSON.stringify(old)) as Json;
      })(),
      prefs: prefs({ RouteAll: false }),
      errors: { serve: 'serve: unknown flag --json' },
    },
  };
}

export const TAILSCALE_IDS = ['mesh.daemon', 'mesh.key-expiry', 'mesh.peer-relayed', 'mesh.funnel-stale', 'mesh.routes-not-accepted', 'mesh.exit-node'];

/** Per scenario: the status of each Tailscale check, in TAILSCALE_IDS order. */
export const EXPECTED_TAILSCALE: Record<string, string[]> = {
  healthy: ['pass', 'pass', 'pass', 'pass', 'pass', 'pass'],
  'daemon-down': ['fail', 'skip', 'skip', 'skip', 'skip', 'skip'],
  'key-expired': ['fail', 'fail', 'skip', 'pass', 'skip', 'skip'],
  'key-expiring': ['pass', 'warn', 'pass', 'pass', 'pass', 'pass'],
  'relayed-hard-nat': ['pass', 'pass', 'warn', 'pass', 'pass', 'pass'],
  'relayed-udp-blocked': ['pass', 'pass', 'warn', 'pass', 'pass', 'pass'],
  'funnel-stale': ['pass', 'pass', 'pass', 'warn', 'pass', 'pass'],
  'routes-not-accepted': ['warn', 'pass', 'pass', 'pass', 'warn', 'pass'],
  'routes-shadow-lan': ['pass', 'pass', 'pass', 'pass', 'fail', 'pass'],
  'exit-node-offline': ['pass', 'pass', 'pass', 'pass', 'pass', 'fail'],
  'exit-node-withdrawn': ['pass', 'pass', 'pass', 'pass', 'pass', 'fail'],
  'older-client': ['pass', 'skip', 'skip', 'skip', 'skip', 'pass'],
};

/** Writes a scenario where the stand-in reads it; certificates under ROOT/var/lib/tailscale/certs. */
export function writeScenario(dir: string, scenario: Scenario, root?: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of ['status', 'prefs', 'serve', 'netcheck'] as const) {
    const error = scenario.errors?.[name];
    if (error !== undefined) writeFileSync(join(dir, `${name}.err`), `${error}\n`);
    else if (scenario[name] !== undefined) writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(scenario[name], null, name === 'netcheck' ? '\t' : '  ')}\n`);
    else writeFileSync(join(dir, `${name}.err`), `tailscale stand-in: scenario has no ${name}\n`);
  }
  if (root && scenario.certs) {
    const certs = join(root, 'var', 'lib', 'tailscale', 'certs');
    mkdirSync(certs, { recursive: true });
    for (const file of scenario.certs) writeFileSync(join(certs, file), 'PEM\n');
  }
}
