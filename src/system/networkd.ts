/**
 * systemd-networkd configuration: a strict parser for .network files and drop-ins (a file that
 * does not parse is refused with its line, never edited), the lookup networkd itself does to
 * pick the .network for a link (first match in file-name order across its directories), and
 * what networkd.conf says about foreign rules.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';

export interface NetworkdEntry {
  section: string;
  key: string;
  value: string;
  line: number;
}

export interface NetworkdFile {
  /** Path on the target system (without --root). */
  path: string;
  entries: NetworkdEntry[];
}

/** Directories in networkd's precedence order for equal names (earlier wins). */
export const NETWORKD_DIRS = ['/etc/systemd/network', '/run/systemd/network', '/usr/local/lib/systemd/network', '/usr/lib/systemd/network', '/lib/systemd/network'];

/** Parses unit-file syntax; throws InputError naming the file and line when a line is neither. */
export function parseNetworkd(text: string, displayPath: string): NetworkdEntry[] {
  const entries: NetworkdEntry[] = [];
  const lines = text.split('\n');
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i].trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const header = /^\[([^\]\s][^\]]*)\]$/.exec(line);
      if (!header) throw new InputError(`${displayPath}:${lineNo}: malformed section header '${line}'`, 'fix or remove that line first; nothing was changed');
      section = header[1];
      continue;
    }
    const assignment = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
    if (!assignment) throw new InputError(`${displayPath}:${lineNo}: not a Key=Value line: '${line}'`, 'fix or remove that line first; nothing was changed');
    if (!section) throw new InputError(`${displayPath}:${lineNo}: '${assignment[1]}=' before any [Section]`, 'fix or remove that line first; nothing was changed');
    let value = assignment[2];
    // A trailing backslash continues the value on the next line.
    while (value.endsWith('\\') && i + 1 < lines.length) {
      i++;
      value = `${value.slice(0, -1)} ${lines[i].trim()}`;
      line = value;
    }
    entries.push({ section, key: assignment[1], value: value.trim(), line: lineNo });
  }
  return entries;
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * Whether a .network's [Match] section selects the link by name. Only Name= is evaluated;
 * files that match on other properties are treated as not matching by name alone when they
 * also have no Name= (reported by the caller as uncertain).
 */
export function matchesLinkName(file: NetworkdFile, linkName: string): boolean {
  const names = file.entries.filter((entry) => entry.section === 'Match' && entry.key === 'Name');
  const others = file.entries.filter((entry) => entry.section === 'Match' && entry.key !== 'Name');
  if (names.length === 0) return others.length === 0;
  let matched = false;
  for (const entry of names) {
    if (entry.value === '') { matched = false; continue; }
    const invert = entry.value.startsWith('!');
    const globs = (invert ? entry.value.slice(1) : entry.value).split(/\s+/).filter(Boolean);
    const any = globs.some((glob) => globToRegExp(glob).test(linkName));
    matched = invert ? !any : any;
  }
  return matched;
}

/** Every .network file networkd would load, in the order it tries them (parses each one). */
export function loadNetworkFiles(root: string, underRoot: (root: string, path: string) => string): NetworkdFile[] {
  const byName = new Map<string, string>();
  for (const dir of NETWORKD_DIRS) {
    const real = underRoot(root, dir);
    if (!existsSync(real)) continue;
    for (const name of readdirSync(real)) {
      if (!name.endsWith('.network') || byName.has(name)) continue;
      byName.set(name, join(dir, name));
    }
  }
  const files: NetworkdFile[] = [];
  for (const name of [...byName.keys()].sort()) {
    const path = byName.get(name)!;
    const real = underRoot(root, path);
    let text: string;
    try { text = readFileSync(real, 'utf8'); } catch { continue; }
    // An empty file or a /dev/null link masks the name.
    if (text.trim() === '') continue;
    files.push({ path, entries: parseNetworkd(text, real) });
  }
  return files;
}

/** The .network networkd applies to a link: the first in name order whose [Match] fits. */
export function networkFileFor(files: NetworkdFile[], linkName: string): NetworkdFile | undefined {
  return files.find((file) => matchesLinkName(file, linkName));
}

/** Whether networkd.conf (and its drop-ins) leave ManageForeignRoutingPolicyRules on (default yes). */
export function managesForeignRules(root: string, underRoot: (root: string, path: string) => string): boolean {
  const paths = ['/etc/systemd/networkd.conf'];
  for (const dir of ['/usr/lib/systemd/networkd.conf.d', '/run/systemd/networkd.conf.d', '/etc/systemd/networkd.conf.d']) {
    const real = underRoot(root, dir);
    if (existsSync(real)) for (const name of readdirSync(real).sort()) if (name.endsWith('.conf')) paths.push(join(dir, name));
  }
  let manages = true;
  for (const path of paths) {
    const real = underRoot(root, path);
    if (!existsSync(real)) continue;
    for (const entry of parseNetworkd(readFileSync(real, 'utf8'), real)) {
      if (entry.section === 'Network' && entry.key === 'ManageForeignRoutingPolicyRules') manages = !/^(no|false|0|off)$/i.test(entry.value);
    }
  }
  return manages;
}
