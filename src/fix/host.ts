/**
 * What manages this host's network configuration, which decides where a fix persists:
 * OpenWrt (UCI), systemd-networkd, or neither (a udev rule run when the tunnel appears).
 */
import { existsSync, readdirSync } from 'node:fs';
import { InputError } from '../errors.js';
import { underRoot } from './plan.js';

export type PersistMethod = 'networkd' | 'sysctl' | 'uci';
export const METHODS = ['auto', 'networkd', 'sysctl', 'uci'] as const;

function hasNetworkFiles(root: string): boolean {
  const dir = underRoot(root, '/etc/systemd/network');
  try {
    return readdirSync(dir).some((name) => name.endsWith('.network'));
  } catch {
    return false;
  }
}

/** networkd is running on this host (only meaningful for the real root). */
export function networkdRunning(root: string): boolean {
  return existsSync(underRoot(root, '/run/systemd/netif/state'));
}

/** An OpenWrt root: its configuration lives in UCI files. */
export function isOpenWrt(root: string): boolean {
  return existsSync(underRoot(root, '/etc/openwrt_release')) || existsSync(underRoot(root, '/etc/openwrt_version'));
}

export function resolveMethod(root: string, requested: string): PersistMethod {
  if (requested === 'networkd' || requested === 'sysctl' || requested === 'uci') return requested;
  if (requested !== 'auto') throw new InputError(`--method: unknown method '${requested}'`, 'use auto, networkd, sysctl or uci');
  if (isOpenWrt(root)) return 'uci';
  if (networkdRunning(root) || hasNetworkFiles(root)) return 'networkd';
  return 'sysctl';
}

/** `networkctl reload` when networkd runs here; nothing to reload otherwise (it reads files at start). */
export function networkdReloads(root: string): Array<readonly [string, ...string[]]> {
  return networkdRunning(root) ? [['networkctl', 'reload']] : [];
}
