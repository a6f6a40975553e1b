/**
 * NETLINK_ROUTE dumps over the netlink package's RawNetlinkSocket. Replies are handed to the
 * caller one message at a time as (buffer, offset, length) so decoders read fields in place
 * instead of building an object per attribute. Only the raw socket module is loaded: the
 * package's index pulls in generated structs for every family, which costs startup time.
 */
import { createRequire } from 'node:module';
import { CheckCouldNotRunError } from '../errors.js';

type RawSocket = import('netlink/dist/raw.js').RawNetlinkSocket;
type RawSocketClass = new (protocol: number, options?: { recvBufferSize: number; sendBufferSize: number; messagePeeking?: boolean; msgBufferSize?: number }) => RawSocket;

const NETLINK_ROUTE = 0;
/** The kernel caps dump datagrams at 32 KiB (netlink_recvmsg's max_recvmsg_len). */
const DATAGRAM_BYTES = 32768;
const NLM_F_REQUEST = 0x1;
const NLM_F_MULTI = 0x2;
const NLM_F_DUMP = 0x300;
const NLM_F_DUMP_INTR = 0x10;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const NLMSG_HEADER = 16;

export const RTM_GETLINK = 18;
export const RTM_GETADDR = 22;
export const RTM_GETROUTE = 26;
export const RTM_GETRULE = 34;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** Called for each reply message: its type and where its payload (after nlmsghdr) lies. */
export type MessageHandler = (type: number, buffer: Buffer, payload: number, end: number) => void;

let socketClass: RawSocketClass | undefined;

function loadSocketClass(): RawSocketClass {
  if (!socketClass) {
    const require = createRequire(import.meta.url);
    socketClass = (require('netlink/dist/raw.js') as typeof import('netlink/dist/raw.js')).RawNetlinkSocket as unknown as RawSocketClass;
  }
  return socketClass;
}

class DumpInterrupted extends Error {}

export class RouteNetlink {
  private readonly socket: RawSocket;
  private sequence = Math.floor(Math.random() * 0x7fffffff);

  constructor() {
    const Socket = loadSocketClass();
    try {
      // Receiving into 32 KiB buffers (instead of peeking each datagram's size first) makes the
      // kernel fill 32 KiB per dump datagram: 8x fewer syscalls, callbacks and Buffers than 4 KiB.
      // A large socket buffer lets it queue several datagrams while we decode.
      this.socket = new Socket(NETLINK_ROUTE, { recvBufferSize: 4 << 20, sendBufferSize: 1 << 16, messagePeeking: false, msgBufferSize: DATAGRAM_BYTES });
    } catch (error) {
      throw new CheckCouldNotRunError(`cannot open a NETLINK_ROUTE socket: ${(error as Error).message}`, 'use --source ip-json');
    }
  }

  close(): void {
    this.socket.close();
  }

  /**
   * One dump request (header `headerBytes` of zeros except the family byte at offset 0), its
   * replies passed to onMessage. A dump the kernel marks as interrupted (the table changed under
   * it) is retried, with onRestart telling the caller to drop what it collected.
   */
  async dump(messageType: number, family: number, headerBytes: number, onMessage: MessageHandler, onRestart: () => void = () => {}): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.dumpOnce(messageType, family, headerBytes, onMessage);
        return;
      } catch (error) {
        if (!(error instanceof DumpInterrupted) || attempt >= 4) {
          if (error instanceof DumpInterrupted) throw new CheckCouldNotRunError('the routing state kept changing during the netlink dump', 'try again');
          throw error;
        }
        onRestart();
      }
    }
  }

  private dumpOnce(messageType: number, family: number, headerBytes: number, onMessage: MessageHandler): Promise<void> {
    const sequence = (this.sequence = (this.sequence + 1) >>> 0);
    const request = Buffer.alloc(NLMSG_HEADER + headerBytes);
    request.writeUInt32LE(request.length, 0);
    request.writeUInt16LE(messageType, 4);
    request.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    request.writeUInt32LE(sequence, 8);
    request.writeUInt8(family, NLMSG_HEADER);
    return new Promise<void>((resolve, reject) => {
      let interrupted = false;
      const finish = (error?: Error) => {
        this.socket.off('message', onDatagram);
        this.socket.off('truncatedMessage', onTruncated);
        this.socket.off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      const onError = (error: Error) => finish(new CheckCouldNotRunError(`netlink dump failed: ${error.message}`));
      const onDatagram = (buffer: Buffer) => {
        let offset = 0;
        try {
          // Header fields read byte by byte: Buffer.readUInt32LE's argument checks cost more than
          // the read, on half a million messages.
          while (offset + NLMSG_HEADER <= buffer.length) {
            const length = (buffer[offset] | (buffer[offset + 1] << 8) | (buffer[offset + 2] << 16) | (buffer[offset + 3] << 24)) >>> 0;
            if (length < NLMSG_HEADER || offset + length > buffer.length) break;
            const type = buffer[offset + 4] | (buffer[offset + 5] << 8);
            const flags = buffer[offset + 6] | (buffer[offset + 7] << 8);
            if (((buffer[offset + 8] | (buffer[offset + 9] << 8) | (buffer[offset + 10] << 16) | (buffer[offset + 11] << 24)) >>> 0) === sequence) {
              if (flags & NLM_F_DUMP_INTR) interrupted = true;
              if (type === NLMSG_DONE) {
                finish(interrupted ? new DumpInterrupted() : undefined);
                return;
              }
              if (type === NLMSG_ERROR) {
                const errno = -buffer.readInt32LE(offset + NLMSG_HEADER);
                if (errno === 0) {
                  finish();
                  return;
                }
                finish(new CheckCouldNotRunError(`netlink dump (message type ${messageType}) refused: errno ${errno}`));
                return;
              }
              if (!interrupted) onMessage(type, buffer, offset + NLMSG_HEADER, offset + length);
              if (!(flags & NLM_F_MULTI)) {
                finish(interrupted ? new DumpInterrupted() : undefined);
                return;
              }
            }
            offset += (length + 3) & ~3;
          }
        } catch (error) {
          finish(error as Error);
        }
      };
      const onTruncated = () => finish(new CheckCouldNotRunError(`a netlink reply was larger than ${DATAGRAM_BYTES} bytes and got truncated`));
      this.socket.on('message', onDatagram);
      this.socket.on('truncatedMessage', onTruncated);
      this.socket.on('error', onError);
      this.socket.send(request, {}, (error) => {
        if (error) finish(new CheckCouldNotRunError(`netlink request failed: ${error.message}`));
      });
    });
  }
}

/** Whether a NETLINK_ROUTE socket can be opened here (the native addon loads, the kernel allows it). */
export function canOpenRouteSocket(): boolean {
  try {
    const Socket = loadSocketClass();
    const socket = new Socket(NETLINK_ROUTE, { recvBufferSize: 1 << 16, sendBufferSize: 1 << 16 });
    socket.close();
    return true;
  } catch {
    return false;
  }
}
