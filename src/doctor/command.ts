/**
 * The flags `netmend doctor` and `netmend doctor <topic>` share, as one spec for oclif and for the
 * oclif-free fast path in fast.ts. The run itself is in cli-run.ts, which never loads oclif.
 */
import { oclifFlags } from '../cli/oclif-flags.js';
import { doctorFlagSpec, meshFlagSpec, meshNameFlagSpec } from './flag-spec.js';

export { runDoctorCommand, type DoctorFlagValues, type DoctorOutput } from './cli-run.js';

export const doctorFlags = oclifFlags(doctorFlagSpec);
export const meshNameFlags = oclifFlags(meshNameFlagSpec);
export const meshFlags = oclifFlags(meshFlagSpec);
