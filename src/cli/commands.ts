/**
 * The commands and topics oclif knows, as the user types them ("doctor routes"), and what to say
 * when a typed command is not one of them. Used by the command_not_found hook and `netmend help`.
 */
import type { Interfaces } from '@oclif/core';
import { InputError } from '../errors.js';
import { nearest } from '../suggest.js';

export function commandNames(config: Interfaces.Config): string[] {
  const names = new Set<string>();
  for (const command of config.commands) if (!command.hidden) names.add(command.id.replaceAll(':', ' '));
  for (const topic of config.topics) if (!topic.hidden) names.add(topic.name.replaceAll(':', ' '));
  return [...names].sort();
}

/**
 * An unknown command (the id as oclif has it, "doctor:routs", possibly with arguments after it):
 * exit 2, with the nearest known command suggested.
 */
export function unknownCommandError(config: Interfaces.Config, id: string): InputError {
  const names = commandNames(config);
  const [first = '', second] = id.split(/[: ]/).filter(Boolean);
  const firstIsTopic = names.some((name) => name.startsWith(`${first} `));
  const typed = firstIsTopic && second !== undefined ? `${first} ${second}` : first;
  let suggestion = nearest(typed, names);
  // "rout explain": the topic was mistyped, the command under it was not.
  if (suggestion && !firstIsTopic && second !== undefined && names.includes(`${suggestion} ${second}`)) suggestion = `${suggestion} ${second}`;
  const list = '`netmend help` lists the commands';
  return new InputError(`unknown command '${typed}'`,
    suggestion ? `did you mean \`netmend ${suggestion}\`? ${list}` : `${list}: ${names.filter((name) => !name.includes(' ')).join(', ')}`);
}
