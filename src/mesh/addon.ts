/**
 * The native addon's interface as the mesh uses it (native/*.c, built by native/binding.gyp):
 * the TUN device (tun.ts), the UDP data path (bind.ts), the handshake's primitives (crypto.ts) and
 * the control socket's transport (uapi.ts) come from it. Loading it is
 * src/native/addon.ts's job (prebuilds, or a build compiled here).
 */
import { loadNativeAddon } from '../native/addon.js';
import type { TunStats } from './tun.js';
import type { BindStats } from './bind.js';

export type TunHandle = { readonly __tun: unique symbol };
export type BindHandle = { readonly __bind: unique symbol };
export type EndpointHandle = { readonly __endpoint: unique symbol };
export type ControlHandle = { readonly __control: unique symbol };

export interface NativeAddon {
  // ---- tun.c ----
  open(name: string, mtu?: number): [TunHandle, string];
  /** The inbox each batch is read into (packets, then their uint32 lengths from lengthsOffset); deliver(-1) once, when the device was deleted under the reader. */
  startReading(handle: TunHandle, deliver: (count: number) => void): [inbox: ArrayBuffer, lengthsOffset: number];
  write(handle: TunHandle, packets: readonly Uint8Array[]): number;
  stats(handle: TunHandle): TunStats;
  flush(handle: TunHandle, timeoutMs: number): boolean;
  close(handle: TunHandle): void;
  // ---- udp.c ----
  /** onBatch: `count` records in the inbox's first recordsBytes; their bytes follow there, or are handedOver (a big batch). */
  udpOpen(port: number, mark: number, device: number, onBatch: (count: number, handedOver: ArrayBuffer | null) => void): [BindHandle, number, ArrayBuffer, number];
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
  // ---- handshake.c ----
  /** BLAKE2s of the parts' concatenation, keyed when key is given (at most 32 bytes). */
  blake2s(outLength: number, key: Uint8Array | null, ...parts: Uint8Array[]): Buffer;
  hmacBlake2s(key: Uint8Array, data: Uint8Array): Buffer;
  /** WireGuard's KDF_n: n 32-byte outputs, concatenated. */
  kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer;
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer;
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null;
  /** null for a low-order public key. forceEvp: OpenSSL's EVP_PKEY route even when the raw one is there (tests). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array, forceEvp?: boolean): Buffer | null;
  x25519PublicKey(privateKey: Uint8Array, forceEvp?: boolean): Buffer;
  x25519Backend(): 'raw' | 'evp';
  // ---- control.c ----
  /** Serves a Unix stream socket at path: each request (lines up to an empty line) goes to onRequest. */
  controlListen(path: string, onRequest: (connection: number, text: string) => void): ControlHandle;
  /** False when the connection is gone (the reply is dropped). */
  controlReply(handle: ControlHandle, connection: number, text: string): boolean;
  controlClose(handle: ControlHandle): void;
}

export function loadAddon(): NativeAddon {
  return loadNativeAddon<NativeAddon>();
}
