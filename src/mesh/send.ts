/**
 * The outbound path: IP packets read from the TUN, routed to peers by destination (cryptokey
 * routing), then handed per peer and per batch to the native writer, which pads, seals and sends
 * them. JavaScript assigns the counters and keeps the timers; no per-packet crypto runs here.
 */
import type { Device } from './device.js';
import type { Keypair } from './keypairs.js';
import { MAX_STAGED_PACKETS, paddedLength, REJECT_AFTER_MESSAGES_NUMBER, REJECT_AFTER_TIME_MS, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME_MS, TRANSPORT_MIN_SIZE } from './messages.js';
import type { Peer } from './peer.js';

const KEEPALIVE = [Buffer.alloc(0)];

export function usableForSending(keypair: Keypair | undefined, now: number): keypair is Keypair {
  return keypair !== undefined && !keypair.wiped && keypair.sendCounter < REJECT_AFTER_MESSAGES_NUMBER && keypair.ageMs(now) < REJECT_AFTER_TIME_MS;
}

export class OutboundPath {
  constructor(private readonly device: Device) {}

  /** IP packets read from the TUN: route each to its peer by destination, then send per peer. */
  sendPackets(packets: Buffer[]): void {
    const device = this.device;
    if (packets.length === 1) {
      const peer = device.allowedIps.lookupPacket(packets[0], 'destination');
      if (peer) this.sendToPeer(peer, packets);
      else device.drops.noRoute += 1;
      return;
    }
    let single: Peer | undefined;
    let byPeer: Map<Peer, Buffer[]> | undefined;
    let first: Buffer[] = [];
    for (const packet of packets) {
      const peer = device.allowedIps.lookupPacket(packet, 'destination');
      if (!peer) {
        device.drops.noRoute += 1;
        continue;
      }
      // The common case is one peer per batch: no map until a second peer shows up.
      if (single === undefined || single === peer) {
        single = peer;
        first.push(packet);
        continue;
      }
      if (!byPeer) byPeer = new Map([[single, first]]);
      const list = byPeer.get(peer);
      if (list) list.push(packet);
      else byPeer.set(peer, [packet]);
    }
    if (!byPeer) {
      if (single) this.sendToPeer(single, first);
      return;
    }
    first = [];
    for (const [peer, list] of byPeer) this.sendToPeer(peer, list);
  }

  private stage(peer: Peer, packets: Buffer[]): void {
    for (const packet of packets) peer.staged.push(packet.length > 0 ? Buffer.from(packet) : packet);
    if (peer.staged.length > MAX_STAGED_PACKETS) {
      this.device.drops.stagedOverflow += peer.staged.length - MAX_STAGED_PACKETS;
      peer.staged.splice(0, peer.staged.length - MAX_STAGED_PACKETS);
    }
  }

  /** Sends data packets (an empty buffer is a keepalive), staging them while there is no session. */
  sendToPeer(peer: Peer, packets: Buffer[]): void {
    const device = this.device;
    if (peer.removed) return;
    const now = performance.now();
    const keypair = peer.keypairs.current;
    if (!usableForSending(keypair, now)) {
      this.stage(peer, packets);
      device.handshakes.sendInitiation(peer, false);
      return;
    }
    if (!peer.endpoint || !peer.nativeEndpoint || !device.canSend) {
      device.drops.noEndpoint += packets.length;
      return;
    }
    let batch = packets;
    if (peer.staged.length > 0) {
      batch = peer.staged.concat(packets);
      peer.staged = [];
    }
    if (batch.length === 0) return;
    let sentData = false;
    let wireBytes = 0;
    const mtu = device.mtu;
    for (const packet of batch) {
      if (packet.length > 0) {
        sentData = true;
        wireBytes += TRANSPORT_MIN_SIZE + paddedLength(packet.length, mtu);
      } else {
        wireBytes += TRANSPORT_MIN_SIZE;
      }
    }
    const counter = keypair.sendCounter;
    keypair.sendCounter += batch.length;
    device.bind!.sendSealed(peer.nativeEndpoint, keypair.sendKey, keypair.remoteIndex, counter, mtu, batch);
    peer.txBytes += wireBytes;
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    if (sentData) peer.timers.dataSent();
    // Only the session's initiator rekeys on time, so the two sides never race (reference §8).
    if (keypair.sendCounter > REKEY_AFTER_MESSAGES || (keypair.isInitiator && keypair.ageMs(now) > REKEY_AFTER_TIME_MS)) {
      device.handshakes.sendInitiation(peer, false);
    }
  }

  sendKeepalive(peer: Peer): void {
    this.sendToPeer(peer, peer.staged.length === 0 ? KEEPALIVE : []);
  }
}
