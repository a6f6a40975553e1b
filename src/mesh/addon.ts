/**
 * The native addon's interface as the mesh uses it (native/*.c, built by native/binding.gyp):
 * the TUN device (tun.ts) and the UDP data path (bind.ts) both come from it. Loading it is
 * src/native/addon.ts's job (prebuilds, or a build compiled here).
 */
import { loadNativeAddon } from '../native/addon.js';
import type { TunStats } from './tun.js';
import type { BindStats } from './bind.js';

export type TunHandle = { readonly __tun: unique symbol };
export type BindHandle = { readonly __bind: unique symbol };
export type EndpointHandle = { readonly __endpoint: unique symbol };

export interface NativeAddon {
  // ---- tun.c ----
  open(name: string, mtu?: number): [TunHandle, string];
  /** bytes and lengths are null once, when the device was deleted under the reader. */
  startReading(handle: TunHandle, deliver: (bytes: ArrayBuffer | null, lengths: ArrayBuffer | null, count: number) => void): void;
  write(handle: TunHandle, packets: readonly Uint8Array[]): number;
  stats(handle: TunHandle): TunStats;
  flush(handle: TunHandle, timeoutMs: number): boolean;
  close(handle: TunHandle): void;
  // ---- udp.c ----
  udpOpen(port: number, mark: number, device: number, onBatch: (records: ArrayBuffer, data: ArrayBuffer, count: number) => void): [BindHandle, number];
  udpClose(handle: BindHandle): void;
  udpSetMark(handle: BindHandle, mark: number): void;
  udpSend(handle: BindHandle, endpoint: EndpointHandle, key: Uint8Array | null, remoteIndex: number, counter: number, mtu: number, packets: readonly Uint8Array[]): number;
  udpStats(handle: BindHandle): BindStats;
  endpointCreate(): EndpointHandle;
  endpointSet(endpoint: EndpointHandle, address: Uint8Array, port: number, source: Uint8Array | null, ifindex: number): void;
  endpointClearSource(endpoint: EndpointHandle): void;
  endpointHasSource(endpoint: EndpointHandle): boolean;
  keyAdd(device: number, index: number, key: Uint8Array): void;
  keyRemove(device: number, index: number): void;
  transportOpen(key: Uint8Array, message: Uint8Array): Buffer | null;
  transportSeal(key: Uint8Array, remoteIndex: number, counter: number, mtu: number, plaintext: Uint8Array): Buffer;
}

export function loadAddon(): NativeAddon {
  return loadNativeAddon<NativeAddon>();
}
