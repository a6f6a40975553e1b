/** oclif's command_not_found hook: a mistyped command is a usage error that suggests the nearest one. */
import type { Hook } from '@oclif/core';
import { unknownCommandError } from './commands.js';

const hook: Hook<'command_not_found'> = async function commandNotFound(options) {
  throw unknownCommandError(options.config, options.id);
};

export default hook;
