/**
 * The only commands a journal entry may make `fix undo` (and the rollback, and the confirm
 * watchdog) run: the programs netmend's own fixes plan as undo steps and reloads, each with the
 * kind of arguments they give it. A journal is a file on disk; an entry that names anything else
 * (a shell, a program that runs another, an option that loads or executes a file) was not written
 * by netmend and is refused before anything runs. Commands run as argv, never through a shell.
 *
 * Derived from the planners in src/fix: link-local and subnet-routes (`ip`), dns (`resolvectl`,
 * `tailscale set`, `systemctl`, `/etc/init.d/dnsmasq`, netmend's own `fix dns
 * --restart-resolver`), forwarding (`nft delete table`, `nft -f` of the table it saved, netmend's
 * own `fix forwarding --remove-if-empty` of an iptables-nft table it created,
 * `iptables[-legacy] -w -t T -D/-X`, `systemctl [--root=R] disable`, `fw4 reload`), the reloads
 * (`networkctl reload`, `/etc/init.d/network reload`), and the sysctl, UCI and daemon-restart
 * steps fixes take (`sysctl -w`, `uci`, `kill` of a recorded pid). A new fix that plans another
 * program adds it here; runFix refuses a plan whose undo this list would refuse, so that never
 * reaches a journal.
 */
import { parseTarget } from './dns/reload.js';
import { parseCreated } from './iptables-nft-leftovers.js';

type ArgumentRule = (args: readonly string[]) => string | undefined;

const verbIn = (verbs: readonly string[]): ArgumentRule => (args) => (verbs.includes(args[0] ?? '') ? undefined : `'${args[0] ?? ''}' is not one of ${verbs.join(', ')}`);
/** Refuses the options (long ones, and short letters also inside a cluster such as -af) that load or run a file. */
const refusing = (letters: string, long: readonly string[]): ArgumentRule => (args) => {
  const found = args.find((arg) => long.some((option) => arg === option || arg.startsWith(`${option}=`))
    || (/^-[A-Za-z]/.test(arg) && [...arg.slice(1)].some((letter) => letters.includes(letter))));
  return found === undefined ? undefined : `option ${found} loads or runs another file`;
};

const IP_OBJECTS = ['link', 'addr', 'address', 'route', 'rule', 'neigh', 'neighbour'];
const IPTABLES_RULE = refusing('M', ['--modprobe']);
/** The table a fix saved before replacing it (fix forwarding), under netmend's own state directory. */
const SAVED_RULESET = /^(?:\/[\w.-]+)*\/var\/lib\/netmend\/[\w.-]+\.nft$/;

