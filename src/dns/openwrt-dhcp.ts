/**
 * OpenWrt's /etc/config/dhcp (UCI syntax): `config TYPE ['NAME']`, then `option KEY 'VALUE'` and
 * `list KEY 'VALUE'` lines. Edited as text so every other line stays byte for byte as it was.
 */
import { InputError } from '../errors.js';

export interface UciSection {
  type: string;
  name?: string;
  /** Line index of the `config` line, and of the section's last non-blank line. */
  startLine: number;
  endLine: number;
  options: Record<string, string>;
  lists: Record<string, string[]>;
}

function uciWords(line: string, where: string): string[] {
  const words: string[] = [];
  const pattern = /'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"#]+)|(#.*)/g;
  let match: RegExpExecArray | null;
  let consumed = '';
  while ((match = pattern.exec(line)) !== null) {
    if (match[4] !== undefined) break;
    words.push(match[1] ?? match[2] ?? match[3]);
    consumed += match[0];
  }
  const stripped = line.replace(/#.*$/, '').replace(/\s+/g, '');
  if (consumed.replace(/\s+/g, '') !== stripped.replace(/\s+/g, '')) throw new InputError(`${where}: unbalanced quotes in '${line.trim().slice(0, 60)}'`);
  return words;
}

export function parseUci(text: string, file: string): UciSection[] {
  const sections: UciSection[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${file}:${index + 1}`;
    const words = uciWords(line, where);
    const [keyword, ...rest] = words;
    if (keyword === 'package') continue;
    if (keyword === 'config') {
      if (rest.length < 1 || rest.length > 2) throw new InputError(`${where}: 'config' needs a type and an optional name`);
      sections.push({ type: rest[0], name: rest[1], startLine: index, endLine: index, options: {}, lists: {} });
      continue;
    }
    const section = sections.at(-1);
    if (keyword !== 'option' && keyword !== 'list') throw new InputError(`${where}: '${line.slice(0, 60)}' is not a UCI config, option or list line`, 'uci would reject this file too');
    if (!section) throw new InputError(`${where}: '${keyword}' before any 'config' section`);
    if (rest.length !== 2) throw new InputError(`${where}: '${keyword}' needs a name and one value`);
    if (keyword === 'option') section.options[rest[0]] = rest[1];
    else (section.lists[rest[0]] ??= []).push(rest[1]);
    section.endLine = index;
  }
  return sections;
}

export interface OpenwrtDnsState {
  section?: UciSection;
  /** rebind_protection defaults to on when the option is absent. */
  rebindProtection: boolean;
  forwarded: Record<string, boolean>;
  rebindAllowed: Record<string, boolean>;
}

export function openwrtDnsState(sections: UciSection[], domains: string[], server: string): OpenwrtDnsState {
  const section = sections.find((s) => s.type === 'dnsmasq');
  const servers = section?.lists.server ?? [];
  const rebind = section?.lists.rebind_domain ?? [];
  const state: OpenwrtDnsState = { section, rebindProtection: section ? section.options.rebind_protection !== '0' : false, forwarded: {}, rebindAllowed: {} };
  for (const domain of domains) {
    state.forwarded[domain] = servers.some((value) => value === `/${domain}/${server}`);
    state.rebindAllowed[domain] = rebind.some((value) => value.replace(/^\/|\/$/g, '') === domain);
  }
  return state;
}

/** The dhcp file with the mesh's server and rebind_domain lists added to the first dnsmasq section. */
export function addOpenwrtSplitDns(text: string, file: string, domains: string[], server: string): string {
  const sections = parseUci(text, file);
  const state = openwrtDnsState(sections, domains, server);
  const lines = text.split('\n');
  const additions: string[] = [];
  for (const domain of domains) if (!state.forwarded[domain]) additions.push(`\tlist server '/${domain}/${server}'`);
  for (const domain of domains) if (!state.rebindAllowed[domain]) additions.push(`\tlist rebind_domain '${domain}'`);
  if (additions.length === 0) return text;
  if (!state.section) {
    const body = text.length === 0 || text.endsWith('\n') ? text : `${text}\n`;
    return `${body}${body.length ? '\n' : ''}config dnsmasq\n${additions.join('\n')}\n`;
  }
  lines.splice(state.section.endLine + 1, 0, ...additions);
  return lines.join('\n');
}
