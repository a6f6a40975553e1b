/**
 * Packets per second through netmend's TUN layer (native/tun.c + src/mesh/tun.ts), next to a
 * plain C loop doing the same with one blocking read() and write() per packet, in one run.
 *
 * The loop, in a network namespace with forwarding on: W UDP packets are written into the
 * TUN device; the kernel forwards each one straight back out of the same device (its
 * destination is routed there); the reader gets it, restores the TTL and writes it again. So
 * every counted packet crossed the layer twice (one read, one write) plus kernel forwarding,
 * which is what the mesh node does per packet besides crypto.
 *
 *   sudo node dist/bench/mesh-tun.js [--seconds 5] [--window 256]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Lab, labUnavailable, uniqueName } from '../test/lab/harness.js';

const SOURCE = '10.202.0.2';
const LOOP_DESTINATION = '10.202.1.9';

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function loopPacket(size: number, sequence: number): Buffer {
  const packet = Buffer.alloc(size);
  packet[0] = 0x45;
  packet.writeUInt16BE(size, 2);
  packet.writeUInt16BE(sequence & 0xffff, 4);
  packet[8] = 64;
  packet[9] = 17;
  SOURCE.split('.').forEach((part, i) => { packet[12 + i] = Number(part); });
  LOOP_DESTINATION.split('.').forEach((part, i) => { packet[16 + i] = Number(part); });
  packet.writeUInt16BE(ipv4Checksum(packet.subarray(0, 20)), 10);
  packet.writeUInt16BE(40000, 20);
  packet.writeUInt16BE(9, 22);
  packet.writeUInt16BE(size - 20, 24);
  return packet;
}

/** The kernel decremented the TTL and patched the checksum; undo both (RFC 1624 update). */
function restoreTtl(packet: Buffer): void {
  const before = packet.readUInt16BE(8);
  packet[8] += 1;
  const after = packet.readUInt16BE(8);
  let sum = (~packet.readUInt16BE(10) & 0xffff) + (~before & 0xffff) + after;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  packet.writeUInt16BE(~sum & 0xffff, 10);
}

