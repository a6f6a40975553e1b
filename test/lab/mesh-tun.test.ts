/**
 * The TUN layer against the real kernel. Node cannot enter a network namespace, so the TUN side
 * runs in a child process (this same file, started with MESH_TUN_CHILD=1 through
 * `ip netns exec`) that takes commands on stdin and answers in JSON lines on fd 3, a pipe of its
 * own: nothing else the child or its native code prints (stdout, stderr) can mix into the
 * answers, and a line that is not JSON fails the waiting step instead of the whole test file.
 * The child plays the far end of the tunnel: it answers ICMP and ICMPv6 echo requests it reads,
 * which is what makes `ping` through the device succeed.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Lab, labUnavailable, projectRoot, run, uniqueName } from './harness.js';
import { echoReply } from './packets.js';

const LOCAL4 = '10.201.0.1/24';
const REMOTE4 = '10.201.0.2';
const LOCAL6 = 'fd01:201::1/64';
const REMOTE6 = 'fd01:201::2';
const TIMER_MS = 10;
/** The child's answer channel (the fourth stdio entry). */
const ANSWERS_FD = 3;

// ---------------------------------------------------------------- child (inside the namespace)

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A UDP/IPv4 datagram (UDP checksum 0 = none, legal for IPv4). */
function udpPacket(source: string, destination: string, port: number, payload: Buffer): Buffer {
  const packet = Buffer.alloc(28 + payload.length);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = 17;
  source.split('.').forEach((part, i) => { packet[12 + i] = Number(part); });
  destination.split('.').forEach((part, i) => { packet[16 + i] = Number(part); });
  packet.writeUInt16BE(ipv4Checksum(packet.subarray(0, 20)), 10);
  packet.writeUInt16BE(40000, 20);
  packet.writeUInt16BE(port, 22);
  packet.writeUInt16BE(8 + payload.length, 24);
  payload.copy(packet, 28);
  return packet;
}

async function child(): Promise<void> {
  const name = process.env.MESH_TUN_NAME!;
  const { openTun } = await import('../../src/mesh/tun.js');
  const { addAddress, setLinkUp } = await import('../../src/netlink/configure.js');
  // One synchronous write(2) per message on the answer channel: a message is never split.
  const say = (message: object) => { writeSync(ANSWERS_FD, `${JSON.stringify(message)}\n`); };
  const describe = (error: unknown) => ({ kind: (error as Error).constructor.name, message: (error as Error).message, hint: (error as { hint?: string }).hint, exitCode: (error as { exitCode?: number }).exitCode });

  const device = openTun(name);
  await setLinkUp(name, 1420);
  await addAddress(name, LOCAL4);
  await addAddress(name, LOCAL6);
  let ticks = 0;
  const timer = setInterval(() => { ticks += 1; }, TIMER_MS);
  let batches = 0;
  let packets = 0;
  let maxBatch = 0;
  let replies = 0;
  say({ event: 'ready', name: device.name });

  for await (const line of createInterface({ input: process.stdin })) {
    const [command, ...args] = line.trim().split(/\s+/);
    try {
      if (command === 'read') {
        device.onPackets((batch) => {
          batches += 1;
          packets += batch.length;
          maxBatch = Math.max(maxBatch, batch.length);
          const out: Buffer[] = [];
          for (const packet of batch) {
            const reply = echoReply(packet);
            if (reply) out.push(reply);
          }
          replies += out.length;
          device.write(out);
        });
        device.onGone(() => say({ event: 'gone' }));
        say({ event: 'reading' });
      } else if (command === 'status') {
        say({ event: 'status', ticks, batches, packets, maxBatch, replies, stats: device.stats() });
      } else if (command === 'write-udp') {
        const count = Number(args[0]);
        const datagrams = Array.from({ length: count }, (_, i) => udpPacket(REMOTE4, LOCAL4.split('/')[0], Number(args[1]), Buffer.from(`datagram ${i}`)));
        device.write(datagrams);
        const flushed = device.flush(2000);
        say({ event: 'written', flushed, stats: device.stats() });
      } else if (command === 'errors') {
        const results: Record<string, unknown> = {};
        for (const [label, attempt] of [['again', name], ['notTun', 'lo'], ['badName', 'bad name!']] as const) {
          try {
            openTun(attempt).close();
            results[label] = { kind: 'none' };
          } catch (error) {
            results[label] = describe(error);
          }
        }
        say({ event: 'errors', ...results });
      } else if (command === 'close') {
        device.close();
        clearInterval(timer);
        say({ event: 'closed' });
        return;
      }
    } catch (error) {
      say({ event: 'error', ...describe(error) });
    }
  }
}

