/**
 * unbound.conf(5): `clause:` lines opening a section, `key: value` lines inside. Parsed to find
 * forward-zones and DNSSEC/private-address settings, and to refuse files unbound would refuse.
 */
import { InputError } from '../errors.js';

export interface UnboundEntry {
  clause: string;
  key: string;
  value: string;
  where: string;
}

export interface UnboundZone {
  clause: string;
  /** Entries of this clause instance, in order. */
  entries: UnboundEntry[];
}

const CLAUSES = new Set(['server', 'forward-zone', 'stub-zone', 'auth-zone', 'remote-control', 'python', 'dynlib', 'view', 'dnscrypt', 'cachedb', 'rpz', 'include', 'include-toplevel']);

function unquote(value: string): string {
  const trimmed = value.replace(/\s+#.*$/, '').trim();
  return /^".*"$/.test(trimmed) || /^'.*'$/.test(trimmed) ? trimmed.slice(1, -1) : trimmed;
}

/**
 * The files an `include:` / `include-toplevel:` entry names, in the order unbound reads them;
 * read lazily, one after the other, so each is read when unbound would read it. `reading`: the
 * files open at that point, outermost first (an include loop names one of them again).
 */
export type UnboundIncluder = (entry: UnboundEntry, reading: readonly string[]) => Iterable<{ text: string; file: string }>;

interface ParseState {
  zones: UnboundZone[];
  current?: UnboundZone;
  reading: string[];
}

/**
 * `include` reads the files an include names (gather/dns.ts follows them under --root); without it
 * includes are only recorded. As unbound does, the text of an `include:` continues the clause
 * it appears in (and a clause it opens stays open after it); `include-toplevel:` starts its file
 * outside any clause and ends with none open.
 */
export function parseUnboundConf(text: string, file: string, include?: UnboundIncluder): UnboundZone[] {
  const state: ParseState = { zones: [], reading: [] };
  parseInto(state, text, file, include);
  return state.zones;
}

function parseInto(state: ParseState, text: string, file: string, include: UnboundIncluder | undefined): void {
  const { zones } = state;
  if (text.includes('\0')) throw new InputError(`${file} is not an unbound config: it contains NUL bytes`);
  state.reading.push(file);
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z0-9-]+):(?:\s+(.*))?$/.exec(line) ?? /^([A-Za-z0-9-]+):(.*)$/.exec(line);
    if (!match) throw new InputError(`${file}:${index + 1}: '${line.slice(0, 60)}' is not an unbound 'name: value' line`, 'unbound-checkconf shows the same error');
    const key = match[1];
    const value = unquote(match[2] ?? '');
    if (key === 'include' || key === 'include-toplevel') {
      const entry: UnboundEntry = { clause: 'toplevel', key, value, where: `${file}:${index + 1}` };
      (zones.at(-1) ?? (zones[zones.length] = { clause: 'toplevel', entries: [] })).entries.push(entry);
      const toplevel = key === 'include-toplevel';
      if (toplevel) state.current = undefined;
      for (const included of include?.(entry, state.reading) ?? []) {
        parseInto(state, included.text, included.file, include);
        if (toplevel) state.current = undefined;
      }
      continue;
    }
    if (value === '' && CLAUSES.has(key)) {
      state.current = { clause: key, entries: [] };
      zones.push(state.current);
      continue;
    }
    if (!state.current) throw new InputError(`${file}:${index + 1}: '${key}' appears before any clause such as 'server:'`);
    state.current.entries.push({ clause: state.current.clause, key, value, where: `${file}:${index + 1}` });
  }
  state.reading.pop();
}

const trimDot = (name: string) => name.replace(/\.$/, '').toLowerCase();

export interface UnboundSplitState {
  forwardZone: Record<string, UnboundZone | undefined>;
  /** Any forward-zone or stub-zone with the domain's name, wherever it points (unbound refuses a second one). */
  sameNameZone: Record<string, UnboundZone | undefined>;
  /** A `private-address` covering 100.64.0.0/10 (unbound then strips mesh answers). */
  privateAddress?: UnboundEntry;
  privateDomain: Record<string, UnboundEntry | undefined>;
  /** Validation is on (a trust anchor is configured) and the domain is not insecure. */
  validating?: UnboundEntry;
  domainInsecure: Record<string, UnboundEntry | undefined>;
  includes: UnboundEntry[];
}

export function unboundSplitState(zones: UnboundZone[], domains: string[], server: string): UnboundSplitState {
  const all = zones.flatMap((zone) => zone.entries);
  const state: UnboundSplitState = { forwardZone: {}, sameNameZone: {}, privateDomain: {}, domainInsecure: {}, includes: all.filter((e) => e.key === 'include' || e.key === 'include-toplevel') };
  state.privateAddress = all.find((entry) => entry.key === 'private-address' && /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|^100\.64\.0\.0\/10$/.test(entry.value));
  state.validating = all.find((entry) => entry.key === 'auto-trust-anchor-file' || entry.key === 'trust-anchor-file' || entry.key === 'trust-anchor');
  for (const domain of domains) {
    state.forwardZone[domain] = zones.find((zone) => zone.clause === 'forward-zone'
      && zone.entries.some((e) => e.key === 'name' && trimDot(e.value) === trimDot(domain))
      && zone.entries.some((e) => e.key === 'forward-addr' && e.value.replace(/@53$/, '') === server));
    state.sameNameZone[domain] = zones.find((zone) => (zone.clause === 'forward-zone' || zone.clause === 'stub-zone')
      && zone.entries.some((e) => e.key === 'name' && trimDot(e.value) === trimDot(domain)));
    state.privateDomain[domain] = all.find((e) => e.key === 'private-domain' && trimDot(e.value) === trimDot(domain));
    state.domainInsecure[domain] = all.find((e) => e.key === 'domain-insecure' && trimDot(e.value) === trimDot(domain));
  }
  return state;
}

export const UNBOUND_HEADER = '# generated by netmend fix dns: mesh domains go to the mesh resolver';

/** `zoneDomains`: the domains that need a forward-zone here (unbound refuses a duplicate zone). */
export function renderUnboundSplitConf(domains: string[], server: string, zoneDomains: string[] = domains): string {
  const lines = [UNBOUND_HEADER, 'server:'];
  // Mesh names are not DNSSEC-signed, and their answers are private addresses.
  for (const domain of domains) lines.push(`    domain-insecure: "${domain}"`, `    private-domain: "${domain}"`);
  for (const domain of zoneDomains) {
    lines.push('', 'forward-zone:', `    name: "${trimDot(domain)}."`, `    forward-addr: ${server}`);
  }
  return `${lines.join('\n')}\n`;
}
