// Test stand-in for OpenWrt's `uci`: the subset netmend's installer uses (get, show, set,
// add_list, del_list, delete, commit; -c CONFDIR, -q). Like the real tool it stages changes
// (here in $NETMEND_UCI_SAVEDIR) until `commit`, and writes config files in the exact layout
// libuci writes, so the files it leaves are what OpenWrt reads. Every call is logged.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
let confDir = '/etc/config';
let quiet = false;
while (args.length > 0 && args[0].startsWith('-')) {
  const flag = args.shift();
  if (flag === '-c') confDir = args.shift();
  else if (flag === '-q') quiet = true;
  else if (flag === '-P') args.shift();
  else fail(`unknown option ${flag}`, 1);
}
const log = process.env.NETMEND_STANDIN_LOG;
if (log) fs.appendFileSync(log, `uci ${process.argv.slice(2).join(' ')}\n`);
const saveDir = process.env.NETMEND_UCI_SAVEDIR || path.join(confDir, '..', '.uci-staging');

function fail(message, code) {
  if (!quiet) process.stderr.write(`uci: ${message}\n`);
  process.exit(code);
}

// One line of a config file into words: bare text, '...' and "..." (with \ escapes) glued together.
function words(line) {
  const out = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length || line[i] === '#') break;
    let word = '';
    while (i < line.length && !/\s/.test(line[i])) {
      const c = line[i];
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new Error(`unterminated quote in: ${line}`);
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) i++;
          word += line[i++];
        }
        i++;
      } else if (c === '\\' && i + 1 < line.length) {
        word += line[i + 1];
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    out.push(word);
  }
  return out;
}

function parse(text) {
  const sections = [];
  let current;
  for (const line of text.split('\n')) {
    const w = words(line);
    if (w.length === 0 || w[0] === 'package') continue;
    if (w[0] === 'config') {
      current = { type: w[1], name: w[2] ?? null, options: [] };
      sections.push(current);
    } else if ((w[0] === 'option' || w[0] === 'list') && current) {
      const existing = current.options.find((o) => o.key === w[1]);
      if (w[0] === 'option') {
        if (existing) existing.value = w[2] ?? '';
        else current.options.push({ key: w[1], value: w[2] ?? '' });
      } else if (existing && Array.isArray(existing.value)) existing.value.push(w[2] ?? '');
      else if (existing) existing.value = [w[2] ?? ''];
      else current.options.push({ key: w[1], value: [w[2] ?? ''] });
    }
  }
  return sections;
}

const quote = (value) => `'${value.replace(/'/g, "'\\''")}'`;

// libuci's uci_export_package without the package header.
function serialize(sections) {
  let text = '';
  for (const section of sections) {
    text += `\nconfig ${section.type}${section.name === null ? '' : ` ${quote(section.name)}`}\n`;
    for (const option of section.options) {
      if (Array.isArray(option.value)) for (const item of option.value) text += `\tlist ${option.key} ${quote(item)}\n`;
      else text += `\toption ${option.key} ${quote(option.value)}\n`;
    }
  }
  return `${text}\n`;
}

function load(config) {
  const staged = path.join(saveDir, `${config}.json`);
  if (fs.existsSync(staged)) return JSON.parse(fs.readFileSync(staged, 'utf8'));
  const file = path.join(confDir, config);
  if (!fs.existsSync(file)) return null;
  return parse(fs.readFileSync(file, 'utf8'));
}

function stage(config, sections) {
  fs.mkdirSync(saveDir, { recursive: true });
  fs.writeFileSync(path.join(saveDir, `${config}.json`), JSON.stringify(sections));
}

// "cfg.sec.opt=value" -> parts. sec may be "@type[n]".
function address(spec) {
  const eq = spec.indexOf('=');
  const key = eq < 0 ? spec : spec.slice(0, eq);
  const value = eq < 0 ? undefined : spec.slice(eq + 1);
  const match = /^([^.]+)(?:\.(@[^.[\]]+\[-?\d+\]|[^.@]+))?(?:\.([^.]+))?$/.exec(key);
  if (!match) fail('Invalid argument', 1);
  return { config: match[1], section: match[2], option: match[3], value };
}

