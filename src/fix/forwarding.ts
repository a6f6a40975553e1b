/**
 * `netmend fix forwarding`: lets the router carry its LAN to the mesh and back, in rules of its own
 * and never in the user's:
 *   nftables  a table `inet netmend` (forward accepts for LAN → tunnel and the replies, optional
 *             tunnel → LAN, masquerade on the tunnel, the mesh port from the WAN), loaded live with
 *             `nft -f` and persisted where the distribution loads rules at boot: an
 *             /etc/nftables.d/ file when /etc/nftables.conf includes that directory, else a
 *             oneshot unit of netmend's;
 *   iptables  chains NETMEND-FORWARD, NETMEND-INPUT (filter) and NETMEND-POSTROUTING (nat), jumped
 *             to from the top of the built-in chains, in the backend (iptables-nft or -legacy)
 *             whose built-in chains drop the traffic; persisted by a oneshot unit;
 *   uci       (OpenWrt fw4) a firewall zone for the tunnel with masq, forwardings, a rule for the
 *             port, then `fw4 reload` (never a restart, which drops the LAN).
 * An accept in another table cannot undo a drop (netfilter.md §1: every base chain sees the
 * packet, a drop is final): when a native nftables table of the user's drops the traffic, the fix
 * refuses and names the rule to add there.
 */
import { readFileSync } from 'node:fs';
import { routingView } from '../doctor/analysis.js';
import type { HostState } from '../doctor/types.js';
import { requireInterfaces } from '../cli/validate.js';
import { InputError } from '../errors.js';
import { explainPath, type PathQuery } from '../path/simulate.js';
import { readFirewall } from '../netfilter/read.js';
import { isIptablesNftTable, rulesetOf } from '../netfilter/ruleset.js';
import type { NftTable } from '../netfilter/types.js';
import { TAILSCALE_DEFAULT_PORT } from '../tailscale/json.js';
import { FixFailedError } from './apply.js';
import { isOpenWrt } from './host.js';
import { formatCreated, type CreatedObject } from './iptables-nft-leftovers.js';
import { emptyPlan, underRoot, type Argv, type FixContext, type FixPlan } from './plan.js';
import { parseUci, renderUciSection, type UciSection } from './uci.js';

export interface ForwardingOptions {
  /** --lan: LAN interfaces (default: every link with a connected prefix that is not the mesh or the WAN). */
  lans: string[];
  /** --tunnel (default: the one mesh interface). */
  tunnel?: string;
  masquerade: boolean;
  allowPort: boolean;
  /** --from-mesh: accept new connections from the tunnel into the LANs (a subnet router). */
  fromMesh: boolean;
  /** --iface: mesh interface names the doctor would not recognise. */
  ifaces: string[];
  /** How to run netmend itself (node and bin/run.js), for the undo step that removes an iptables-nft table the fix created. */
  self: string[];
}

export const FORWARDING_METHODS = ['auto', 'nftables', 'iptables', 'iptables-legacy', 'uci'] as const;
const TABLE = 'netmend';
const NFT_FILE_D = '/etc/nftables.d/netmend-forwarding.nft';
const NFT_FILE_OWN = '/etc/netmend/forwarding.nft';
const IPT_SCRIPT = '/etc/netmend/forwarding-iptables.sh';
const UNIT = '/etc/systemd/system/netmend-forwarding.service';
const PREVIOUS = '/var/lib/netmend/forwarding-previous.nft';

/** What the router needs, independent of the backend. */
export interface ForwardingWants {
  tunnel: string;
  lans: string[];
  wans: string[];
  masquerade: boolean;
  fromMesh: boolean;
  port?: number;
}

function quoteName(name: string): string {
  if (!/^[A-Za-z0-9_.@:+-]{1,15}$/.test(name)) throw new InputError(`interface name '${name}' is not one nft or iptables accepts`);
  return `"${name}"`;
}

