/**
 * `netmend route explain`: read the state, simulate, print. Shared by the oclif command and the
 * oclif-free fast path. An answer is not an error: an unreachable destination still exits 0
 * (the result says which error the kernel gives); only bad input exits 2.
 */
// Static imports on purpose: everything here is needed on every run, and one static graph loads
// faster than a chain of awaited imports (this module is itself imported lazily by the command).
import { InputError } from '../errors.js';
import { parseAddress } from '../net/address.js';
import { readState } from '../snapshot/load.js';
import { tableName } from '../snapshot/types.js';
import { parseDestination, simulateRoute } from './simulate.js';
import type { RouteDecision, RouteQuery, RouteStep } from './types.js';

export interface ExplainInput {
  destination: string;
  from?: string;
  iif?: string;
  mark?: string;
  json?: boolean;
  snapshot?: string;
  ssh?: string;
  source?: string;
}

/** A mark as `ip` accepts it: decimal, 0x hex (or 0-prefixed octal, as strtoul does). */
export function parseMark(text: string): number {
  const trimmed = text.trim();
  let value: number;
  if (/^0x[0-9a-f]+$/i.test(trimmed)) value = parseInt(trimmed.slice(2), 16);
  else if (/^0[0-7]+$/.test(trimmed)) value = parseInt(trimmed.slice(1), 8);
  else if (/^\d+$/.test(trimmed)) value = Number(trimmed);
  else throw new InputError(`--mark: '${text}' is not a number`, 'give it in decimal (524288) or hex (0x80000)');
  if (!Number.isSafeInteger(value) || value > 0xffffffff) throw new InputError(`--mark: '${text}' does not fit in 32 bits`);
  return value;
}

export async function runExplain(input: ExplainInput): Promise<{ output: string; exitCode: number }> {
  const query: RouteQuery = { destination: input.destination };
  if (input.from !== undefined) query.from = input.from;
  if (input.iif !== undefined) query.iif = input.iif;
  if (input.mark !== undefined) query.mark = parseMark(input.mark);
  // Check the destination before reading any state: a typo should not cost a netlink dump.
  const destination = parseDestination(input.destination).address;
  // From the live kernel only the routes these lookups can touch are decoded (the simulator
  // looks up the destination and, for source checks, the source): on a router with half a
  // million routes that is the difference between a few and all of them.
  const source = input.from !== undefined ? parseAddress(input.from) : undefined;
  const netlink = { routesContaining: source ? [destination, source] : [destination], sysctlsOnDemand: true };
  const snapshot = await readState({ snapshotFile: input.snapshot, ssh: input.ssh, source: input.source, netlink });
  const decision = simulateRoute(snapshot, query);
  return { output: input.json ? `${JSON.stringify(decisionJson(query, decision), null, 2)}\n` : formatDecision(query, decision), exitCode: 0 };
}

export function decisionJson(query: RouteQuery, decision: RouteDecision): Record<string, unknown> {
  return {
    destination: decision.destination,
    family: decision.family,
    query: { from: query.from ?? null, iif: query.iif ?? null, mark: query.mark ?? null },
    result: {
      type: decision.result.type,
      error: decision.result.error ?? null,
      table: decision.result.table ?? null,
      dev: decision.result.dev ?? null,
      gateway: decision.result.gateway ?? null,
      prefsrc: decision.result.prefsrc ?? null,
    },
    rule: decision.rule ? { ...decision.rule } : null,
    route: decision.route ? { ...decision.route } : null,
    steps: decision.steps,
  };
}

const VERDICT_LABEL: Record<RouteStep['verdict'], string> = {
  'no-match': 'no match', matched: 'match', 'no-route': 'no route', throw: 'throw', suppressed: 'suppressed',
  chosen: 'chosen', error: 'error', goto: 'goto',
};

/** Each rule tried, each table consulted, the route chosen and the result, in `ip`'s words. */
export function formatDecision(query: RouteQuery, decision: RouteDecision): string {
  const context: string[] = [];
  if (query.from) context.push(`from ${query.from}`);
  context.push(query.iif && query.iif !== 'lo' ? `forwarded, iif ${query.iif}` : 'locally generated (iif lo)');
  context.push(`mark 0x${((query.mark ?? 0) >>> 0).toString(16)}`);
  const lines = [`route to ${decision.destination} (IPv${decision.family}, ${context.join(', ')})`, 'rules in priority order:'];
  for (const step of decision.steps) {
    if (step.kind === 'rule') {
      lines.push(`  ${`[${VERDICT_LABEL[step.verdict]}]`.padEnd(11)} ${step.text.replace('\t', ' ')}`);
      lines.push(`  ${''.padEnd(11)}   ${step.reason}`);
    } else if (step.kind === 'table') {
      lines.push(`  ${''.padEnd(11)}   table ${tableName(step.table ?? 254)}: [${VERDICT_LABEL[step.verdict]}] ${step.text.startsWith('table ') ? '' : step.text}`.trimEnd());
      lines.push(`  ${''.padEnd(11)}     ${step.reason}`);
    }
  }
  const final = decision.steps.find((step) => step.kind === 'final');
  if (final) {
    lines.push(`result: ${final.text}`);
    lines.push(`        ${final.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
