/**
 * systemd-networkd as it concerns the mesh: whether it runs (or will, being enabled), and the
 * two networkd.conf settings that make it delete rules and routes it did not create. Settings
 * are merged as networkd does: networkd.conf, then every networkd.conf.d drop-in in file-name
 * order across /etc, /run, /usr/local/lib and /usr/lib (a name in /etc hides the same name in
 * the others); the last assignment wins.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { CommandRunner } from '../../system/exec.js';
import type { HostState } from '../types.js';
import type { HostFiles } from './files.js';

export const NETWORKD_GATHERER = 'networkd';

export interface NetworkdSetting {
  value: boolean;
  /** "/etc/systemd/networkd.conf.d/60-x.conf:3", or "default". */
  source: string;
  /** The assignment as written, or "Key=yes (default)". */
  text: string;
}

export interface NetworkdFacts {
  /** How "running" was decided, for evidence. */
  running: boolean;
  runningEvidence: string;
  enabled: boolean;
  /** Config files read, in merge order. */
  configFiles: string[];
  manageForeignRoutingPolicyRules: NetworkdSetting;
  manageForeignRoutes: NetworkdSetting;
}

const CONF_DIRS = ['/etc/systemd/networkd.conf.d', '/run/systemd/networkd.conf.d', '/usr/local/lib/systemd/networkd.conf.d', '/usr/lib/systemd/networkd.conf.d'];
const MAIN_CONF = ['/etc/systemd/networkd.conf', '/usr/lib/systemd/networkd.conf'];
const SETTINGS = ['ManageForeignRoutingPolicyRules', 'ManageForeignRoutes'] as const;

function parseBoolean(text: string): boolean | undefined {
  const value = text.trim().toLowerCase();
  if (['1', 'yes', 'y', 'true', 't', 'on'].includes(value)) return true;
  if (['0', 'no', 'n', 'false', 'f', 'off'].includes(value)) return false;
  return undefined;
}

/** Applies the [Network] assignments of one file to `settings`. */
export function applyNetworkdConf(text: string, file: string, settings: Record<string, NetworkdSetting>): void {
  let section = '';
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line.replace(/^\[|\]$/g, '').trim();
      continue;
    }
    if (section !== 'Network') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    if (!(SETTINGS as readonly string[]).includes(key)) continue;
    const value = parseBoolean(line.slice(eq + 1));
    if (value === undefined) continue;
    settings[key] = { value, source: `${file}:${index + 1}`, text: line };
  }
}

/**
 * Is a systemd-networkd process running in this very network namespace? Synchronous reads: a
 * hundred tiny /proc files are faster read in place than queued on the libuv thread pool.
 */
function localNetworkdRunning(): string | undefined {
  let ownNetns: string | undefined;
  try { ownNetns = readlinkSync('/proc/self/ns/net'); } catch { /* no procfs */ }
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return undefined; }
  for (const pid of entries) {
    const first = pid.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8') !== 'systemd-network\n') continue;
      // Another namespace's networkd (a container, a test) does not manage our rules.
      if (ownNetns && readlinkSync(`/proc/${pid}/ns/net`) !== ownNetns) continue;
      return `systemd-networkd runs as pid ${pid}`;
    } catch { /* the process went away */ }
  }
  return undefined;
}

export async function gatherNetworkd(state: HostState, files: HostFiles | undefined, runner: CommandRunner | undefined): Promise<void> {
  if (!files) {
    state.gatherErrors[NETWORKD_GATHERER] = 'config files are not part of a saved snapshot (pass --root DIR with the host\'s files)';
    return;
  }
  const settings: Record<string, NetworkdSetting> = {};
  for (const key of SETTINGS) settings[key] = { value: true, source: 'default', text: `${key}=yes (default: not set in networkd.conf or networkd.conf.d)` };
  const configFiles: string[] = [];
  for (const path of MAIN_CONF) {
    const text = await files.read(path);
    if (text === undefined) continue;
    configFiles.push(path);
    applyNetworkdConf(text, path, settings);
    break;
  }
  const dropIns = new Map<string, string>();
  for (const dir of CONF_DIRS) {
    for (const name of (await files.list(dir)) ?? []) {
      if (name.endsWith('.conf') && !dropIns.has(name)) dropIns.set(name, `${dir}/${name}`);
    }
  }
  for (const name of [...dropIns.keys()].sort()) {
    const path = dropIns.get(name)!;
    const text = await files.read(path);
    if (text === undefined || text.trim() === '') continue;
    configFiles.push(path);
    applyNetworkdConf(text, path, settings);
  }

  // Running: a live local host is asked through /proc; a --root tree or a remote host through
  // the runtime state networkd writes (/run/systemd/netif/state) or pidof over ssh.
  let runningEvidence: string | undefined;
  if (files.where === 'local' && files.root === '/') {
    runningEvidence = localNetworkdRunning();
  } else if (files.where !== 'local' && files.root === '/' && runner) {
    const pidof = await runner.run('pidof', ['systemd-networkd'], { allowFailure: true }).catch(() => undefined);
    if (pidof && pidof.exitCode === 0) runningEvidence = `systemd-networkd runs as pid ${pidof.stdout.trim()}`;
  } else if (await files.exists('/run/systemd/netif/state')) {
    runningEvidence = `${files.root}/run/systemd/netif/state exists (networkd's runtime state)`;
  }
  const wants = (await files.list('/etc/systemd/system/multi-user.target.wants')) ?? [];
  const enabled = wants.includes('systemd-networkd.service');
  state.facts[NETWORKD_GATHERER] = {
    running: runningEvidence !== undefined,
    runningEvidence: runningEvidence ?? (enabled ? 'systemd-networkd is enabled but not running' : 'systemd-networkd is not running'),
    enabled,
    configFiles,
    manageForeignRoutingPolicyRules: settings.ManageForeignRoutingPolicyRules,
    manageForeignRoutes: settings.ManageForeignRoutes,
  } satisfies NetworkdFacts;
}
