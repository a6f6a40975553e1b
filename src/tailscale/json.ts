/**
 * The JSON the tailscale CLI prints, typed after the Go structs it is marshalled from
 * (tailscale.com ipn/ipnstate.Status and PeerStatus, ipn.Prefs, ipn.ServeConfig,
 * net/netcheck.Report). Only the fields netmend reads are declared, and every one is optional:
 * older clients lack many of them (KeyExpiry arrived in early 2023, PeerRelay in 2025), and a check
 * must tell "absent" from "false" to say "cannot tell" instead of guessing.
 *
 * Go's encoding: time.Time is RFC 3339 ("0001-01-01T00:00:00Z" when zero), opt.Bool is
 * true/false/null, netip.AddrPort is "ip:port" ("" when zero), time.Duration is nanoseconds,
 * maps with int keys have string keys, a nil pointer or slice is null.
 */

/** ipnstate.PeerStatus (also Status.Self). */
export interface TailscalePeer {
  ID?: string;
  PublicKey?: string;
  HostName?: string;
  /** FQDN with a trailing dot: "host.tailnet-1234.ts.net." */
  DNSName?: string;
  OS?: string;
  TailscaleIPs?: string[] | null;
  AllowedIPs?: string[] | null;
  /** Subnets this peer is the primary router for now (exit routes excluded by control). */
  PrimaryRoutes?: string[] | null;
  Addrs?: string[] | null;
  /** The direct ip:port in use; empty when traffic goes through a relay. */
  CurAddr?: string;
  /** Home DERP region code. */
  Relay?: string;
  /** A peer relay (ip:port:vni) in use instead of DERP; newer clients only. */
  PeerRelay?: string;
  RxBytes?: number;
  TxBytes?: number;
  LastWrite?: string;
  LastSeen?: string;
  LastHandshake?: string;
  Online?: boolean;
  ExitNode?: boolean;
  ExitNodeOption?: boolean;
  /** Sent to in the last two minutes or so. */
  Active?: boolean;
  Expired?: boolean;
  KeyExpiry?: string;
}

/** ipnstate.ExitNodeStatus: nil (absent) when the chosen exit node is not in the netmap. */
export interface TailscaleExitNodeStatus {
  ID?: string;
  Online?: boolean;
  TailscaleIPs?: string[] | null;
}

/** ipnstate.Status, `tailscale status --json`. */
export interface TailscaleStatus {
  Version?: string;
  TUN?: boolean;
  /** NoState, NeedsLogin, NeedsMachineAuth, Stopped, Starting, Running. */
  BackendState?: string;
  AuthURL?: string;
  TailscaleIPs?: string[] | null;
  Self?: TailscalePeer | null;
  ExitNodeStatus?: TailscaleExitNodeStatus | null;
  Health?: string[] | null;
  MagicDNSSuffix?: string;
  CurrentTailnet?: { Name?: string; MagicDNSSuffix?: string; MagicDNSEnabled?: boolean } | null;
  CertDomains?: string[] | null;
  /** Keyed by "nodekey:<hex>". */
  Peer?: Record<string, TailscalePeer> | null;
}

/** ipn.Prefs, `tailscale debug prefs`. */
export interface TailscalePrefs {
  ControlURL?: string;
  /** --accept-routes. */
  RouteAll?: boolean;
  ExitNodeID?: string;
  ExitNodeIP?: string;
  AutoExitNode?: string;
  ExitNodeAllowLANAccess?: boolean;
  CorpDNS?: boolean;
  WantRunning?: boolean;
  LoggedOut?: boolean;
  ShieldsUp?: boolean;
  Hostname?: string;
  AdvertiseRoutes?: string[] | null;
  NoSNAT?: boolean;
  NetfilterMode?: number;
}

/** ipn.TCPPortHandler. */
export interface TailscaleTcpPortHandler {
  HTTPS?: boolean;
  HTTP?: boolean;
  TCPForward?: string;
  TerminateTLS?: string;
}

/** ipn.ServeConfig, `tailscale serve status --json` (null when nothing is configured). */
export interface TailscaleServeConfig {
  /** Keyed by port number (as a string). */
  TCP?: Record<string, TailscaleTcpPortHandler> | null;
  /** Keyed by "SNI-name:port". */
  Web?: Record<string, { Handlers?: Record<string, unknown> | null }> | null;
  Services?: Record<string, unknown> | null;
  /** Keyed by "SNI-name:port". */
  AllowFunnel?: Record<string, boolean> | null;
  /** Foreground (non --bg) configs by IPN bus session. */
  Foreground?: Record<string, TailscaleServeConfig> | null;
}

/** netcheck.Report, `tailscale netcheck --format=json`. */
export interface TailscaleNetcheck {
  /** A UDP STUN round trip completed. */
  UDP?: boolean;
  IPv4?: boolean;
  IPv6?: boolean;
  IPv4CanSend?: boolean;
  /** opt.Bool: null when not measured (one STUN server answered, or IPv4 failed). */
  MappingVariesByDestIP?: boolean | null;
  UPnP?: boolean | null;
  PMP?: boolean | null;
  PCP?: boolean | null;
  PreferredDERP?: number;
  GlobalV4?: string;
  GlobalV6?: string;
  CaptivePortal?: boolean | null;
}

/** "1.80.2-t1234abcd-g..." -> [1, 80, 2]; undefined when absent or unparsable. */
export function tailscaleVersion(status: TailscaleStatus): [number, number, number] | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(status.Version ?? '');
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

export function versionAtLeast(status: TailscaleStatus, major: number, minor: number): boolean {
  const version = tailscaleVersion(status);
  if (!version) return false;
  return version[0] > major || (version[0] === major && version[1] >= minor);
}

/** A Go time.Time in JSON: undefined when absent or the zero time. */
export function goTime(text: string | undefined): Date | undefined {
  if (!text || text.startsWith('0001-01-01')) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The peer's short name for evidence: DNS name without the tailnet suffix, else HostName. */
export function peerName(peer: TailscalePeer): string {
  const dns = (peer.DNSName ?? '').replace(/\.$/, '');
  return dns.split('.')[0] || peer.HostName || peer.ID || 'unknown peer';
}

export function peersOf(status: TailscaleStatus): TailscalePeer[] {
  return Object.values(status.Peer ?? {});
}

/** tailscaled's default UDP listen port (`--port`), the mesh port a router forwards. */
export const TAILSCALE_DEFAULT_PORT = 41641;
