/**
 * Debian's own Node for another architecture, unpacked with its libraries into a directory that
 * qemu-user uses as its root (`-L`): how the arm prebuilds get loaded and exercised on an x64
 * machine. test/run.js adds the Debian architectures; the sysroot is built on first use from
 * `apt-get download` and `dpkg -x`, and cached under /var/tmp for the next runs.
 */
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileAsync } from './harness.js';

export type DebianArch = 'arm64' | 'armhf';

export const qemuFor: Record<DebianArch, { qemu: string; triple: string }> = {
  arm64: { qemu: 'qemu-aarch64-static', triple: 'aarch64-linux-gnu' },
  armhf: { qemu: 'qemu-arm-static', triple: 'arm-linux-gnueabihf' },
};

/**
 * `nodejs` and what it needs, transitively: the packages of `arch` it depends on and the
 * architecture-independent node-* packages whose JavaScript Debian's Node loads at startup
 * (acorn, cjs-module-lexer, undici: dependencies through virtual packages).
 */
async function dependencyClosure(arch: DebianArch): Promise<string[]> {
  const seen = new Set<string>();
  const wanted = (name: string) => name.endsWith(`:${arch}`) || (!name.includes(':') && name !== 'nodejs');
  let frontier = [`nodejs:${arch}`];
  while (frontier.length > 0) {
    frontier.forEach((name) => seen.add(name));
    const { stdout } = await execFileAsync('apt-cache', ['depends', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...frontier]);
    const next = new Set<string>();
    let virtual = false;
    for (const line of stdout.split('\n')) {
      const dependency = /^ {1,2}\|?(?:Pre)?Depends: (<)?([^<>\s]+)>?$/.exec(line);
      const provider = /^ {4}(\S+)$/.exec(line);
      let name: string | undefined;
      if (dependency) {
        virtual = dependency[1] === '<';
        if (!virtual) name = dependency[2];
      } else if (provider && virtual) {
        name = provider[1];
      } else {
        virtual = false;
      }
      if (name && wanted(name) && !seen.has(name)) next.add(name);
    }
    frontier = [...next];
  }
  return [...seen].sort();
}

/** The sysroot for `arch` (cached; built atomically, so concurrent runs never see half of one). */
export async function debianNodeSysroot(arch: DebianArch): Promise<string> {
  const sysroot = `/var/tmp/netmend-qemu-sysroot-${arch}`;
  try {
    if (readdirSync(join(sysroot, 'usr', 'bin')).includes('node')) return sysroot;
  } catch { /* not built yet */ }
  const work = mkdtempSync(`${sysroot}.partial-`);
  try {
    const packages = await dependencyClosure(arch);
    const debs = join(work, 'debs');
    mkdirSync(debs);
    try {
      await execFileAsync('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', ...packages], { cwd: debs, maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      throw new Error(`apt-get download ${packages.join(' ')} failed (is ${arch} added with dpkg --add-architecture and apt-get update run? test/run.js does both): ${(error as { stderr?: string }).stderr ?? error}`);
    }
    const root = join(work, 'root');
    for (const deb of readdirSync(debs)) await execFileAsync('dpkg', ['-x', join(debs, deb), root]);
    try {
      renameSync(root, sysroot);
    } catch (error) {
      // another run finished first: use its sysroot
      if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    return sysroot;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
