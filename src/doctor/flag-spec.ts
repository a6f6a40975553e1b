/** The one definition of the doctor commands' flags, for oclif (command.ts) and the fast path (fast.ts). */
import type { FlagSpecs } from '../cli/flag-spec.js';

export const doctorFlagSpec = {
  json: { type: 'boolean', description: 'print one JSON document ({"version": 1, "host", "checks", "summary"}) on stdout', default: false },
  check: { type: 'string', description: 'run only this check id (repeatable; see --list-checks)', multiple: true },
  'list-checks': { type: 'boolean', description: 'list the check ids and what each looks for, then exit', default: false },
  iface: { type: 'string', description: 'treat this interface as a mesh tunnel (repeatable), for unusual names', multiple: true },
  root: { type: 'string', description: 'read config files (networkd.conf, .network files, …) under DIR instead of /' },
  'fail-on': { type: 'string', description: 'which findings make the exit code 1', options: ['warn', 'fail', 'never'], default: 'fail' },
} as const satisfies FlagSpecs;

export const meshNameFlagSpec = {
  domain: { type: 'string', description: 'mesh DNS domain to check (repeatable)', multiple: true },
  name: { type: 'string', description: 'a mesh host name to resolve (repeatable)', multiple: true },
} as const satisfies FlagSpecs;

export const meshFlagSpec = {
  stun: { type: 'string', description: 'STUN server HOST[:PORT] for the NAT mapping test (repeatable; give two)', multiple: true },
} as const satisfies FlagSpecs;
