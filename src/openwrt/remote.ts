/**
 * Driving the installer on a router over ssh: the script goes over stdin (`sh -s -- ARGS`), so
 * nothing but the installer's own files lands on the router's flash. Before installing, the
 * router's facts (`--check`) are read and a router that cannot run the build is refused.
 */
import { CheckCouldNotRunError, InputError } from '../errors.js';
import type { CommandRunner, RunResult } from '../system/exec.js';

/** What `install.sh --check` reports. */
export interface RouterFacts {
  arch: string;
  packageArch: string;
  memAvailableKb: number | undefined;
  tmpFreeKb: number | undefined;
  flashFreeKb: number | undefined;
  firewall: string;
  openwrt: boolean;
  installedVersion: string;
  /** mwan3 is installed: tailscaled's rules (and so the --lan-rule) sit at 13xx, not 52xx. */
  mwan3: boolean;
}

/**
 * The launcher's defaults (openwrt/launcher.sh): a build needs about 50 MB of /tmp (tarball plus
 * both binaries) and, since /tmp is RAM, that much MemAvailable plus 16 MB for the daemon.
 */
export const requirements = {
  buildKb: 51_200,
  memMarginKb: 16_384,
  tmpSlackKb: 1_024,
  /** Launchers, init script and manifest, with room to spare. */
  flashKb: 64,
} as const;

function numberOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

export function parseFacts(text: string): RouterFacts {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  if (!values.has('arch')) throw new CheckCouldNotRunError('the router did not answer the installer\'s --check', 'is /bin/sh there a POSIX shell?');
  return {
    arch: values.get('arch') ?? '',
    packageArch: values.get('package_arch') ?? '',
    memAvailableKb: numberOrUndefined(values.get('mem_available_kb')),
    tmpFreeKb: numberOrUndefined(values.get('tmp_free_kb')),
    flashFreeKb: numberOrUndefined(values.get('flash_free_kb')),
    firewall: values.get('firewall') ?? '',
    openwrt: values.get('openwrt') === 'yes',
    installedVersion: values.get('installed_version') ?? '',
    mwan3: values.get('mwan3') === 'yes',
  };
}

/** Why this router cannot run the build, or undefined when it can. */
export function refusalReason(facts: RouterFacts): string | undefined {
  if (!facts.openwrt) return 'the target is not OpenWrt (no /etc/openwrt_release)';
  if (!facts.arch) return `there is no tailscale build for the router's architecture ('${facts.packageArch || 'unknown'}')`;
  const needMem = requirements.buildKb + requirements.memMarginKb;
  if (facts.memAvailableKb === undefined) return 'the router does not report MemAvailable';
  if (facts.memAvailableKb < needMem) return `the router has ${facts.memAvailableKb} KB MemAvailable; the build in RAM plus the daemon need ${needMem} KB`;
  const needTmp = requirements.buildKb + requirements.tmpSlackKb;
  if (facts.tmpFreeKb === undefined || facts.tmpFreeKb < needTmp) return `/tmp has ${facts.tmpFreeKb ?? 'unknown'} KB free; the build needs ${needTmp} KB`;
  if (facts.flashFreeKb === undefined || facts.flashFreeKb < requirements.flashKb) return `the flash has ${facts.flashFreeKb ?? 'unknown'} KB free; the launchers need ${requirements.flashKb} KB`;
  return undefined;
}

export async function readRouterFacts(runner: CommandRunner, script: string): Promise<RouterFacts> {
  const result = await runner.run('sh', ['-s', '--', '--check'], { input: script, timeoutMs: 60_000 });
  return parseFacts(result.stdout);
}

/** Runs the installer on the router; a non-zero exit becomes the matching netmend error. */
export async function runInstaller(runner: CommandRunner, script: string, args: readonly string[]): Promise<RunResult> {
  const result = await runner.run('sh', ['-s', '--', ...args], { input: script, timeoutMs: 300_000, allowFailure: true });
  if (result.exitCode === 0) return result;
  const reason = result.stderr.split('\n').find((line) => line.startsWith('install.sh: '))?.slice('install.sh: '.length)
    ?? (result.stderr.trim().split('\n')[0] || `exit code ${result.exitCode}`);
  const hint = /^\s+hint: (.*)$/m.exec(result.stderr)?.[1];
  if (result.exitCode === 2) throw new InputError(`the installer on ${runner.where} refused: ${reason}`, hint);
  throw new CheckCouldNotRunError(`the installer on ${runner.where} failed: ${reason}`, hint);
}
