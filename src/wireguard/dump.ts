/**
 * WireGuard interface state as `wg show all dump` prints it (wg(8) `dump`: tab separated; an
 * interface line `IFACE PRIVATE PUBLIC LISTEN-PORT FWMARK`, then per peer `IFACE PUBLIC PSK
 * ENDPOINT ALLOWED-IPS LATEST-HANDSHAKE RX TX KEEPALIVE`), or as a UAPI `get` reply turned into
 * the same shape. Private and preshared keys are dropped on reading.
 */
import type { InterfaceStatus } from '../mesh/status.js';

export interface WgPeer {
  publicKey: string;
  endpoint?: string;
  allowedIps: string[];
  /** Unix seconds of the latest handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
}

export interface WgInterface {
  name: string;
  publicKey?: string;
  listenPort?: number;
  peers: WgPeer[];
}

const none = (value: string | undefined) => (value === undefined || value === '(none)' || value === 'off' ? undefined : value);

export function parseWgDump(text: string): WgInterface[] {
  const byName = new Map<string, WgInterface>();
  for (const line of text.split('\n')) {
    const fields = line.split('\t');
    if (fields.length === 5) {
      const [name, , publicKey, listenPort] = fields;
      byName.set(name, { name, publicKey: none(publicKey), listenPort: Number(listenPort) || undefined, peers: [] });
    } else if (fields.length === 9) {
      const [name, publicKey, , endpoint, allowedIps, latestHandshake, rx, tx, keepalive] = fields;
      let iface = byName.get(name);
      if (!iface) {
        iface = { name, peers: [] };
        byName.set(name, iface);
      }
      iface.peers.push({
        publicKey,
        endpoint: none(endpoint),
        allowedIps: none(allowedIps)?.split(',') ?? [],
        latestHandshake: Number(latestHandshake) || 0,
        rxBytes: Number(rx) || 0,
        txBytes: Number(tx) || 0,
        persistentKeepalive: Number(none(keepalive) ?? 0) || 0,
      });
    }
  }
  return [...byName.values()];
}

export function fromUapiStatus(status: InterfaceStatus): WgInterface {
  return {
    name: status.interface,
    publicKey: status.publicKey,
    listenPort: status.listenPort,
    peers: status.peers.map((peer) => ({
      publicKey: peer.publicKey,
      endpoint: peer.endpoint,
      allowedIps: peer.allowedIps,
      latestHandshake: peer.latestHandshake ? Math.floor(Date.parse(peer.latestHandshake) / 1000) : 0,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
      persistentKeepalive: peer.persistentKeepalive,
    })),
  };
}