/** The table exactly as `nft list table inet netmend` prints it, so a live table can be compared line by line. */
export function nftTable(wants: ForwardingWants): string {
  const tunnel = quoteName(wants.tunnel);
  const forward = ['ct state established,related accept'];
  for (const lan of wants.lans) {
    forward.push(`iifname ${quoteName(lan)} oifname ${tunnel} accept`);
    if (wants.fromMesh) forward.push(`iifname ${tunnel} oifname ${quoteName(lan)} accept`);
  }
  const chains = [
    ['forward', 'type filter hook forward priority filter; policy accept;', forward],
  ] as Array<[string, string, string[]]>;
  if (wants.port !== undefined) {
    const rules = wants.wans.length ? wants.wans.map((wan) => `iifname ${quoteName(wan)} udp dport ${wants.port} accept`) : [`udp dport ${wants.port} accept`];
    chains.push(['input', 'type filter hook input priority filter; policy accept;', rules]);
  }
  if (wants.masquerade) chains.push(['postrouting', 'type nat hook postrouting priority srcnat; policy accept;', [`oifname ${tunnel} masquerade`]]);
  const body = chains.map(([name, head, rules]) => `\tchain ${name} {\n\t\t${head}\n${rules.map((rule) => `\t\t${rule}\n`).join('')}\t}`).join('\n\n');
  return `table inet ${TABLE} {\n${body}\n}\n`;
}

/** A file `nft -f` loads atomically: replaces the table whether or not it exists. */
export function nftFile(wants: ForwardingWants): string {
  return `#!/usr/sbin/nft -f\n# Written by \`netmend fix forwarding\`: the router's LAN to the mesh and back. netmend owns this table;\n# undo with \`netmend fix undo\`.\ntable inet ${TABLE}\ndelete table inet ${TABLE}\n${nftTable(wants)}`;
}

function normalise(text: string): string {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).join('\n');
}

