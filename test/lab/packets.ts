/**
 * IP packets for tests that play the far end of a TUN device: it answers the echo requests it
 * reads, which is what makes `ping` through the device succeed.
 */

/** RFC 1624 incremental checksum update for one 16-bit word changing from `from` to `to`. */
function updateChecksum(checksum: number, from: number, to: number): number {
  let sum = (~checksum & 0xffff) + (~from & 0xffff) + to;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The echo reply for an ICMP/ICMPv6 echo request, or undefined for any other packet. */
export function echoReply(packet: Buffer): Buffer | undefined {
  const version = packet[0] >> 4;
  if (version === 4 && packet.length >= 28 && packet[9] === 1) {
    const headerLength = (packet[0] & 0x0f) * 4;
    if (packet[headerLength] !== 8) return undefined;
    const reply = Buffer.from(packet);
    packet.copy(reply, 12, 16, 20);
    packet.copy(reply, 16, 12, 16);
    reply[headerLength] = 0;
    reply.writeUInt16BE(updateChecksum(reply.readUInt16BE(headerLength + 2), 0x0800, 0x0000), headerLength + 2);
    return reply;
  }
  if (version === 6 && packet.length >= 48 && packet[6] === 58 && packet[40] === 128) {
    const reply = Buffer.from(packet);
    packet.copy(reply, 8, 24, 40);
    packet.copy(reply, 24, 8, 24);
    reply[40] = 129;
    reply.writeUInt16BE(updateChecksum(reply.readUInt16BE(42), 0x8000, 0x8100), 42);
    return reply;
  }
  return undefined;
}
