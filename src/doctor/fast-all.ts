/** `netmend doctor` (every topic) without oclif: bin/run.js imports a module's `runFast`. */
export { runFastAll as runFast } from './fast.js';
