/**
 * OpenWrt UCI config files (/etc/config/NAME) as netifd reads them: `config TYPE ['NAME']`,
 * `option KEY 'VALUE'`, `list KEY 'VALUE'`, comments. A strict reader (a line it cannot read is
 * refused with its number) and a writer for named sections netmend owns.
 */
import { InputError } from '../errors.js';

export interface UciSection {
  type: string;
  name?: string;
  options: Array<{ key: string; value: string; list: boolean }>;
  line: number;
}

function tokens(rest: string, displayPath: string, lineNo: number): string[] {
  const out: string[] = [];
  const pattern = /\s*(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"#]+))/y;
  let index = 0;
  while (index < rest.length) {
    if (/^\s*(#.*)?$/.test(rest.slice(index))) break;
    pattern.lastIndex = index;
    const match = pattern.exec(rest);
    if (!match) throw new InputError(`${displayPath}:${lineNo}: unbalanced quote or stray text: '${rest.trim()}'`, 'fix that line first; nothing was changed');
    out.push(match[1] ?? match[2]?.replace(/\\(.)/g, '$1') ?? match[3]);
    index = pattern.lastIndex;
  }
  return out;
}

export function parseUci(text: string, displayPath: string): UciSection[] {
  const sections: UciSection[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const [keyword] = line.split(/\s+/, 1);
    const args = tokens(line.slice(keyword.length), displayPath, lineNo);
    if (keyword === 'package') continue;
    if (keyword === 'config') {
      if (args.length < 1 || args.length > 2) throw new InputError(`${displayPath}:${lineNo}: 'config' needs a type and at most a name`, 'fix that line first; nothing was changed');
      if (args[1] !== undefined && !/^[A-Za-z0-9_]+$/.test(args[1])) throw new InputError(`${displayPath}:${lineNo}: section name '${args[1]}' has characters UCI rejects`);
      sections.push({ type: args[0], name: args[1], options: [], line: lineNo });
      continue;
    }
    if (keyword === 'option' || keyword === 'list') {
      if (sections.length === 0) throw new InputError(`${displayPath}:${lineNo}: '${keyword}' before any 'config' section`, 'fix that line first; nothing was changed');
      if (args.length !== 2) throw new InputError(`${displayPath}:${lineNo}: '${keyword}' needs a name and one value`, 'fix that line first; nothing was changed');
      sections[sections.length - 1].options.push({ key: args[0], value: args[1], list: keyword === 'list' });
      continue;
    }
    throw new InputError(`${displayPath}:${lineNo}: unknown keyword '${keyword}' (expected config, option or list)`, 'fix that line first; nothing was changed');
  }
  return sections;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A section in uci's own export style (tab-indented options, single quotes). */
export function renderUciSection(section: Omit<UciSection, 'line'>): string {
  const head = `config ${section.type}${section.name ? ` ${quote(section.name)}` : ''}`;
  const body = section.options.map((option) => `\t${option.list ? 'list' : 'option'} ${option.key} ${quote(option.value)}`);
  return `${[head, ...body].join('\n')}\n`;
}
