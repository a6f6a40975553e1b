/**
 * The human report: one line per check with its mark, evidence and the fix only for problems,
 * then a summary line. Colours only when asked for (src/cli/terminal.ts useColour decides).
 */
import type { DoctorDocument } from './run.js';
import { NO_MESH_REASON } from './result.js';
import type { CheckStatus } from './types.js';

export { useColour } from '../cli/terminal.js';

export const MARKS: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '–', error: '☠', info: 'i' };
const COLOURS: Record<CheckStatus, number> = { pass: 32, warn: 33, fail: 31, skip: 90, error: 35, info: 36 };

export interface RenderOptions {
  colour: boolean;
}

function paint(text: string, code: number, options: RenderOptions): string {
  return options.colour ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function summaryLine(document: DoctorDocument): string {
  const { pass, warn, fail, skip, error, info } = document.summary;
  const parts = [`${pass} passed`];
  if (info) parts.push(`${info} for information`);
  if (warn) parts.push(plural(warn, 'warning'));
  if (fail) parts.push(`${fail} failed`);
  if (error) parts.push(`${error} could not run`);
  if (skip) parts.push(`${skip} skipped`);
  const fixes = [...new Set(document.checks.filter((check) => (check.status === 'fail' || check.status === 'warn') && check.fix).map((check) => check.fix!.command))];
  const fixText = fixes.length && fixes.every((command) => command.startsWith('netmend ')) ? `. Fix: ${fixes.join('; ')}` : '';
  return `${document.host}: ${parts.join(', ')}${fixText}`;
}

export function renderDocument(document: DoctorDocument, options: RenderOptions): string {
  const lines: string[] = [];
  // On a host without any mesh every routes check skips for the same reason: one headline.
  const noMesh = document.checks.filter((check) => check.status === 'skip' && check.summary === `no mesh VPN found: ${NO_MESH_REASON}`);
  if (noMesh.length > 0) lines.push(`${paint(MARKS.skip, COLOURS.skip, options)} no mesh VPN found: ${NO_MESH_REASON}; ${plural(noMesh.length, 'check')} skipped`);
  const shown = document.checks.filter((check) => !noMesh.includes(check));
  const width = Math.max(0, ...shown.map((check) => check.id.length));
  for (const check of shown) {
    const mark = paint(MARKS[check.status], COLOURS[check.status], options);
    lines.push(`${mark} ${check.id.padEnd(width)}  ${check.summary}`);
    if (check.status === 'pass' || check.status === 'skip') continue;
    for (const line of check.evidence) lines.push(`    ${line}`);
    if (check.fix) {
      lines.push(`    ${paint('fix:', 1, options)} ${check.fix.command}`);
      lines.push(`         ${check.fix.explanation}`);
    }
  }
  lines.push('');
  lines.push(summaryLine(document));
  return `${lines.join('\n')}\n`;
}
