/**
 * The OpenWrt installer as one self-contained POSIX sh script: openwrt/install.sh with the
 * launcher (openwrt/launcher.sh) and the procd init script (openwrt/tailscale.init) embedded,
 * and the download functions (openwrt/fetch.sh) in both the installer and the launcher,
 * so it can be piped to a router over ssh. The parts stay separate files so shellcheck sees
 * every line of them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { bypassPriorityAhead, tailscaleLookupPriority } from '../doctor/tailscale-rules.js';
import { CheckCouldNotRunError } from '../errors.js';

/** openwrt/ in the installed package (from dist/src/openwrt/ or src/openwrt/). */
export const openwrtDir = fileURLToPath(new URL('../../../openwrt/', import.meta.url));

const SETTINGS_END = '# --- end settings ---\n';

function readPart(name: string): string {
  try {
    return readFileSync(join(openwrtDir, name), 'utf8');
  } catch (error) {
    throw new CheckCouldNotRunError(`cannot read ${join(openwrtDir, name)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'reinstall netmend: the openwrt/ directory is part of the package');
  }
}

/** What follows the settings block: the part of a file that is copied verbatim to the router. */
export function bodyAfterSettings(text: string, name: string): string {
  const at = text.indexOf(SETTINGS_END);
  if (at < 0) throw new CheckCouldNotRunError(`${name} has no '${SETTINGS_END.trim()}' line`);
  return text.slice(at + SETTINGS_END.length).replace(/\n+$/, '');
}

function embed(installer: string, marker: string, body: string, delimiter: string): string {
  if (body.split('\n').includes(delimiter)) throw new CheckCouldNotRunError(`an embedded file contains the here-document delimiter ${delimiter}`);
  const line = `${marker}\n`;
  if (!installer.includes(line)) throw new CheckCouldNotRunError(`an installer part in ${openwrtDir} has no ${marker} line`);
  // A function replacement: a string one would turn the body's `$$` into `$`.
  return installer.replace(line, () => `${body}\n`);
}

/** Where openwrt/fetch.sh goes in the installer and in the launcher: one copy of the download code. */
const FETCH_MARKER = '# @@FETCH_FUNCTIONS@@';

function withFetchFunctions(text: string): string {
  return embed(text, FETCH_MARKER, readPart('fetch.sh').replace(/^# shellcheck shell=sh\n/, '').replace(/\n+$/, ''), 'NETMEND_LAUNCHER_EOF');
}

/** The launcher as it lands on the router after its settings block. */
export function launcherBody(): string {
  return withFetchFunctions(bodyAfterSettings(readPart('launcher.sh'), 'launcher.sh'));
}

/** Replaces a `name=@@MARKER@@` setting of the installer with a number. */
function setNumber(installer: string, marker: string, value: number): string {
  if (!installer.includes(marker)) throw new CheckCouldNotRunError(`openwrt/install.sh has no ${marker}`);
  return installer.replace(marker, String(value));
}

/** The complete installer script. */
export function installerScript(): string {
  let script = withFetchFunctions(readPart('install.sh'));
  // The --lan-rule goes where the doctor would put the same rule: ahead of tailscaled's lookup.
  script = setNumber(script, '@@LAN_RULE_PRIORITY@@', bypassPriorityAhead(tailscaleLookupPriority(false)));
  script = setNumber(script, '@@LAN_RULE_PRIORITY_MWAN3@@', bypassPriorityAhead(tailscaleLookupPriority(true)));
  script = embed(script, '@@LAUNCHER_BODY@@', launcherBody(), 'NETMEND_LAUNCHER_EOF');
  script = embed(script, '@@INIT_BODY@@', bodyAfterSettings(readPart('tailscale.init'), 'tailscale.init'), 'NETMEND_INIT_EOF');
  return script;
}