function findSection(sections, ref) {
  const anon = /^@([^[]+)\[(-?\d+)\]$/.exec(ref);
  if (anon) {
    const ofType = sections.filter((s) => s.type === anon[1]);
    const index = Number(anon[2]);
    return ofType[index < 0 ? ofType.length + index : index];
  }
  return sections.find((s) => s.name === ref);
}

const loaded = new Map();
const dirty = new Set();

function sectionsOf(config) {
  if (!loaded.has(config)) loaded.set(config, load(config));
  const sections = loaded.get(config);
  if (sections === null) fail('Entry not found', 1);
  return sections;
}

function commit(config) {
  const configs = config ? [config] : (fs.existsSync(saveDir) ? fs.readdirSync(saveDir).map((f) => f.replace(/\.json$/, '')) : []);
  for (const name of configs) {
    if (dirty.has(name)) { stage(name, loaded.get(name)); dirty.delete(name); }
    const staged = path.join(saveDir, `${name}.json`);
    if (!fs.existsSync(staged)) continue;
    const sections = JSON.parse(fs.readFileSync(staged, 'utf8'));
    const file = path.join(confDir, name);
    const temp = `${file}.uci-new`;
    fs.writeFileSync(temp, serialize(sections));
    fs.renameSync(temp, file);
    fs.unlinkSync(staged);
    loaded.delete(name);
  }
}

const printable = (v) => (Array.isArray(v) ? v.join(' ') : v);

function execute(command, spec) {
  if (command === 'commit') return commit(spec);
  if (command === 'show' && !spec) {
    for (const name of fs.readdirSync(confDir).sort()) if (!name.includes('.')) execute('show', name);
    return;
  }
  if (!spec) fail('Invalid argument', 1);
  const { config, section, option, value } = address(spec);
  const sections = sectionsOf(config);
  const target = section === undefined ? undefined : findSection(sections, section);
  switch (command) {
    case 'get': {
      if (!target) fail('Entry not found', 1);
      if (option === undefined) { process.stdout.write(`${target.type}\n`); return; }
      const found = target.options.find((o) => o.key === option);
      if (!found) fail('Entry not found', 1);
      process.stdout.write(`${printable(found.value)}\n`);
      return;
    }
    case 'show': {
      if (section !== undefined && !target) fail('Entry not found', 1);
      const shown = section === undefined ? sections : [target];
      for (const s of shown) {
        const name = s.name ?? `@${s.type}[${sections.filter((x) => x.type === s.type).indexOf(s)}]`;
        if (option === undefined) process.stdout.write(`${config}.${name}=${s.type}\n`);
        for (const o of s.options) {
          if (option !== undefined && o.key !== option) continue;
          const rendered = Array.isArray(o.value) ? o.value.map(quote).join(' ') : quote(o.value);
          process.stdout.write(`${config}.${name}.${o.key}=${rendered}\n`);
        }
      }
      if (option !== undefined && !target.options.some((o) => o.key === option)) fail('Entry not found', 1);
      return;
    }
    case 'set': {
      if (value === undefined || section === undefined) fail('Invalid argument', 1);
      if (option === undefined) {
        if (target) target.type = value;
        else if (section.startsWith('@')) fail('Entry not found', 1);
        else sections.push({ type: value, name: section, options: [] });
      } else {
        if (!target) fail('Entry not found', 1);
        const found = target.options.find((o) => o.key === option);
        if (found) found.value = value;
        else target.options.push({ key: option, value });
      }
      break;
    }
    case 'add_list':
    case 'del_list': {
      if (value === undefined || option === undefined || !target) fail('Entry not found', 1);
      const found = target.options.find((o) => o.key === option);
      if (command === 'add_list') {
        if (!found) target.options.push({ key: option, value: [value] });
        else found.value = Array.isArray(found.value) ? [...found.value, value] : [found.value, value];
      } else if (found && Array.isArray(found.value)) {
        found.value = found.value.filter((item) => item !== value);
        if (found.value.length === 0) target.options.splice(target.options.indexOf(found), 1);
      }
      break;
    }
    case 'delete': {
      if (!target) fail('Entry not found', 1);
      if (option === undefined) sections.splice(sections.indexOf(target), 1);
      else {
        const index = target.options.findIndex((o) => o.key === option);
        if (index < 0) fail('Entry not found', 1);
        target.options.splice(index, 1);
      }
      break;
    }
    default:
      fail(`unknown command ${command}`, 1);
  }
  dirty.add(config);
}

const [command, spec] = args;
if (command === 'batch') {
  // One command a line, quoted as in config files, as `uci batch` reads them.
  const input = fs.readFileSync(0, 'utf8');
  if (log) fs.appendFileSync(log, input.split('\n').filter((l) => l.trim()).map((l) => `uci batch: ${l}\n`).join(''));
  for (const line of input.split('\n')) {
    const w = words(line);
    if (w.length === 0) continue;
    execute(w[0], w.slice(1).join(' '));
  }
} else {
  execute(command, spec);
}
for (const config of dirty) stage(config, loaded.get(config));