/** iptables rules as [table, chain, args] in the order they are added. */
function iptablesRules(wants: ForwardingWants): Array<[string, string, string[]]> {
  const rules: Array<[string, string, string[]]> = [['filter', 'NETMEND-FORWARD', ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']]];
  for (const lan of wants.lans) {
    rules.push(['filter', 'NETMEND-FORWARD', ['-i', lan, '-o', wants.tunnel, '-j', 'ACCEPT']]);
    if (wants.fromMesh) rules.push(['filter', 'NETMEND-FORWARD', ['-i', wants.tunnel, '-o', lan, '-j', 'ACCEPT']]);
  }
  if (wants.port !== undefined) {
    for (const wan of wants.wans.length ? wants.wans : [undefined]) rules.push(['filter', 'NETMEND-INPUT', [...(wan ? ['-i', wan] : []), '-p', 'udp', '-m', 'udp', '--dport', String(wants.port), '-j', 'ACCEPT']]);
  }
  if (wants.masquerade) rules.push(['nat', 'NETMEND-POSTROUTING', ['-o', wants.tunnel, '-j', 'MASQUERADE']]);
  return rules;
}

const BUILT_IN: Record<string, [CreatedObject['table'], string]> = { 'NETMEND-FORWARD': ['filter', 'FORWARD'], 'NETMEND-INPUT': ['filter', 'INPUT'], 'NETMEND-POSTROUTING': ['nat', 'POSTROUTING'] };

function usedChains(wants: ForwardingWants): string[] {
  return [...new Set(iptablesRules(wants).map(([, chain]) => chain))];
}

/** The boot script the unit runs: removes any earlier copy of the chains, then adds them. */
export function iptablesScript(tool: string, wants: ForwardingWants): string {
  const lines = ['#!/bin/sh', '# Written by `netmend fix forwarding`: netmend\'s own chains, jumped to from the built-in ones.', `ipt="${tool} -w"`];
  for (const chain of usedChains(wants)) {
    const [table, builtIn] = BUILT_IN[chain];
    lines.push(`$ipt -t ${table} -D ${builtIn} -j ${chain} 2>/dev/null`, `$ipt -t ${table} -F ${chain} 2>/dev/null`, `$ipt -t ${table} -X ${chain} 2>/dev/null`, `$ipt -t ${table} -N ${chain}`);
  }
  for (const [table, chain, args] of iptablesRules(wants)) lines.push(`$ipt -t ${table} -A ${chain} ${args.join(' ')}`);
  for (const chain of usedChains(wants)) {
    const [table, builtIn] = BUILT_IN[chain];
    lines.push(`$ipt -t ${table} -I ${builtIn} 1 -j ${chain}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Where the jump goes: after the leading jumps to tailscaled's ts-* chains (they must see the
 * packet first: ts-forward sets the 0x40000 subnet-route mark that ts-postrouting masquerades),
 * before everything else, so a DROP rule of the user's further down cannot hide our accepts.
 */
export function jumpPosition(save: string, table: string, builtIn: string): number {
  let inTable = false;
  let position = 1;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inTable = line === `*${table}`;
    if (!inTable || !line.startsWith(`-A ${builtIn} `)) continue;
    if (/ -j ts-[a-z]+$/.test(line)) position += 1;
    else break;
  }
  return position;
}

function unitFile(description: string, start: string, stop: string, after: string): string {
  return [
    '# Written by `netmend fix forwarding`.',
    '[Unit]',
    `Description=${description}`,
    'DefaultDependencies=no',
    'Wants=network-pre.target',
    `Before=network-pre.target`,
    `After=${after}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${start}`,
    `ExecStop=${stop}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** /etc/nftables.conf includes /etc/nftables.d/ (Debian's and Arch's layout when the admin enabled it). */
export function includesNftablesD(conf: string | null): boolean {
  if (!conf) return false;
  return /^\s*include\s+"\/etc\/nftables\.d\/\*(\.nft)?"/m.test(conf);
}

function meshTunnel(state: HostState, options: ForwardingOptions): string {
  const { snapshot } = state;
  const view = routingView(state, { ifaces: options.ifaces });
  const links = new Set(snapshot.links.map((link) => link.name));
  if (options.tunnel) {
    requireInterfaces([options.tunnel], [...links], '--tunnel', snapshot.host);
    return options.tunnel;
  }
  const tunnels = [...view.meshIfaces].filter((name) => links.has(name));
  if (tunnels.length === 1) return tunnels[0];
  if (tunnels.length === 0) throw new InputError('no mesh tunnel interface found', 'name it with --tunnel IFACE');
  throw new InputError(`several mesh tunnels (${tunnels.join(', ')})`, 'name one with --tunnel IFACE');
}

function wantsOf(state: HostState, options: ForwardingOptions, tunnel: string, port: number | undefined): ForwardingWants {
  const { snapshot } = state;
  const view = routingView(state, { ifaces: [...options.ifaces, tunnel] });
  const wans = [...new Set(view.defaultGateways.map((gateway) => gateway.dev))].filter((dev) => dev !== tunnel);
  const links = new Set(snapshot.links.map((link) => link.name));
  let lans = options.lans;
  requireInterfaces(lans, [...links], '--lan', snapshot.host);
  if (lans.includes(tunnel)) throw new InputError(`--lan ${tunnel} is the tunnel`);
  if (lans.length === 0) lans = [...new Set(view.lans.map((lan) => lan.dev))].filter((dev) => !wans.includes(dev) && !view.meshIfaces.has(dev));
  if (lans.length === 0) throw new InputError('no LAN interface found (a link with a connected prefix that is not the mesh or the WAN)', 'name it with --lan IFACE');
  return { tunnel, lans, wans, masquerade: options.masquerade, fromMesh: options.fromMesh, port };
}

async function meshPort(context: FixContext, tunnel: string): Promise<number> {
  if (tunnel.startsWith('tailscale')) return TAILSCALE_DEFAULT_PORT;
  const result = await context.runner.run('wg', ['show', tunnel, 'listen-port'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  const port = Number(result?.stdout.trim());
  if (!result || result.exitCode !== 0 || !Number.isInteger(port) || port <= 0) {
    throw new InputError(`--allow-port: cannot read ${tunnel}'s listening port (\`wg show ${tunnel} listen-port\`${result ? `: ${result.stderr.trim().split('\n')[0] || 'no port'}` : ''})`, 'is the tunnel a WireGuard interface with a ListenPort?');
  }
  return port;
}

/**
 * Which backend drops what the fix must let through, by following the packets: a LAN client's
 * connection into the tunnel and, with --allow-port, a peer's packet to the mesh port from the
 * WAN. An iptables-legacy table, an iptables-nft table, a native nftables table, or none.
 */
function blockingBackend(state: HostState, wants: ForwardingWants): { backend: 'legacy' | 'iptables-nft' | 'nftables'; rule: string; text: string; what: string } | undefined {
  const { snapshot } = state;
  const view = routingView(state, { ifaces: [wants.tunnel] });
  const destination = view.meshRoutes.find((route) => route.dev === wants.tunnel && route.family === 4 && !route.dst.startsWith('0.0.0.0'))?.dst.split('/')[0];
  const queries: Array<{ what: string; query: PathQuery }> = [];
  for (const lan of wants.lans) {
    const prefix = view.lans.find((candidate) => candidate.dev === lan && candidate.family === 4);
    if (!prefix || !destination) continue;
    const from = [...view.ownAddresses].includes(prefix.route.dst.replace(/\.\d+\/\d+$/, '.254')) ? prefix.route.dst.replace(/\.\d+\/\d+$/, '.253') : prefix.route.dst.replace(/\.\d+\/\d+$/, '.254');
    queries.push({ what: `${lan} → ${wants.tunnel}`, query: { destination, from, iif: lan, protocol: 'tcp', dport: 443 } });
  }
  if (wants.port !== undefined) {
    for (const wan of wants.wans) {
      const address = snapshot.addresses.find((candidate) => candidate.dev === wan && candidate.family === 4)?.local;
      if (address) queries.push({ what: `udp ${wants.port} from ${wan}`, query: { destination: address, from: '198.51.100.20', iif: wan, protocol: 'udp', dport: wants.port } });
    }
  }
  const ruleset = rulesetOf(snapshot.firewall!);
  for (const { what, query } of queries) {
    let explanation;
    try {
      explanation = explainPath(snapshot, query);
    } catch {
      continue;
    }
    const rule = explanation.result.rule;
    if (!rule || (explanation.result.verdict !== 'dropped' && explanation.result.verdict !== 'rejected')) continue;
    const where = `${rule.family} ${rule.table} ${rule.chain}${rule.handle === null ? ' policy' : ` rule ${rule.handle}`}`;
    const owner = ruleset.tables.find((table) => table.family === rule.family && table.name === rule.table && table.chains.has(rule.chain));
    if (owner?.origin === 'iptables-legacy') return { backend: 'legacy', rule: where, text: rule.text, what };
    return { backend: owner && isIptablesNftTable(owner) ? 'iptables-nft' : 'nftables', rule: where, text: rule.text, what };
  }
  return undefined;
}

async function hasTool(context: FixContext, tool: string, args: string[]): Promise<boolean> {
  const result = await context.runner.run(tool, args, { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  return result !== undefined && result.exitCode === 0;
}

export async function buildForwardingPlan(context: FixContext, options: ForwardingOptions): Promise<FixPlan> {
  const { snapshot } = context;
  if (!snapshot.firewall) snapshot.firewall = await readFirewall(context.runner);
  // One state for every routing view below: routingView computes each view once per state.
  const state: HostState = { snapshot, facts: {}, gatherErrors: {} };
  const tunnel = meshTunnel(state, options);
  const port = options.allowPort ? await meshPort(context, tunnel) : undefined;
  const wants = wantsOf(state, options, tunnel, port);
  if (!FORWARDING_METHODS.includes(context.method as typeof FORWARDING_METHODS[number])) {
    throw new InputError(`--method: unknown method '${context.method}'`, `use ${FORWARDING_METHODS.join(', ')}`);
  }
  const blocking = blockingBackend(state, wants);
  let method = context.method;
  if (method === 'auto') {
    if (isOpenWrt(context.root)) method = 'uci';
    else if (blocking?.backend === 'legacy') method = 'iptables-legacy';
    else if (blocking?.backend === 'iptables-nft') method = 'iptables';
    else if (await hasTool(context, 'nft', ['--version'])) method = 'nftables';
    else method = 'iptables';
  }
  if (method === 'nftables' && blocking?.backend === 'nftables' && blocking.rule.split(' ')[1] !== TABLE) {
    throw new FixFailedError(
      `refusing: ${blocking.rule} (\`${blocking.text}\`) drops ${blocking.what}, and an accept in netmend's own table cannot undo a drop in yours; nothing changed`,
      blocking.what.startsWith('udp')
        ? `add \`udp dport ${wants.port} accept\` to that chain before the drop, then run \`netmend doctor forward\``
        : `add \`iifname ${quoteName(wants.lans[0])} oifname ${quoteName(tunnel)} accept\` (and \`ct state established,related accept\`) to that chain before the drop, then run \`netmend doctor forward\``,
    );
  }
  const what = [
    `accept ${wants.lans.join(', ')} → ${tunnel}${wants.fromMesh ? ' and back' : ''} with replies`,
    ...(wants.masquerade ? [`masquerade on ${tunnel}`] : []),
    ...(wants.port !== undefined ? [`accept udp ${wants.port} from ${wants.wans.join(', ') || 'any interface'}`] : []),
  ].join('; ');
  if (method === 'uci') return uciPlan(context, wants, what);
  if (method === 'nftables') return nftPlan(context, wants, what);
  return iptablesPlan(context, wants, what, method === 'iptables-legacy' ? 'iptables-legacy' : 'iptables', options.self);
}

function verifications(wants: ForwardingWants): FixPlan['verify'] {
  const checks = ['forward.lan-to-mesh'];
  // The masquerade is also what an exit node needs (it passes when none is in use).
  if (wants.masquerade) checks.push('forward.exit-node-lan');
  if (wants.fromMesh) checks.push('forward.mesh-to-lan');
  if (wants.port !== undefined) checks.push('forward.mesh-port');
  return checks.map((checkId) => ({ checkId }));
}

async function nftPlan(context: FixContext, wants: ForwardingWants, what: string): Promise<FixPlan> {
  const conf = readIfExists(underRoot(context.root, '/etc/nftables.conf'));
  const viaNftablesD = includesNftablesD(conf);
  const plan = emptyPlan('forwarding', `${what} (table inet ${TABLE})`, viaNftablesD ? 'nftables, /etc/nftables.d' : 'nftables, netmend unit');
  const path = viaNftablesD ? NFT_FILE_D : NFT_FILE_OWN;
  const realPath = underRoot(context.root, path);
  plan.files.push({ path, content: nftFile(wants), mode: 0o644, reason: viaNftablesD ? 'nftables.service loads /etc/nftables.d/*.nft (included by /etc/nftables.conf) at boot' : `loaded at boot by ${UNIT}` });
  if (!viaNftablesD) {
    plan.files.push({ path: UNIT, content: unitFile('netmend forwarding rules (table inet netmend)', `/usr/sbin/nft -f ${NFT_FILE_OWN}`, `-/usr/sbin/nft delete table inet ${TABLE}`, 'nftables.service'), mode: 0o644, reason: 'a oneshot unit of netmend\'s loads the table at boot (nftables.conf does not include /etc/nftables.d)' });
  }
  if (context.live) {
    const live = await context.runner.run('nft', ['list', 'table', 'inet', TABLE], { allowFailure: true, timeoutMs: 10_000 });
    const existing = live.exitCode === 0 ? live.stdout : undefined;
    if (existing === undefined || normalise(existing) !== normalise(nftTable(wants))) {
      const undo: Argv[] = [];
      if (existing !== undefined) {
        plan.files.push({ path: PREVIOUS, content: `table inet ${TABLE}\ndelete table inet ${TABLE}\n${existing}`, mode: 0o600, reason: 'the table as it was, for undo' });
        undo.push(['nft', '-f', underRoot(context.root, PREVIOUS)]);
      } else {
        undo.push(['nft', 'delete', 'table', 'inet', TABLE]);
      }
      plan.live.push({ description: `load table inet ${TABLE} (${what})`, command: ['nft', '-f', realPath], undo });
    }
    if (!viaNftablesD) plan.live.push(systemctlEnable(context));
  }
  plan.verify.push(...verifications(wants));
  return plan;
}

function systemctlEnable(context: FixContext): FixPlan['live'][number] {
  const rootArgs = context.root ? [`--root=${context.root}`] : [];
  return {
    description: 'enable netmend-forwarding.service so the rules come back at boot',
    command: ['systemctl', ...rootArgs, 'enable', 'netmend-forwarding.service'],
    undo: [['systemctl', ...rootArgs, 'disable', 'netmend-forwarding.service']],
  };
}

/**
 * The ip tables of nf_tables as they are before the fix, when `tool` is iptables-nft and nft can
 * read them: its first rule in a table creates the table and the built-in chain, which undo then
 * removes again (iptables-nft-leftovers.ts). undefined for iptables-legacy, whose tables are not
 * nf_tables objects.
 */
async function nfTablesBefore(context: FixContext, tool: 'iptables' | 'iptables-legacy'): Promise<NftTable[] | undefined> {
  if (tool !== 'iptables' || !context.snapshot.firewall?.nftables) return undefined;
  const version = await context.runner.run(tool, ['--version'], { allowFailure: true, timeoutMs: 10_000 });
  if (!/\(nf_tables\)/.test(version.stdout)) return undefined;
  return rulesetOf(context.snapshot.firewall).tables.filter((table) => table.origin === 'nftables' && table.family === 'ip');
}

async function iptablesPlan(context: FixContext, wants: ForwardingWants, what: string, tool: 'iptables' | 'iptables-legacy', self: string[]): Promise<FixPlan> {
  const plan = emptyPlan('forwarding', `${what} (chains ${usedChains(wants).join(', ')})`, `${tool}, netmend unit`);
  plan.files.push({ path: IPT_SCRIPT, content: iptablesScript(tool, wants), mode: 0o755, reason: `adds netmend's chains at boot, run by ${UNIT}` });
  const stop = usedChains(wants).map((chain) => `${tool} -w -t ${BUILT_IN[chain][0]} -D ${BUILT_IN[chain][1]} -j ${chain}`).join(' ; ');
  plan.files.push({ path: UNIT, content: unitFile(`netmend forwarding rules (${tool} chains NETMEND-*)`, `/bin/sh ${IPT_SCRIPT}`, `-/bin/sh -c '${stop}'`, 'netfilter-persistent.service iptables.service'), mode: 0o644, reason: 'a oneshot unit of netmend\'s re-adds the chains at boot' });
  if (context.live) {
    const save = await context.runner.run(tool === 'iptables-legacy' ? 'iptables-legacy-save' : 'iptables-save', [], { allowFailure: true, timeoutMs: 10_000 });
    const present = save.exitCode === 0 ? save.stdout : '';
    const wanted = iptablesRules(wants);
    const alreadyThere = usedChains(wants).every((chain) => present.includes(`-A ${BUILT_IN[chain][1]} -j ${chain}`))
      && wanted.every(([, chain, args]) => present.includes(`-A ${chain} ${args.join(' ')}`));
    if (!alreadyThere) {
      const ipt = (table: string, ...args: string[]): Argv => [tool, '-w', '-t', table, ...args];
      const tablesBefore = await nfTablesBefore(context, tool);
      const removeIfEmpty = (object: CreatedObject): Argv[] => [[self[0], ...self.slice(1), 'fix', 'forwarding', '--remove-if-empty', formatCreated(object)]];
      const tablesToCreate = new Set(usedChains(wants).map((chain) => BUILT_IN[chain][0]).filter((table) => tablesBefore && !tablesBefore.some((before) => before.name === table)));
      for (const chain of usedChains(wants)) {
        const [table, builtIn] = BUILT_IN[chain];
        if (present.includes(`:${chain} `)) throw new InputError(`${tool}: chain ${chain} already exists but differs from what this fix wants`, `undo the earlier fix (\`netmend fix undo\`) or remove the chain by hand (${tool} -t ${table} -F ${chain}; -X ${chain})`);
        // The table's first chain: its undo runs after every other step in that table.
        const createsTable = tablesToCreate.delete(table);
        plan.live.push({ description: `create chain ${table} ${chain}`, command: ipt(table, '-N', chain), undo: [ipt(table, '-X', chain), ...(createsTable ? removeIfEmpty({ family: 'ip', table }) : [])] });
      }
      for (const [table, chain, args] of wanted) {
        plan.live.push({ description: `${table} ${chain}: ${args.join(' ')}`, command: ipt(table, '-A', chain, ...args), undo: [ipt(table, '-D', chain, ...args)] });
      }
      for (const chain of usedChains(wants)) {
        const [table, builtIn] = BUILT_IN[chain];
        const position = String(jumpPosition(present, table, builtIn));
        // Removed first (jumps are undone before chains), so a table kept because another program
        // filled it since does not keep an empty built-in chain of the fix's either.
        const createsChain = tablesBefore !== undefined && !tablesBefore.some((before) => before.name === table && before.chains.has(builtIn));
        plan.live.push({ description: `jump from ${table} ${builtIn} (position ${position}, after the mesh daemon's own jumps) to ${chain}`, command: ipt(table, '-I', builtIn, position, '-j', chain), undo: [ipt(table, '-D', builtIn, '-j', chain), ...(createsChain ? removeIfEmpty({ family: 'ip', table, chain: builtIn }) : [])] });
      }
    }
    plan.live.push(systemctlEnable(context));
  }
  plan.verify.push(...verifications(wants));
  return plan;
}

/** The UCI firewall zone whose networks include the network that uses a device. */
function zoneOfDevice(firewall: UciSection[], network: UciSection[], device: string): string | undefined {
  const networks = network.filter((section) => section.type === 'interface' && section.options.some((o) => (o.key === 'device' || o.key === 'ifname') && o.value === device)).map((section) => section.name);
  for (const zone of firewall.filter((section) => section.type === 'zone')) {
    const name = zone.options.find((o) => o.key === 'name')?.value;
    const covers = zone.options.some((o) => (o.key === 'network' && networks.includes(o.value)) || (o.key === 'device' && o.value === device));
    if (name && covers) return name;
  }
  return undefined;
}

const MESH_ZONE = 'nm_mesh';

/** /etc/config/firewall with netmend's named sections (replaced when present, appended otherwise). */
export function uciFirewall(existing: string, displayPath: string, wants: ForwardingWants, lanZones: string[], wanZone: string | undefined): string {
  const sections = parseUci(existing, displayPath);
  const ours: Array<Omit<UciSection, 'line'>> = [];
  const option = (key: string, value: string) => ({ key, value, list: false });
  ours.push({
    type: 'zone', name: 'netmend_mesh', options: [
      option('name', MESH_ZONE), { key: 'device', value: wants.tunnel, list: true },
      option('input', 'ACCEPT'), option('output', 'ACCEPT'), option('forward', 'REJECT'),
      ...(wants.masquerade ? [option('masq', '1')] : []), option('mtu_fix', '1'),
    ],
  });
  for (const zone of lanZones) {
    ours.push({ type: 'forwarding', name: `netmend_${zone}_mesh`, options: [option('src', zone), option('dest', MESH_ZONE)] });
    if (wants.fromMesh) ours.push({ type: 'forwarding', name: `netmend_mesh_${zone}`, options: [option('src', MESH_ZONE), option('dest', zone)] });
  }
  if (wants.port !== undefined) {
    ours.push({ type: 'rule', name: 'netmend_mesh_port', options: [option('name', 'Allow-netmend-mesh-port'), ...(wanZone ? [option('src', wanZone)] : []), option('proto', 'udp'), option('dest_port', String(wants.port)), option('target', 'ACCEPT')] });
  }
  const ourNames = new Set(ours.map((section) => section.name));
  // Keep every byte of the user's sections; drop only netmend's own, then append the new ones.
  const lines = existing.split('\n');
  const drop = new Set<number>();
  sections.forEach((section, index) => {
    if (!section.name || !ourNames.has(section.name) && !section.name.startsWith('netmend_')) return;
    const end = index + 1 < sections.length ? sections[index + 1].line - 1 : lines.length;
    for (let line = section.line - 1; line < end; line++) drop.add(line);
  });
  let text = lines.filter((_, index) => !drop.has(index)).join('\n').replace(/\n+$/, '\n');
  if (text.trim() === '') text = '';
  for (const section of ours) text += `${text === '' ? '' : '\n'}${renderUciSection(section)}`;
  return text;
}

function uciPlan(context: FixContext, wants: ForwardingWants, what: string): FixPlan {
  const plan = emptyPlan('forwarding', `${what} (firewall zone ${MESH_ZONE})`, 'uci (fw4)');
  const firewallPath = underRoot(context.root, '/etc/config/firewall');
  const existing = readIfExists(firewallPath);
  if (existing === null) throw new InputError(`${firewallPath} does not exist`, 'is this an OpenWrt root? give --root or --method');
  const network = parseUci(readIfExists(underRoot(context.root, '/etc/config/network')) ?? '', underRoot(context.root, '/etc/config/network'));
  const firewall = parseUci(existing, firewallPath);
  const lanZones = [...new Set(wants.lans.map((lan) => {
    const zone = zoneOfDevice(firewall, network, lan);
    if (!zone) throw new InputError(`no firewall zone covers --lan ${lan} (no /etc/config/network interface with device '${lan}' in a zone's networks)`, 'name the LAN\'s device as /etc/config/network has it (e.g. br-lan)');
    return zone;
  }))];
  const wanZone = wants.wans.map((wan) => zoneOfDevice(firewall, network, wan)).find(Boolean) ?? (firewall.some((s) => s.type === 'zone' && s.options.some((o) => o.key === 'name' && o.value === 'wan')) ? 'wan' : undefined);
  plan.files.push({
    path: '/etc/config/firewall',
    content: uciFirewall(existing, firewallPath, wants, lanZones, wanZone),
    reason: `fw4 renders zone ${MESH_ZONE} (${wants.tunnel}), forwardings ${lanZones.map((z) => `${z} → ${MESH_ZONE}`).join(', ')}${wants.port !== undefined ? ` and the port rule` : ''}`,
    parseExisting: (text, display) => { parseUci(text, display); },
  });
  // reload, never restart: a restart of the network drops the LAN (and the session running this).
  if (context.live) plan.reloads.push(['fw4', 'reload']);
  plan.verify.push(...verifications(wants));
  return plan;
}
