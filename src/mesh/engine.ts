/**
 * The engine under both front ends (`netmend node up -c FILE` and `netmend-wg IFACE`): a device,
 * its UAPI control socket and its TUN, with wireguard-go's interface life:
 *  - the TUN keeps being served wherever the link is moved (`ip link set IF netns X`): nothing
 *    here looks the link up by name after it was created;
 *  - deletion (`ip link del`, wg-quick down) is noticed on the TUN file descriptor itself, and the
 *    control socket is gone before the next event-loop turn, so the name can be reused at once;
 *  - removing the control socket file also stops the engine, as wireguard-go's inotify watch does.
 * Closing the TUN file descriptor is what removes a link that still exists (a non-persistent TUN).
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CheckCouldNotRunError } from '../errors.js';
import type { Device } from './device.js';
import type { NativeTunDevice } from './tun.js';
import { UAPI_DIR, UapiServer } from './uapi.js';

export interface Engine {
  device: Device;
  uapi: UapiServer;
  tun: NativeTunDevice;
  /** Stops serving: socket, sockets and TUN (which removes the link if it still exists). Idempotent. */
  shutdown(why?: string): void;
  /** Resolves with the reason once the engine stopped, whoever asked. */
  stopped: Promise<string>;
}

export interface EngineOptions {
  uapiDir?: string;
  mtu: number;
}

/**
 * Serves the control socket, then creates the TUN (MTU set by name at once). Errors are
 * CheckCouldNotRunError with a hint; nothing is left behind on failure.
 */
export async function startEngine(device: Device, options: EngineOptions): Promise<Engine> {
  const uapi = new UapiServer(device, options.uapiDir ?? UAPI_DIR);
  try {
    await uapi.listen();
  } catch (error) {
    throw new CheckCouldNotRunError(`cannot serve the control socket: ${(error as Error).message}`,
      `another WireGuard implementation serves ${device.name}; stop it first (or pick another name)`);
  }
  let tun: NativeTunDevice;
  try {
    const { openTun } = await import('./tun.js');
    tun = openTun(device.name, options.mtu);
  } catch (error) {
    uapi.close();
    throw error;
  }

  let markStopped: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => { markStopped = resolve; });
  let down = false;
  let watcher: FSWatcher | undefined;
  const shutdown = (why = 'shutdown requested') => {
    if (down) return;
    down = true;
    // The socket first: wg-quick's next `up` checks it, and it is the slowest thing to release.
    uapi.close();
    watcher?.close();
    device.close();
    tun.close();
    markStopped(why);
  };

  device.sink = tun;
  tun.onPackets((packets) => device.sendPackets(packets));
  tun.onGone(() => {
    device.log.info(`${device.name} was deleted: shutting down`);
    shutdown('interface deleted');
  });
  try {
    watcher = watch(dirname(uapi.path), (_event, file) => {
      if (file !== null && file !== basename(uapi.path)) return;
      if (!existsSync(uapi.path)) {
        device.log.info(`${uapi.path} was removed: shutting down`);
        shutdown('control socket removed');
      }
    });
    watcher.unref();
  } catch {
    // Without inotify the engine still stops on deletion and on signals.
  }
  return { device, uapi, tun, shutdown, stopped };
}
