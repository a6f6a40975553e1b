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
  const words = id.split(/[: ]/).filter(Boolean);
  // oclif takes the words after a command without positional arguments as part of its id
  // ("snapshot extra"): there the command is right and the words after it are the mistake. Not
  // after a command that is also a topic ("doctor"), where the next word may be a mistyped one.
  for (let length = words.length - 1; length > 0; length--) {
    const command = words.slice(0, length).join(' ');
    if (!names.includes(command) || names.some((name) => name.startsWith(`${command} `))) continue;
    const extra = words.slice(length);
    return new InputError(`Unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.join(', ')}`, `see \`netmend ${command} --help\``);
  }
  const [first = '', second] = words;
  const firstIsTopic = names.some((name) => name.startsWith(`${first} `));
  const typed = firstIsTopic && second !== undefined ? `${first} ${second}` : first;
  let suggestion = nearest(typed, names);
  // "rout explain": the topic was mistyped, the command under it was not.
  if (suggestion && !firstIsTopic && second !== undefined && names.includes(`${suggestion} ${second}`)) suggestion = `${suggestion} ${second}`;
  const list = '`netmend help` lists the commands';
  return new InputError(`unknown command '${typed}'`,
    suggestion ? `did you mean \`netmend ${suggestion}\`? ${list}` : `${list}: ${names.filter((name) => !name.includes(' ')).join(', ')}`);
}
