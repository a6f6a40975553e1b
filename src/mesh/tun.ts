/**
 * TUN devices for the mesh node, through the project's own N-API addon (native/tun.c): Node
 * cannot issue TUNSETIFF, and a blocking read() on the event loop would stall everything else.
 * Packets cross between native code and JavaScript in batches, one call per batch each way.
 */
import { CheckCouldNotRunError, InputError } from '../errors.js';
import { loadAddon, type NativeAddon, type TunHandle } from './addon.js';

export interface TunDevice {
  readonly name: string;
  /** Start delivering IP packets read from the device, in batches (one call per batch).
   *  The Buffers are views of the reader's buffer, valid during the call only: copy a packet to
   *  keep it (the next batch is read into the same place). */
  onPackets(handler: (packets: Buffer[]) => void): void;
  /** Write IP packets to the device. */
  write(packets: Buffer[]): void;
  close(): void;
}

/** Counters kept natively; `tx*` count packets that reached the kernel. */
export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  rxBatches: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txBatches: number;
  txErrors: number;
  txDropped: number;
  txQueuedBytes: number;
  lastTxErrno: number;
}

/** What openTun returns: the contract above plus counters and a flush for orderly shutdown. */
export interface NativeTunDevice extends TunDevice {
  stats(): TunStats;
  /** Waits (synchronously, up to timeoutMs) until queued writes reached the kernel. */
  flush(timeoutMs?: number): boolean;
  /** Called once if the interface is deleted from outside (`ip link del`); reading has stopped. */
  onGone(handler: () => void): void;
  readonly closed: boolean;
}

const INTERFACE_NAME = /^[A-Za-z0-9_=+.-]{1,15}$/;

function openError(name: string, error: NodeJS.ErrnoException): Error {
  const code = error.code;
  if (error.syscall === 'open') {
    if (code === 'ENOENT') return new CheckCouldNotRunError(`cannot open /dev/net/tun: it does not exist`, 'load the tun module (`modprobe tun`) or, in a container, pass the device in (--device /dev/net/tun)');
    if (code === 'EACCES' || code === 'EPERM') return new CheckCouldNotRunError(`cannot open /dev/net/tun: permission denied`, 'run the mesh node as root (or with CAP_NET_ADMIN)');
    return new CheckCouldNotRunError(`cannot open /dev/net/tun: ${error.message}`);
  }
  if (code === 'EPERM' || code === 'EACCES') return new CheckCouldNotRunError(`cannot create TUN device ${name}: operation not permitted`, 'creating network devices needs root (CAP_NET_ADMIN)');
  if (code === 'EBUSY') return new CheckCouldNotRunError(`cannot attach to TUN device ${name}: it is busy`, `another process holds ${name} open (\`netmend node down ${name}\` or stop that process)`);
  if (code === 'EINVAL') return new CheckCouldNotRunError(`cannot attach to ${name}: it exists and is not a TUN device`, `pick another interface name or remove the existing ${name}`);
  return new CheckCouldNotRunError(`cannot open TUN device ${name}: ${error.message}`);
}

class AddonTunDevice implements NativeTunDevice {
  private isClosed = false;
  private reading = false;
  private gone = false;
  private goneHandler?: () => void;

  constructor(private readonly native: NativeAddon, private readonly handle: TunHandle, readonly name: string) {}

  get closed(): boolean {
    return this.isClosed;
  }

  onPackets(handler: (packets: Buffer[]) => void): void {
    if (this.isClosed) throw new CheckCouldNotRunError(`TUN device ${this.name} is closed`);
    if (this.reading) throw new Error(`TUN device ${this.name} already has a packet handler`);
    this.reading = true;
    let sizes: Uint32Array | undefined;
    const [inbox, lengthsOffset] = this.native.startReading(this.handle, (count) => {
      if (count < 0) {
        this.gone = true;
        this.goneHandler?.();
        return;
      }
      if (!sizes) return;
      const packets = new Array<Buffer>(count);
      let offset = 0;
      for (let i = 0; i < count; i++) {
        packets[i] = Buffer.from(inbox, offset, sizes[i]);
        offset += sizes[i];
      }
      try {
        handler(packets);
      } catch (error) {
        // Thrown inside a native callback an exception's fate depends on Node's N-API policy;
        // rethrown from a tick it is an ordinary uncaught exception.
        process.nextTick(() => { throw error; });
      }
    });
    sizes = new Uint32Array(inbox, lengthsOffset);
  }

  onGone(handler: () => void): void {
    this.goneHandler = handler;
    if (this.gone) handler();
  }

  write(packets: Buffer[]): void {
    if (this.isClosed || packets.length === 0) return;
    this.native.write(this.handle, packets);
  }

  stats(): TunStats {
    return this.native.stats(this.handle);
  }

  flush(timeoutMs = 1000): boolean {
    if (this.isClosed) return true;
    return this.native.flush(this.handle, timeoutMs);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.native.close(this.handle);
  }
}

/** Opens (creating if needed) a TUN device IFF_TUN|IFF_NO_PI. Throws CheckCouldNotRunError (exit 3)
 *  with a clear hint when the native addon is missing or /dev/net/tun cannot be opened. */
export function openTun(name: string, mtu = 0): NativeTunDevice {
  if (!INTERFACE_NAME.test(name)) throw new InputError(`'${name}' is not a valid interface name`, 'use 1-15 letters, digits or _=+.-');
  const native = loadAddon();
  let opened: [TunHandle, string];
  try {
    opened = native.open(name, mtu);
  } catch (error) {
    throw openError(name, error as NodeJS.ErrnoException);
  }
  return new AddonTunDevice(native, opened[0], opened[1]);
}
