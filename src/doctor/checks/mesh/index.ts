/** The mesh topic: the mesh's own health (Tailscale first, then plain WireGuard, then the NAT). */
import type { Check } from '../../types.js';
import daemon from './daemon.js';
import exitNode from './exit-node.js';
import funnelStale from './funnel-stale.js';
import keyExpiry from './key-expiry.js';
import natMapping from './nat-mapping.js';
import peerRelayed from './peer-relayed.js';
import routesNotAccepted from './routes-not-accepted.js';
import wgHandshake from './wg-handshake.js';

export const meshChecks: readonly Check[] = [daemon, keyExpiry, peerRelayed, funnelStale, routesNotAccepted, exitNode, wgHandshake, natMapping];
