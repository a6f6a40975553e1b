/**
 * The installer's arguments, checked here before anything connects to the router: a flag that
 * is wrong is a one-line error (exit 2) on this machine, not an ssh login followed by a refusal
 * from the router. The rules are the installer's own (openwrt/install.sh checks them again).
 */
import { InputError } from '../errors.js';
import { formatPrefix, hasHostBits, parsePrefix } from '../net/address.js';

export interface InstallFlags {
  version?: string;
  'base-url'?: string;
  sha256?: string;
  'lan-rule'?: string;
  'exit-node'?: boolean;
  'dry-run'?: boolean;
  uninstall?: boolean;
  purge?: boolean;
}

/** Flags that only mean something when installing. */
const INSTALL_ONLY = ['version', 'base-url', 'sha256', 'lan-rule', 'exit-node'] as const;

/** A release number as pkgs.tailscale.com names its tarballs ("1.90.8"), or "latest". */
const VERSION = /^(?:latest|[0-9][0-9A-Za-z.+~-]*)$/;

function checkVersion(version: string): void {
  if (!VERSION.test(version)) throw new InputError(`--version '${version}' is not a version number`, 'pass a stable release such as 1.90.8, or latest');
}

function checkSha256(sha256: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw new InputError(`--sha256 '${sha256}' is not 64 hex digits`, 'the digest is the body of the tarball\'s .sha256 file on the mirror');
  return sha256.toLowerCase();
}

function checkLanRule(lanRule: string): void {
  const prefix = lanRule.includes('/') ? parsePrefix(lanRule) : undefined;
  if (!prefix) throw new InputError(`--lan-rule '${lanRule}' is not an address prefix`, 'give the LAN as ADDRESS/LENGTH, e.g. 192.168.1.0/24');
  if (hasHostBits(lanRule)) throw new InputError(`--lan-rule '${lanRule}' has host bits set`, `did you mean ${formatPrefix(prefix)}?`);
}

function checkBaseUrl(url: string): void {
  if (!/^https?:\/\/[^\s'"]+$/.test(url)) throw new InputError(`--base-url '${url}' is not an http(s) URL without quotes or spaces`);
}

/** The installer's command line for these flags; throws InputError for flags that do not fit. */
export function installerArguments(flags: InstallFlags): string[] {
  const args: string[] = [];
  if (flags.purge && !flags.uninstall) throw new InputError('--purge only goes with --uninstall', 'to remove the node and its state: --uninstall --purge');
  if (flags.uninstall) {
    const misplaced = INSTALL_ONLY.find((name) => flags[name] !== undefined && flags[name] !== false);
    if (misplaced) throw new InputError(`--${misplaced} applies to installing, not to --uninstall`);
    args.push('--uninstall');
    if (flags.purge) args.push('--purge');
  } else {
    if (flags.version !== undefined) {
      checkVersion(flags.version);
      args.push('--version', flags.version);
    }
    if (flags['base-url'] !== undefined) {
      checkBaseUrl(flags['base-url']);
      args.push('--base-url', flags['base-url']);
    }
    if (flags.sha256 !== undefined) args.push('--sha256', checkSha256(flags.sha256));
    if (flags['lan-rule'] !== undefined) {
      checkLanRule(flags['lan-rule']);
      args.push('--lan-rule', flags['lan-rule']);
    }
    if (flags['exit-node']) args.push('--exit-node');
  }
  if (flags['dry-run']) args.push('--dry-run');
  return args;
}