// ---------------------------------------------------------------- tests (on the host)

interface TunChild {
  send(command: string): void;
  next(event: string): Promise<Record<string, any>>;
  process: ChildProcess;
}

async function startChild(lab: Lab, ns: string, name: string): Promise<TunChild> {
  const process_ = lab.spawn(ns, process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, MESH_TUN_CHILD: '1', MESH_TUN_NAME: name },
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  const waiting: Array<{ event: string; resolve: (message: Record<string, any>) => void; reject: (error: Error) => void }> = [];
  const early: Array<Record<string, any>> = [];
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString('latin1')).slice(-4000); };
  process_.stdout?.on('data', keep);
  process_.stderr?.on('data', keep);
  const answers = process_.stdio[ANSWERS_FD] as Readable;
  createInterface({ input: answers }).on('line', (line) => {
    let message: Record<string, any>;
    try {
      message = JSON.parse(line) as Record<string, any>;
    } catch {
      const error = new Error(`the TUN child answered a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
      for (const waiter of waiting.splice(0)) waiter.reject(error);
      return;
    }
    const index = waiting.findIndex((w) => w.event === message.event || message.event === 'error');
    if (index >= 0) waiting.splice(index, 1)[0].resolve(message);
    else early.push(message);
  });
  const next = (event: string) => new Promise<Record<string, any>>((resolve, reject) => {
    const queued = early.findIndex((m) => m.event === event || m.event === 'error');
    if (queued >= 0) return resolve(early.splice(queued, 1)[0]);
    const timeout = setTimeout(() => reject(new Error(`no '${event}' from the TUN child; its output: ${output}`)), 15_000);
    waiting.push({
      event,
      resolve: (message) => { clearTimeout(timeout); resolve(message); },
      reject: (error) => { clearTimeout(timeout); reject(error); },
    });
    process_.once('exit', (code) => reject(new Error(`TUN child exited (${code}) waiting for '${event}': ${output}`)));
  });
  const ready = await next('ready');
  assert.equal(ready.event, 'ready', JSON.stringify(ready));
  return { send: (command) => process_.stdin!.write(`${command}\n`), next, process: process_ };
}

async function linkCounters(lab: Lab, ns: string, name: string): Promise<{ rx: number; tx: number }> {
  const [link] = JSON.parse(await lab.ip(ns, '-s', '-j', 'link', 'show', 'dev', name)) as Array<{ stats64: { rx: { packets: number }; tx: { packets: number } } }>;
  return { rx: link.stats64.rx.packets, tx: link.stats64.tx.packets };
}

const skip = labUnavailable();

// The child registers no test: one it started would die with it and leave its namespace behind.
if (process.env.MESH_TUN_CHILD === '1') {
  await child();
} else {
  test('ping through a TUN configured over netlink; the event loop keeps running while the reader waits', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('tun');
    const name = uniqueName('nmtun');
    const tun = await startChild(lab, ns, name);

    // setLinkUp / addAddress took effect in the kernel.
    const [link] = JSON.parse(await lab.ip(ns, '-j', 'addr', 'show', 'dev', name)) as Array<{ mtu: number; flags: string[]; addr_info: Array<{ local: string; prefixlen: number }> }>;
    assert.equal(link.mtu, 1420);
    assert.ok(link.flags.includes('UP'), JSON.stringify(link.flags));
    const addresses = link.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
    assert.ok(addresses.includes(LOCAL4) && addresses.includes(LOCAL6), addresses.join(' '));

    // Before anyone reads, nothing answers.
    const unanswered = await lab.exec(ns, 'ping', ['-c', '1', '-W', '1', REMOTE4]);
    assert.notEqual(unanswered.code, 0, 'no reply while the device is not read');

    tun.send('read');
    await tun.next('reading');
    const ping4 = await lab.exec(ns, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', REMOTE4]);
    assert.equal(ping4.code, 0, ping4.stdout + ping4.stderr);
    assert.match(ping4.stdout, /5 packets transmitted, 5 received/);
    const ping6 = await lab.exec(ns, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', REMOTE6]);
    assert.equal(ping6.code, 0, ping6.stdout + ping6.stderr);
    assert.match(ping6.stdout, /3 packets transmitted, 3 received/);

    tun.send('status');
    const before = await tun.next('status');
    assert.ok(before.replies >= 8, JSON.stringify(before));
    assert.equal(before.stats.txErrors, 0);
    await new Promise((r) => setTimeout(r, 600));
    tun.send('status');
    const after = await tun.next('status');
    // A read() blocking the JavaScript thread would freeze the 10 ms timer at zero progress.
    const ticks = after.ticks - before.ticks;
    assert.ok(ticks >= 600 / TIMER_MS / 3, `timer fired ${ticks} times in 600 ms while the reader waited`);

    tun.send('close');
    await tun.next('closed');
    await lab.waitFor(async () => (await run('ip', ['-n', ns, 'link', 'show', 'dev', name])).code !== 0, 5000, `${name} removed on close`);
  });

  test('packets queued while nobody reads arrive in batches, not one call each', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('tun');
    const name = uniqueName('nmtun');
    const tun = await startChild(lab, ns, name);
    await lab.ip(ns, 'link', 'set', 'dev', name, 'txqueuelen', '1000');
    const sent = 400;
    const sender = `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>{if(n===${sent})return s.close();s.send(Buffer.alloc(64),9999,'10.201.0.9',()=>{n++;go();});};go();`;
    const send = await lab.exec(ns, process.execPath, ['-e', sender]);
    assert.equal(send.code, 0, send.stderr);

    tun.send('read');
    await tun.next('reading');
    let status: Record<string, any> = {};
    await lab.waitFor(async () => {
      tun.send('status');
      status = await tun.next('status');
      return status.packets >= sent;
    }, 5000, `${sent} packets read`);
    assert.ok(status.maxBatch >= 64, `largest batch ${status.maxBatch}`);
    // Each stray packet the kernel sends later (IPv6 router solicitations) may cost one more call.
    const strays = status.packets - sent;
    assert.ok(status.batches <= Math.ceil(sent / 64) + strays, `${status.packets} packets in ${status.batches} calls`);
    assert.equal(status.stats.rxBatches, status.batches);
    // The kernel counts a packet as sent to the device when the reader took it.
    assert.ok((await linkCounters(lab, ns, name)).tx >= sent);
  });

  test('one write() call of many packets reaches the kernel (ip -s link counters)', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('tun');
    const name = uniqueName('nmtun');
    const tun = await startChild(lab, ns, name);
    const before = await linkCounters(lab, ns, name);
    tun.send('write-udp 300 5555');
    const written = await tun.next('written');
    assert.equal(written.flushed, true, JSON.stringify(written));
    assert.equal(written.stats.txPackets, 300);
    assert.equal(written.stats.txBatches, Math.ceil(300 / 128));
    const after = await linkCounters(lab, ns, name);
    assert.equal(after.rx - before.rx, 300, 'the kernel counted every written packet as received on the device');
  });

  test('an interface deleted from outside is reported once through onGone', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('tun');
    const name = uniqueName('nmtun');
    const tun = await startChild(lab, ns, name);
    tun.send('read');
    await tun.next('reading');
    await lab.ip(ns, 'link', 'del', 'dev', name);
    assert.equal((await tun.next('gone')).event, 'gone');
    tun.send('status');
    assert.equal((await tun.next('status')).event, 'status', 'the process keeps serving after the device is gone');
  });

  test('opening errors are one-line CheckCouldNotRunError/InputError with hints', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('tun');
    const name = uniqueName('nmtun');
    const tun = await startChild(lab, ns, name);
    tun.send('errors');
    const errors = await tun.next('errors');
    assert.equal(errors.again.kind, 'CheckCouldNotRunError');
    assert.equal(errors.again.exitCode, 3);
    assert.match(errors.again.message, new RegExp(`${name}: it is busy`));
    assert.equal(errors.notTun.exitCode, 3);
    assert.match(errors.notTun.message, /lo: it exists and is not a TUN device/);
    assert.equal(errors.badName.kind, 'InputError');
    assert.equal(errors.badName.exitCode, 2);
  });

  test('without root: opening TUN says permission denied (exit 3), netlink writes say needs root (exit 4)', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('tun');
    const name = uniqueName('nmtun');
    await lab.ip(ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
    const tunModule = join(projectRoot, 'dist', 'src', 'mesh', 'tun.js');
    const configureModule = join(projectRoot, 'dist', 'src', 'netlink', 'configure.js');
    const script = `
      const report = (label, e) => console.log(JSON.stringify({ label, kind: e.constructor.name, exitCode: e.exitCode, message: e.message, hint: e.hint }));
      const { openTun } = await import('${tunModule}');
      try { openTun('${name}x'); console.log('{"label":"tun","kind":"none"}'); } catch (e) { report('tun', e); }
      const { addAddress } = await import('${configureModule}');
      try { await addAddress('${name}', '10.203.0.1/24'); console.log('{"label":"address","kind":"none"}'); } catch (e) { report('address', e); }`;
    const result = await lab.exec(ns, 'setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', script]);
    const [tun, address] = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(tun.kind, 'CheckCouldNotRunError', result.stdout + result.stderr);
    assert.equal(tun.exitCode, 3);
    assert.match(tun.message, /cannot open \/dev\/net\/tun: permission denied/);
    assert.match(tun.hint, /root/);
    assert.equal(address.kind, 'NeedsRootError', result.stdout + result.stderr);
    assert.equal(address.exitCode, 4);
    assert.match(address.message, new RegExp(`add address 10\\.203\\.0\\.1/24 \\(${name}\\) needs root`));
    assert.doesNotMatch(await lab.ip(ns, 'addr', 'show', 'dev', name), /10\.203\.0\.1/);
  });

  test('netlink configure: idempotent addresses and routes (any table), never taking over a LAN route', { skip }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('cfg');
    const lan = uniqueName('nmlan');
    const mesh = uniqueName('nmmsh');
    await lab.ip(ns, 'link', 'add', lan, 'type', 'veth', 'peer', 'name', mesh);
    await lab.ip(ns, 'link', 'set', lan, 'up');
    await lab.ip(ns, 'addr', 'add', '192.168.50.1/24', 'dev', lan);
    const configureModule = join(projectRoot, 'dist', 'src', 'netlink', 'configure.js');
    const script = `
      const c = await import('${configureModule}');
      const step = async (label, fn) => { try { await fn(); console.log(JSON.stringify({ label, ok: true })); } catch (e) { console.log(JSON.stringify({ label, ok: false, kind: e.constructor.name, exitCode: e.exitCode, message: e.message })); } };
      await step('up', () => c.setLinkUp('${mesh}', 1380));
      await step('address', () => c.addAddress('${mesh}', '10.90.0.1/24'));
      await step('address again', () => c.addAddress('${mesh}', '10.90.0.1/24'));
      await step('address6', () => c.addAddress('${mesh}', 'fd90::1/64'));
      await step('route', () => c.addRoute('${mesh}', '10.91.7.7/16'));
      await step('route again', () => c.addRoute('${mesh}', '10.91.0.0/16'));
      await step('route table', () => c.addRoute('${mesh}', '10.92.0.0/16', 1000));
      await step('route6', () => c.addRoute('${mesh}', 'fd91::/48'));
      await step('lan route', () => c.addRoute('${mesh}', '192.168.50.0/24'));
      await step('missing link', () => c.addAddress('${mesh}zz', '10.1.1.1/24'));`;
    const result = await lab.exec(ns, process.execPath, ['--input-type=module', '-e', script]);
    const steps = Object.fromEntries(result.stdout.trim().split('\n').map((line) => { const step = JSON.parse(line); return [step.label, step]; }));
    for (const label of ['up', 'address', 'address again', 'address6', 'route', 'route again', 'route table', 'route6']) {
      assert.equal(steps[label]?.ok, true, `${label}: ${JSON.stringify(steps[label])} ${result.stderr}`);
    }
    assert.equal(steps['lan route'].kind, 'CheckCouldNotRunError');
    assert.equal(steps['lan route'].exitCode, 3);
    assert.match(steps['lan route'].message, new RegExp(`table 254 already has a route via ${lan} for it`));
    assert.match(steps['missing link'].message, new RegExp(`interface ${mesh}zz does not exist`));

    // The kernel is the oracle: what a user's traffic would now do.
    const [link] = JSON.parse(await lab.ip(ns, '-j', 'link', 'show', 'dev', mesh)) as Array<{ mtu: number }>;
    assert.equal(link.mtu, 1380);
    assert.match(await lab.ip(ns, 'route', 'get', '10.91.200.1'), new RegExp(`dev ${mesh}`));
    assert.match(await lab.ip(ns, 'route', 'show', 'table', '1000'), new RegExp(`^10\\.92\\.0\\.0/16 dev ${mesh} `, 'm'));
    assert.match(await lab.ip(ns, '-6', 'route', 'get', 'fd91::9'), new RegExp(`dev ${mesh}`));
    assert.match(await lab.ip(ns, 'route', 'get', '192.168.50.9'), new RegExp(`dev ${lan}`), 'the LAN keeps its route');
    assert.equal((await lab.ip(ns, '-4', 'addr', 'show', 'dev', mesh)).match(/10\.90\.0\.1\/24/g)?.length, 1);

    const remove = await lab.exec(ns, process.execPath, ['--input-type=module', '-e', `const c = await import('${configureModule}'); await c.deleteLink('${mesh}'); await c.deleteLink('${mesh}'); console.log('deleted');`]);
    assert.equal(remove.stdout.trim(), 'deleted', remove.stderr);
    assert.notEqual((await run('ip', ['-n', ns, 'link', 'show', 'dev', mesh])).code, 0);
  });
}
