/**
 * The inbound path: datagrams from the native reader, which has already opened every transport
 * message whose index it knows. Here, in order (reference §5): the keypair by index and its age,
 * the replay window (only after authentication), roaming, key confirmation, timers, the inner
 * packet's length and cryptokey routing on its source. Survivors go to the TUN in one write per
 * batch. Anything malformed, unauthenticated, replayed or out of place is dropped and counted;
 * nothing an attacker sends changes peer state unless it authenticates.
 */
import { RECORD_RAW, RECORD_TRANSPORT_BAD, RECORD_TRANSPORT_OK, openTransport, type ReceivedBatch } from './bind.js';
import type { Device } from './device.js';
import {
  COOKIE_REPLY_SIZE, INITIATION_SIZE, KEEPALIVE_TIMEOUT_MS, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT,
  REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME_MS, REKEY_TIMEOUT_MS, RESPONSE_SIZE, TRANSPORT_MIN_SIZE,
} from './messages.js';
import { normalizeEndpoint, type Endpoint } from './peer.js';

/** Where a transport message came from; the endpoint is built only when the peer roamed. */
interface Arrival {
  cameFrom(endpoint: Endpoint): boolean;
  endpoint(): Endpoint;
}

export class InboundPath {
  private toSink: Buffer[] = [];

  constructor(private readonly device: Device) {}

  /** A batch from the native reader. */
  receiveBatch(batch: ReceivedBatch): void {
    const device = this.device;
    if (device.isClosed) return;
    for (let i = 0; i < batch.count; i++) {
      const kind = batch.kind(i);
      if (kind === RECORD_TRANSPORT_OK) {
        const arrival: Arrival = { cameFrom: (endpoint) => batch.cameFrom(i, endpoint), endpoint: () => batch.endpoint(i) };
        this.acceptTransport(batch.receiverIndex(i), batch.counter(i), batch.payload(i), batch.wireLength(i), arrival);
      } else if (kind === RECORD_RAW) {
        this.receiveOther(batch.payload(i), () => batch.endpoint(i));
      } else if (kind === RECORD_TRANSPORT_BAD) {
        device.drops.unauthenticated += 1;
      } else {
        device.drops.unknownIndex += 1;
      }
    }
    this.flush();
  }

  /** One datagram fed in directly (tests, fuzzing): decrypted here with the same native AEAD. */
  receive(msg: Buffer, address: string, port: number): void {
    if (this.device.isClosed) return;
    try {
      const type = msg.length >= 4 ? msg.readUInt32LE(0) : 0;
      if (type === MESSAGE_TRANSPORT && msg.length >= TRANSPORT_MIN_SIZE) {
        const index = msg.readUInt32LE(4);
        const keypair = this.device.lookupIndex(index)?.keypair;
        if (!keypair) {
          this.device.drops.unknownIndex += 1;
          return;
        }
        const plain = openTransport(keypair.receiveKey, msg);
        if (!plain) {
          this.device.drops.unauthenticated += 1;
          return;
        }
        const endpoint = normalizeEndpoint(address, port);
        const arrival: Arrival = {
          cameFrom: (known) => known.address === endpoint.address && known.port === endpoint.port,
          endpoint: () => endpoint,
        };
        this.acceptTransport(index, msg.readBigUInt64LE(8), plain, msg.length, arrival);
        this.flush();
        return;
      }
      this.receiveOther(msg, () => normalizeEndpoint(address, port));
    } catch (error) {
      this.device.drops.malformed += 1;
      this.device.log.error(`dropped a datagram that raised: ${(error as Error).message}`);
    }
  }

  /** Handshake messages go to the handshake queue; anything else is malformed. */
  private receiveOther(msg: Buffer, from: () => Endpoint): void {
    const type = msg.length >= 4 ? msg.readUInt32LE(0) : 0;
    if ((type === MESSAGE_INITIATION && msg.length === INITIATION_SIZE)
      || (type === MESSAGE_RESPONSE && msg.length === RESPONSE_SIZE)
      || (type === MESSAGE_COOKIE_REPLY && msg.length === COOKIE_REPLY_SIZE)) {
      this.device.handshakes.enqueue(Buffer.from(msg), from());
      return;
    }
    this.device.drops.malformed += 1;
  }

  /** A transport message that authenticated under the keypair at `index`. */
  private acceptTransport(index: number, counter: bigint, plain: Buffer, wireLength: number, arrival: Arrival): void {
    const device = this.device;
    const entry = device.lookupIndex(index);
    const keypair = entry?.keypair;
    if (!entry || !keypair) {
      device.drops.unknownIndex += 1;
      return;
    }
    const peer = entry.peer;
    const now = performance.now();
    if (keypair.wiped || keypair.ageMs(now) >= REJECT_AFTER_TIME_MS) {
      device.drops.expiredKeypair += 1;
      return;
    }
    if (!keypair.replay.validate(counter, REJECT_AFTER_MESSAGES)) {
      device.drops.replayed += 1;
      return;
    }
    // Authenticated: the packet's source is where the peer is now (roaming), and the local
    // address it reached is where replies leave from (sticky source).
    if (!peer.endpoint || !arrival.cameFrom(peer.endpoint)) device.moveEndpoint(peer, arrival.endpoint());
    if (peer.keypairs.next === keypair) {
      device.releaseKeypairs([peer.keypairs.confirmNext(keypair)]);
      peer.timers.handshakeComplete();
      device.log.verbose(`${peer.label}: session confirmed (responder)`);
      if (peer.staged.length > 0) device.outbound.sendToPeer(peer, []);
    }
    const current = peer.keypairs.current;
    if (current && current.isInitiator && !current.rekeyOnReceiveTriggered
      && current.ageMs(now) > REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS) {
      current.rekeyOnReceiveTriggered = true;
      device.handshakes.sendInitiation(peer, false);
    }
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
    peer.rxBytes += wireLength;
    if (plain.length === 0) return; // keepalive
    peer.timers.dataReceived();

    const version = plain[0] >> 4;
    let length: number;
    if (version === 4 && plain.length >= 20) length = plain.readUInt16BE(2);
    else if (version === 6 && plain.length >= 40) length = plain.readUInt16BE(4) + 40;
    else {
      device.drops.malformed += 1;
      return;
    }
    if (length > plain.length || length < (version === 4 ? 20 : 40)) {
      device.drops.malformed += 1;
      return;
    }
    const packet = length === plain.length ? plain : plain.subarray(0, length);
    if (device.allowedIps.lookupPacket(packet, 'source') !== peer) {
      device.drops.sourceNotAllowed += 1;
      return;
    }
    this.toSink.push(packet);
  }

  private flush(): void {
    if (this.toSink.length === 0) return;
    const packets = this.toSink;
    this.toSink = [];
    if (!this.device.isClosed) this.device.sink?.write(packets);
  }
}