const RULES: Record<string, ArgumentRule> = {
  // Only the family switches before the object: no -batch FILE, no `netns exec`.
  ip: (args) => {
    const object = args.find((arg) => arg !== '-4' && arg !== '-6') ?? '';
    return IP_OBJECTS.includes(object) ? undefined : `'${object}' is not one of ${IP_OBJECTS.join(', ')}`;
  },
  networkctl: verbIn(['reload', 'reconfigure']),
  systemctl: (args) => {
    const verb = args.findIndex((arg) => !/^(?:--root=\/\S*|-q|--quiet|--no-block)$/.test(arg));
    if (verb < 0) return 'no verb';
    return verbIn(['restart', 'reload', 'try-reload-or-restart', 'reload-or-restart', 'start', 'stop', 'enable', 'disable'])(args.slice(verb))
      ?? (args.length > verb + 1 && args.slice(verb + 1).every((unit) => /^[\w@.:\\-]+$/.test(unit)) ? undefined : 'a unit name is missing or malformed');
  },
  sysctl: (args) => (args.every((arg) => /^-[wq]+$/.test(arg) || /^[A-Za-z0-9_.\/-]+=[^\n]*$/.test(arg)) ? undefined : 'only -w/-q and key=value'),
  // A ruleset file only as the one a fix saved itself; nft has no way to run a program.
  nft: (args) => {
    const file = args.findIndex((arg) => arg === '-f' || arg === '--file');
    if (file >= 0 && !(SAVED_RULESET.test(args[file + 1] ?? '') && !args[file + 1].split('/').includes('..'))) return `option ${args[file]} ${args[file + 1] ?? ''} loads a file that is not a ruleset netmend saved`;
    return refusing('fiI', ['--interactive', '--includepath', '--file'])(args.filter((_, index) => index !== file));
  },
  // --modprobe names a program iptables runs.
  iptables: IPTABLES_RULE,
  ip6tables: IPTABLES_RULE,
  'iptables-legacy': IPTABLES_RULE,
  'ip6tables-legacy': IPTABLES_RULE,
  'iptables-nft': IPTABLES_RULE,
  'ip6tables-nft': IPTABLES_RULE,
  fw4: verbIn(['reload', 'restart']),
  uci: verbIn(['set', 'delete', 'add_list', 'del_list', 'commit', 'revert', 'add', 'rename', 'reorder']),
  resolvectl: verbIn(['revert', 'dns', 'domain', 'default-route', 'flush-caches']),
  tailscale: verbIn(['set', 'up', 'down']),
  kill: (args) => {
    const [first, ...rest] = args;
    const pids = first?.startsWith('-') ? rest : args;
    if (first?.startsWith('-') && !/^-(?:[A-Z12]{2,4}|\d{1,2})$/.test(first)) return `signal ${first} is malformed`;
    return pids.length === 1 && /^[1-9]\d*$/.test(pids[0]) && pids[0] !== '1' ? undefined : 'one recorded process id (not 1)';
  },
};

const INIT_SCRIPT = /^\/etc\/init\.d\/[A-Za-z0-9_.-]+$/;
const INIT_ACTIONS = verbIn(['start', 'stop', 'restart', 'reload', 'enable', 'disable']);

/**
 * netmend itself, as fixes record it: [node, bin/run.js, fix, FIX, --FLAG, VALUE]. dns restarts a
 * resolver not run by systemd; forwarding removes an iptables-nft table it created, when empty.
 */
const SELF_STEPS: ReadonlyArray<{ tail: readonly string[]; check: (value: string) => unknown }> = [
  { tail: ['fix', 'dns', '--restart-resolver'], check: parseTarget },
  { tail: ['fix', 'forwarding', '--remove-if-empty'], check: parseCreated },
];

function selfInvocation(argv: readonly string[]): { step: typeof SELF_STEPS[number]; value: string } | undefined {
  if (argv.length !== 6) return undefined;
  const step = SELF_STEPS.find(({ tail }) => tail.every((word, index) => argv[2 + index] === word));
  return step && { step, value: argv[5] };
}

/** Why undo must not run this command, or undefined when it is one netmend's fixes plan. */
export function undoCommandProblem(argv: readonly string[]): string | undefined {
  const [file, ...args] = argv;
  const shown = `\`${argv.join(' ')}\``;
  const self = selfInvocation(argv);
  if (self !== undefined) {
    try {
      self.step.check(self.value);
      return undefined;
    } catch (error) {
      return `${shown}: ${(error as Error).message}`;
    }
  }
  if (file !== undefined && INIT_SCRIPT.test(file)) {
    const problem = INIT_ACTIONS(args);
    return problem && `${shown}: ${problem}`;
  }
  const rule = file === undefined ? undefined : RULES[file];
  if (!rule) return `${shown} runs ${JSON.stringify(file ?? '')}, not a program netmend's fixes use (${[...Object.keys(RULES), '/etc/init.d/NAME', ...SELF_STEPS.map(({ tail }) => `netmend ${tail.join(' ')}`)].join(', ')})`;
  const problem = rule(args);
  return problem && `${shown}: ${problem}`;
}

/**
 * The argv to run for an allowed command. netmend's own step runs through this netmend (this node,
 * this bin/run.js), never through the interpreter and script an entry names.
 */
export function commandToRun(argv: readonly string[]): readonly string[] {
  const self = selfInvocation(argv);
  return self === undefined ? argv : [process.execPath, process.argv[1], ...self.step.tail, self.value];
}