// ------------------------------------------------------------ child: netmend's layer in the netns
async function child(): Promise<void> {
  const name = process.env.BENCH_TUN_NAME!;
  const { openTun } = await import('../src/mesh/tun.js');
  const { addAddress, addRoute, setLinkUp } = await import('../src/netlink/configure.js');
  const device = openTun(name);
  await setLinkUp(name, 1500);
  await addAddress(name, '10.202.0.1/24');
  await addRoute(name, '10.202.1.0/24');
  let packets = 0;
  let batches = 0;
  let measuring = false;
  device.onPackets((batch) => {
    for (const packet of batch) restoreTtl(packet);
    if (measuring) { packets += batch.length; batches += 1; }
    device.write(batch);
  });
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, sizeText, windowText, secondsText] = line.split(' ');
    if (command !== 'run') continue;
    const size = Number(sizeText);
    const seconds = Number(secondsText);
    device.write(Array.from({ length: Number(windowText) }, (_, i) => loopPacket(size, i)));
    await new Promise((r) => setTimeout(r, 300));
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    packets = 0;
    batches = 0;
    measuring = true;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const counted = packets;
    const calls = batches;
    // Let the window drain so the next size starts from an empty loop.
    device.close();
    process.stdout.write(`${JSON.stringify({ packets: counted, batches: calls, seconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
    return;
  }
}

// ------------------------------------------------------------ the reference: one syscall per packet
const REFERENCE_C = String.raw`
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static unsigned short csum(unsigned char *h) { unsigned long s = 0; for (int i = 0; i < 20; i += 2) s += (h[i] << 8) | h[i + 1]; while (s >> 16) s = (s & 0xffff) + (s >> 16); return ~s & 0xffff; }
int main(int argc, char **argv) {
  int size = atoi(argv[2]), window = atoi(argv[3]); double seconds = atof(argv[4]);
  int fd = open("/dev/net/tun", O_RDWR); if (fd < 0) { perror("tun"); return 1; }
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr); ifr.ifr_flags = IFF_TUN | IFF_NO_PI; strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }
  printf("ready\n"); fflush(stdout);
  char line[64]; if (!fgets(line, sizeof line, stdin)) return 1;
  unsigned char p[65536];
  for (int i = 0; i < window; i++) {
    memset(p, 0, size); p[0] = 0x45; p[2] = size >> 8; p[3] = size; p[4] = i >> 8; p[5] = i; p[8] = 64; p[9] = 17;
    p[12] = 10; p[13] = 202; p[14] = 0; p[15] = 2; p[16] = 10; p[17] = 202; p[18] = 1; p[19] = 9;
    unsigned short c = csum(p); p[10] = c >> 8; p[11] = c;
    p[20] = 40000 >> 8; p[21] = 40000 & 255; p[23] = 9; p[24] = (size - 20) >> 8; p[25] = size - 20;
    if (write(fd, p, size) < 0) { perror("write"); return 1; }
  }
  long packets = 0; double start = now(), warm = start + 0.3, end = warm + seconds; int counting = 0;
  for (;;) {
    ssize_t n = read(fd, p, sizeof p); if (n <= 0) break;
    p[8]++; p[10] = 0; p[11] = 0; unsigned short c = csum(p); p[10] = c >> 8; p[11] = c;
    if (write(fd, p, n) < 0) break;
    if (!counting && (packets & 1023) == 0 && now() >= warm) { counting = 1; packets = 0; start = now(); }
    packets++;
    if (counting && (packets & 1023) == 0 && now() >= end) break;
  }
  printf("{\"packets\": %ld, \"seconds\": %f}\n", packets, now() - start);
  return 0;
}
`;

interface LoopResult { packets: number; seconds: number; batches?: number; cpuSeconds?: number }

async function lineFrom(stream: NodeJS.ReadableStream, predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
  const lines = createInterface({ input: stream });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for the loop process')), timeoutMs);
    lines.on('line', (line) => { if (predicate(line)) { clearTimeout(timer); lines.close(); resolve(line); } });
  });
}

async function prepareNamespace(lab: Lab): Promise<string> {
  const ns = await lab.netns('bt');
  for (const setting of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']) {
    await lab.exec(ns, 'sysctl', ['-qw', setting]);
  }
  return ns;
}

async function runNetmend(lab: Lab, size: number, window: number, seconds: number): Promise<LoopResult> {
  const ns = await prepareNamespace(lab);
  const name = uniqueName('nmbt');
  const proc = lab.spawn(ns, process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_TUN_CHILD: '1', BENCH_TUN_NAME: name } });
  proc.stderr?.pipe(process.stderr);
  const output = createInterface({ input: proc.stdout! });
  const lines: string[] = [];
  const waitLine = () => new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('netmend loop did not answer')), (seconds + 20) * 1000);
    const take = () => { const line = lines.shift(); if (line !== undefined) { clearTimeout(timer); resolve(line); } else setTimeout(take, 20); };
    take();
  });
  output.on('line', (line) => lines.push(line));
  await waitLine();
  proc.stdin!.write(`run ${size} ${window} ${seconds}\n`);
  return JSON.parse(await waitLine()) as LoopResult;
}

async function runReference(lab: Lab, binary: string, size: number, window: number, seconds: number): Promise<LoopResult> {
  const ns = await prepareNamespace(lab);
  const name = uniqueName('nmbr');
  const proc = lab.spawn(ns, binary, [name, String(size), String(window), String(seconds)]);
  const ready = lineFrom(proc.stdout!, (line) => line === 'ready', 10_000);
  await ready;
  await lab.ip(ns, 'link', 'set', 'dev', name, 'mtu', '1500', 'up');
  await lab.ip(ns, 'addr', 'add', '10.202.0.1/24', 'dev', name);
  await lab.ip(ns, 'route', 'add', '10.202.1.0/24', 'dev', name);
  const result = lineFrom(proc.stdout!, (line) => line.startsWith('{'), (seconds + 20) * 1000);
  proc.stdin!.write('go\n');
  return JSON.parse(await result) as LoopResult;
}

function formatRate(label: string, size: number, result: LoopResult): string {
  const pps = result.packets / result.seconds;
  const mbit = (pps * size * 8) / 1e6;
  const extra = result.batches ? `, ${(result.packets / result.batches).toFixed(1)} packets per JS call, ${((result.cpuSeconds ?? 0) / result.seconds * 100).toFixed(0)}% of one core (JS thread + reader + writer threads)` : '';
  return `  ${label.padEnd(34)} ${Math.round(pps).toString().padStart(9)} packets/s  (${mbit.toFixed(0)} Mbit/s of ${size}-byte packets${extra})`;
}

async function main(): Promise<void> {
  const unavailable = labUnavailable();
  if (unavailable) {
    console.error(`bench/mesh-tun: ${unavailable}`);
    process.exitCode = 3;
    return;
  }
  const argv = process.argv.slice(2);
  const option = (flag: string, fallback: number) => { const i = argv.indexOf(flag); return i >= 0 ? Number(argv[i + 1]) : fallback; };
  const seconds = option('--seconds', 5);
  const window = option('--window', 256);
  const lab = new Lab();
  try {
    const dir = lab.tmpdir();
    writeFileSync(join(dir, 'tun-loop.c'), REFERENCE_C);
    const binary = join(dir, 'tun-loop');
    execFileSync('cc', ['-O2', '-o', binary, join(dir, 'tun-loop.c')]);
    console.log(`TUN loop (write -> kernel forwards back out -> read), ${window} packets in flight, ${seconds} s per figure`);
    for (const size of [1420, 100]) {
      const reference = await runReference(lab, binary, size, window, seconds);
      const ours = await runNetmend(lab, size, window, seconds);
      console.log(`${size}-byte packets:`);
      console.log(formatRate('C, one read()+write() per packet', size, reference));
      console.log(formatRate('netmend TUN layer (batched)', size, ours));
      console.log(`  ratio netmend / C: ${(ours.packets / ours.seconds / (reference.packets / reference.seconds)).toFixed(2)}x`);
    }
  } finally {
    await lab.destroy();
  }
}

if (process.env.BENCH_TUN_CHILD === '1') await child();
else await main();
