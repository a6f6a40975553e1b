/**
 * The arm64 and armv7 prebuilds, loaded and exercised as on a Raspberry Pi: Debian's own arm64
 * and armhf Node run under qemu-user (from a sysroot of their packages), load the addon through
 * the project's loader (node-gyp-build picks the file by platform and tags), open a TUN device in
 * a namespace and answer the pings the kernel sends through it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { Lab, labUnavailable, projectRoot, uniqueName } from './harness.js';
import { debianNodeSysroot, DebianArch, qemuFor } from './qemu-sysroot.js';

const guestScript = join(projectRoot, 'dist', 'test', 'lab', 'tun-echo-guest.js');

const cases: Array<{ arch: DebianArch; nodeArch: string; prebuild: string; subnet: string }> = [
  { arch: 'arm64', nodeArch: 'arm64', prebuild: 'native/prebuilds/linux-arm64/netmend_tun.napi.glibc.node', subnet: '10.241.0' },
  { arch: 'armhf', nodeArch: 'arm', prebuild: 'native/prebuilds/linux-arm/netmend_tun.napi.glibc.armv7.node', subnet: '10.242.0' },
];

for (const { arch, nodeArch, prebuild, subnet } of cases) {
  const skip = labUnavailable() ?? (existsSync(`/usr/bin/${qemuFor[arch].qemu}`) ? undefined : `${qemuFor[arch].qemu} is not installed`);
  test(`the ${nodeArch} prebuild under qemu-user, in Debian's ${arch} Node: loaded by the loader, a TUN opened, pings answered through it`, { skip, timeout: 300_000 }, async (t) => {
    assert.ok(existsSync(join(projectRoot, prebuild)), `${prebuild} was not built (cross toolchain missing?)`);
    const sysroot = await debianNodeSysroot(arch);
    const lab = Lab.forTest(t);
    const ns = await lab.netns('qemu');
    const name = uniqueName('nmq');
    const { qemu, triple } = qemuFor[arch];
    const guest = lab.spawn(ns, `/usr/bin/${qemu}`, ['-L', sysroot, '-E', `LD_LIBRARY_PATH=/usr/lib/${triple}:/lib/${triple}`, join(sysroot, 'usr', 'bin', 'node'), guestScript, name]);
    let stderr = '';
    guest.stderr?.on('data', (chunk) => { stderr += String(chunk); });
    // Node under emulation starts in seconds, or tens of them on a loaded machine.
    const hello = await new Promise<Record<string, string>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no word from the ${arch} guest in 180 s: ${stderr}`)), 180_000);
      createInterface({ input: guest.stdout! }).once('line', (line) => { clearTimeout(timer); resolve(JSON.parse(line)); });
      guest.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the ${arch} guest exited (${code}): ${stderr}`)); });
    });
    assert.equal(hello.arch, nodeArch, 'the guest Node is the emulated architecture');
    assert.equal(hello.addon, `loaded ${prebuild}`);
    assert.equal(hello.name, name);

    await lab.ip(ns, 'addr', 'add', `${subnet}.1/24`, 'dev', name);
    await lab.ip(ns, 'link', 'set', name, 'up');
    const ping = await lab.exec(ns, 'ping', ['-c', '3', '-i', '0.5', '-W', '30', `${subnet}.2`], { timeoutMs: 120_000 });
    assert.match(ping.stdout, /3 packets transmitted, 3 received/, ping.stdout + ping.stderr + stderr);
  });
}
