/**
 * The flags `netmend doctor` and `netmend doctor <topic>` share (oclif side; the oclif-free fast
 * path in fast.ts mirrors them). The run itself is in cli-run.ts, which never loads oclif.
 */
import { Flags } from '@oclif/core';

export { runDoctorCommand, type DoctorFlagValues, type DoctorOutput } from './cli-run.js';

export const doctorFlags = {
  json: Flags.boolean({ description: 'print one JSON document ({"version": 1, "host", "checks", "summary"}) on stdout', default: false }),
  check: Flags.string({ description: 'run only this check id (repeatable; see --list-checks)', multiple: true }),
  'list-checks': Flags.boolean({ description: 'list the check ids and what each looks for, then exit', default: false }),
  iface: Flags.string({ description: 'treat this interface as a mesh tunnel (repeatable), for unusual names', multiple: true }),
  root: Flags.string({ description: 'read config files (networkd.conf, .network files, …) under DIR instead of /' }),
  'fail-on': Flags.string({ description: 'which findings make the exit code 1', options: ['warn', 'fail', 'never'], default: 'fail' }),
};

export const meshNameFlags = {
  domain: Flags.string({ description: 'mesh DNS domain to check (repeatable)', multiple: true }),
  name: Flags.string({ description: 'a mesh host name to resolve (repeatable)', multiple: true }),
};

