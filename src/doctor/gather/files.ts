/**
 * Config files of the diagnosed host, under `--root`: read from the local filesystem, or over
 * the same ssh connection the snapshot came from. Missing files and directories are simply
 * absent (undefined), since most hosts have only some of them.
 */
import { accessSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from '../../system/exec.js';

export interface HostFiles {
  /** "local" or "ssh root@router", for evidence. */
  readonly where: string;
  readonly root: string;
  /** `path` is absolute on the host ("/etc/systemd/networkd.conf"); root is prepended here. */
  read(path: string): Promise<string | undefined>;
  list(dir: string): Promise<string[] | undefined>;
  exists(path: string): Promise<boolean>;
}

export function hostPath(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

/**
 * Local files are read synchronously: a handful of small config files, where fs/promises would
 * start libuv's thread pool and wait on it for each, a noticeable part of a doctor's start-up.
 */
export function localFiles(root: string): HostFiles {
  return {
    where: 'local',
    root,
    async read(path) {
      try {
        return readFileSync(hostPath(root, path), 'utf8');
      } catch {
        return undefined;
      }
    },
    async list(dir) {
      try {
        return readdirSync(hostPath(root, dir)).sort();
      } catch {
        return undefined;
      }
    },
    async exists(path) {
      try {
        accessSync(hostPath(root, path));
        return true;
      } catch {
        return false;
      }
    },
  };
}

export function remoteFiles(runner: CommandRunner, root: string): HostFiles {
  return {
    where: runner.where,
    root,
    async read(path) {
      const result = await runner.run('cat', [hostPath(root, path)], { allowFailure: true });
      return result.exitCode === 0 ? result.stdout : undefined;
    },
    async list(dir) {
      const result = await runner.run('ls', ['-1', hostPath(root, dir)], { allowFailure: true });
      return result.exitCode === 0 ? result.stdout.split('\n').filter(Boolean).sort() : undefined;
    },
    async exists(path) {
      const result = await runner.run('test', ['-e', hostPath(root, path)], { allowFailure: true });
      return result.exitCode === 0;
    },
  };
}
