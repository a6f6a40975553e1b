/** oclif's help, plus the exit codes every command shares (package.json oclif.helpClass). */
import { Help } from '@oclif/core';
import type { Command } from '@oclif/core';
import { ExitCode } from '../errors.js';

const EXIT_CODE_MEANINGS: Array<[number, string]> = [
  [ExitCode.ok, 'ok: nothing failed'],
  [ExitCode.findings, 'findings: a check failed (or warned, with --fail-on warn)'],
  [ExitCode.usage, 'usage or input error: a bad flag, argument, file or interface name; nothing was changed'],
  [ExitCode.checkFailed, 'a check could not run (a tool missing, a host unreachable)'],
  [ExitCode.needsRoot, 'needs root: run it again with sudo'],
];

export default class NetmendHelp extends Help {
  private exitCodes(): string {
    return this.section('EXIT CODES', EXIT_CODE_MEANINGS.map(([code, meaning]) => [String(code), meaning]));
  }

  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log(this.exitCodes());
  }

  protected override formatCommand(command: Command.Loadable): string {
    return `${super.formatCommand(command)}\n\n${this.exitCodes()}`;
  }
}
