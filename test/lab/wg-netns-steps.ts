/**
 * The steps of wireguard-go's interop test (tests/netns.sh in WireGuard/wireguard-go), written
 * anew for this lab and run against any program with wireguard-go's command line
 * (`PROGRAM IFACE`: daemonize, then configured over UAPI with `wg`). Each step is recorded as
 * passed or failed and the run goes on, so two programs can be compared step by step:
 *   A. created in ns0, moved to ns1/ns2, endpoints on ns0's loopback; ping and TCP/UDP over IPv4
 *      and IPv6 inside, IPv4 and IPv6 outside, MTU 1420 and ~34 KB; byte counters; roaming;
 *      cryptokey routing ("crypto-RP"); deletion;
 *   B. NAT between ns1 and ns2 with a persistent keepalive holding the conntrack entry;
 *   C. sticky source addresses, "but not too sticky", and replies from the address a peer used;
 *   D. UAPI replies split over many reads (130,560 prefixes; 40 peers x 52 prefixes; 30 peers);
 *      immediate re-create of a deleted name; nothing left behind.
 * Bulk transfers are 10 MB instead of netns.sh's 1 GB, to keep the suite's run time moderate.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, must as mustRun, run, uniqueName } from './harness.js';
import { waitFor } from './mesh-interop-lab.js';

export interface StepResult {
  name: string;
  ok: boolean;
  error?: string;
}

const BULK = '10M';

export async function runNetnsSteps(lab: Lab, program: string[], label: string): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const step = async (name: string, body: () => Promise<unknown>) => {
    try {
      await body();
      results.push({ name, ok: true });
    } catch (error) {
      results.push({ name, ok: false, error: (error as Error).message.split('\n').slice(0, 3).join(' | ') });
    }
  };
  const dir = lab.tmpdir();
  const ns0 = await lab.netns('w0');
  const ns1 = await lab.netns('w1');
  const ns2 = await lab.netns('w2');
  const names = { wg1: uniqueName(`${label}1`), wg2: uniqueName(`${label}2`), wg0: uniqueName(`${label}0`) };
  // The programs daemonize: whatever runs in our namespaces at the end is ours to stop.
  lab.onCleanup(async () => {
    for (const iface of Object.values(names)) for (const ns of [ns0, ns1, ns2]) await run('ip', ['-n', ns, 'link', 'del', iface]);
    await stopEverythingIn(lab, [ns0, ns1, ns2]);
  });

  const must = async (ns: string, file: string, args: string[], timeoutMs = 30_000) => {
    const result = await lab.exec(ns, file, args, { timeoutMs, env: { ...process.env, LOG_LEVEL: 'info', WG_HIDE_KEYS: 'never' } });
    if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} in ${ns} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(0, 400)}`);
    return result.stdout;
  };
  // The daemon keeps the program's stdout/stderr when LOG_LEVEL is set (as netns.sh sets it), so
  // they go to a file: a pipe would stay open for the daemon's lifetime.
  const start = async (ns: string, iface: string) => {
    const logFile = join(dir, `${iface}.log`);
    const output = openSync(logFile, 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', ns, ...program, iface], { stdio: ['ignore', output, output], env: { ...process.env, LOG_LEVEL: 'info' } });
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 30_000);
        child.once('exit', (exitCode) => { clearTimeout(timer); resolve(exitCode); });
      });
      if (code !== 0) throw new Error(`${program.join(' ')} ${iface} exited ${code}: ${readFileSync(logFile, 'utf8').trim().slice(0, 400)}`);
      // wireguard-go's parent returns before its daemon has looked its link up by name; a link
      // moved to another namespace before that makes the daemon fail ("Failed to create TUN
      // device: no such device"), as netns.sh itself can on a loaded machine. The daemon serves
      // UAPI only once it is past that, so both programs get the same wait: one `wg show`.
      await lab.exec(ns, 'wg', ['show', iface], { timeoutMs: 15_000 });
    } finally {
      closeSync(output);
    }
  };
  const wg = (ns: string, ...args: string[]) => must(ns, 'wg', args);
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, `${content}\n`, { mode: 0o600 });
    return path;
  };
  const key1 = (await wg(ns0, 'genkey')).trim();
  const key2 = (await wg(ns0, 'genkey')).trim();
  const pub1 = (await lab.exec(ns0, 'wg', ['pubkey'], { input: `${key1}\n` })).stdout.trim();
  const pub2 = (await lab.exec(ns0, 'wg', ['pubkey'], { input: `${key2}\n` })).stdout.trim();
  const psk = (await wg(ns0, 'genpsk')).trim();
  const { wg1, wg2, wg0 } = names;

  const configurePeers = async () => {
    await lab.ip(ns1, 'addr', 'add', '192.168.241.1/24', 'dev', wg1);
    await lab.ip(ns1, 'addr', 'add', 'fd00::1/24', 'dev', wg1);
    await lab.ip(ns2, 'addr', 'add', '192.168.241.2/24', 'dev', wg2);
    await lab.ip(ns2, 'addr', 'add', 'fd00::2/24', 'dev', wg2);
    await wg(ns0, 'set', wg1, 'private-key', file('key1', key1), 'listen-port', '10000',
      'peer', pub2, 'preshared-key', file('psk', psk), 'allowed-ips', '192.168.241.2/32,fd00::2/128');
    await wg(ns0, 'set', wg2, 'private-key', file('key2', key2), 'listen-port', '20000',
      'peer', pub1, 'preshared-key', file('psk', psk), 'allowed-ips', '192.168.241.1/32,fd00::1/128');
    await wg(ns0, 'showconf', wg1);
    await wg(ns0, 'showconf', wg2);
    await lab.ip(ns1, 'link', 'set', 'up', 'dev', wg1);
    await lab.ip(ns2, 'link', 'set', 'up', 'dev', wg2);
  };
  // netns.sh waits 1 s for a single ping; 3 s here, so a loaded machine does not fail a step
  // (a too sticky source stays broken far longer: until the 5 s handshake retry).
  const ping = (ns: string, address: string, flood = true) => must(ns, 'ping', flood ? ['-c', '10', '-f', '-W', '1', address] : ['-c', '1', '-W', '3', address], 30_000);
  /** netns.sh's waitiface: until the kernel reports the link operationally up. */
  const waitUp = (ns: string, iface: string) => waitFor(async () => JSON.parse(await lab.ip(ns, '-j', 'link', 'show', 'dev', iface))[0]?.operstate === 'UP', 10_000, `${iface} up`);
  const iperf = async (serverNs: string, clientNs: string, address: string, udp: boolean) => {
    const server = lab.spawn(serverNs, 'iperf3', ['-s', '-1', '-B', address]);
    try {
      await waitFor(async () => (await lab.exec(serverNs, 'ss', ['-H', '-tln', 'sport = :5201'])).stdout.includes('5201'), 15_000, 'iperf3 server');
      await must(clientNs, 'iperf3', ['-Z', '-n', BULK, ...(udp ? ['-b', '0', '-u'] : []), '-c', address], 60_000);
    } finally {
      if (server.exitCode === null) server.kill('SIGTERM');
    }
  };
  const endpointsOf = async (ns: string, iface: string) => (await wg(ns, 'show', iface, 'endpoints')).trim();
  const expectEndpoint = async (ns: string, iface: string, expected: string) => {
    const actual = await endpointsOf(ns, iface);
    if (actual !== expected) throw new Error(`wg show ${iface} endpoints: '${actual}', expected '${expected}'`);
  };
  const tests = async (what: string) => {
    await step(`${what}: ping IPv4 ns2 -> ns1`, () => ping(ns2, '192.168.241.1'));
    await step(`${what}: ping IPv4 ns1 -> ns2`, () => ping(ns1, '192.168.241.2'));
    await step(`${what}: ping IPv6 ns2 -> ns1`, () => ping(ns2, 'fd00::1'));
    await step(`${what}: ping IPv6 ns1 -> ns2`, () => ping(ns1, 'fd00::2'));
    await step(`${what}: TCP over IPv4 ns1 -> ns2`, () => iperf(ns2, ns1, '192.168.241.2', false));
    await step(`${what}: TCP over IPv6 ns2 -> ns1`, () => iperf(ns1, ns2, 'fd00::1', false));
    await step(`${what}: UDP over IPv4 ns2 -> ns1`, () => iperf(ns1, ns2, '192.168.241.1', true));
    await step(`${what}: UDP over IPv6 ns1 -> ns2`, () => iperf(ns2, ns1, 'fd00::2', true));
  };
  const setMtu = async (mtu: number) => {
    await lab.ip(ns1, 'link', 'set', wg1, 'mtu', String(mtu));
    await lab.ip(ns2, 'link', 'set', wg2, 'mtu', String(mtu));
  };
  const deleteBoth = async () => {
    await lab.ip(ns1, 'link', 'del', wg1);
    await lab.ip(ns2, 'link', 'del', wg2);
    await waitForSocketsGone([wg1, wg2]);
  };

  // ---- A: created in ns0, used from ns1 and ns2 ----
  await step('create wg1 in ns0 and move it to ns1', async () => {
    await start(ns0, wg1);
    await lab.ip(ns0, 'link', 'set', wg1, 'netns', ns1);
  });
  await step('create wg2 in ns0 and move it to ns2', async () => {
    await start(ns0, wg2);
    await lab.ip(ns0, 'link', 'set', wg2, 'netns', ns2);
  });
  await step('configure both over UAPI from ns0 (keys, psk, ports, allowed ips), links up', configurePeers);
  const origMtu = 1420;
  const bigMtu = 34816 - 1500 + origMtu;

  await step('IPv4 outer: endpoints 127.0.0.1', async () => {
    await wg(ns0, 'set', wg1, 'peer', pub2, 'endpoint', '127.0.0.1:20000');
    await wg(ns0, 'set', wg2, 'peer', pub1, 'endpoint', '127.0.0.1:10000');
  });
  await step('byte counters after 10 pings are in range', async () => {
    await ping(ns2, '192.168.241.1');
    const [link] = JSON.parse(await lab.ip(ns2, '-j', '-s', 'link', 'show', 'dev', wg2));
    const rx = link.stats64.rx.bytes;
    const tx = link.stats64.tx.bytes;
    if (!(rx >= 840 && tx >= 880 && rx < 2500)) throw new Error(`rx ${rx} tx ${tx}`);
    await wg(ns0, 'show');
  });
  await tests('IPv4 outer, MTU 1420');
  await step(`IPv4 outer: MTU ${bigMtu}`, () => setMtu(bigMtu));
  await tests(`IPv4 outer, MTU ${bigMtu}`);
  await step('IPv6 outer: MTU back, endpoints [::1]', async () => {
    await setMtu(origMtu);
    await wg(ns0, 'set', wg1, 'peer', pub2, 'endpoint', '[::1]:20000');
    await wg(ns0, 'set', wg2, 'peer', pub1, 'endpoint', '[::1]:10000');
  });
  await tests('IPv6 outer, MTU 1420');
  await step(`IPv6 outer: MTU ${bigMtu}`, () => setMtu(bigMtu));
  await tests(`IPv6 outer, MTU ${bigMtu}`);

  await step('roaming over IPv4: new loopback address and port are learnt', async () => {
    await setMtu(origMtu);
    await lab.ip(ns0, '-4', 'addr', 'del', '127.0.0.1/8', 'dev', 'lo');
    await lab.ip(ns0, '-4', 'addr', 'add', '127.212.121.99/8', 'dev', 'lo');
    await wg(ns0, 'set', wg1, 'listen-port', '9999');
    await wg(ns0, 'set', wg1, 'peer', pub2, 'endpoint', '127.0.0.1:20000');
    await ping(ns1, 'fd00::2', false);
    await expectEndpoint(ns2, wg2, `${pub1}\t127.212.121.99:9999`);
  });
  await step('roaming over IPv6: new port is learnt', async () => {
    await wg(ns1, 'set', wg1, 'listen-port', '9998');
    await wg(ns1, 'set', wg1, 'peer', pub2, 'endpoint', '[::1]:20000');
    await ping(ns1, '192.168.241.2', false);
    await expectEndpoint(ns2, wg2, `${pub1}\t[::1]:9998`);
  });
  await step('crypto-RP: a peer with 192.168.241.0/24 delivers its packet', async () => {
    await wg(ns1, 'set', wg1, 'peer', pub2, 'allowed-ips', '192.168.241.0/24');
    if (!(await udpDelivered(lab, ns1, ns2, 2000))) throw new Error('the datagram did not arrive');
  });
  const moreSpecific = (await lab.exec(ns0, 'wg', ['pubkey'], { input: `${(await wg(ns0, 'genkey')).trim()}\n` })).stdout.trim();
  await step('crypto-RP: once another peer owns 192.168.241.2/32, the packet is dropped', async () => {
    await wg(ns0, 'set', wg1, 'peer', moreSpecific, 'allowed-ips', '192.168.241.2/32');
    await wg(ns0, 'set', wg2, 'listen-port', '9997');
    if (await udpDelivered(lab, ns1, ns2, 1000)) throw new Error('the datagram arrived from a source the peer does not own');
  });
  await step('remove that peer; the roamed endpoint [::1]:9997 is kept', async () => {
    await wg(ns0, 'set', wg1, 'peer', moreSpecific, 'remove');
    await expectEndpoint(ns1, wg1, `${pub2}\t[::1]:9997`);
  });
  await step('ip link del in ns1/ns2: the programs release names and sockets', deleteBoth);

  // ---- B: NAT ----
  await step('NAT: create wg1 in ns1, wg2 in ns2, configure', async () => {
    await start(ns1, wg1);
    await start(ns2, wg2);
    await configurePeers();
  });
  const vethrc = uniqueName('nmrc');
  const vethrs = uniqueName('nmrs');
  await step('NAT: router ns0 with SNAT 192.168.1.0/24 -> 10.0.0.1', async () => {
    const vethc = uniqueName('nmc');
    const veths = uniqueName('nms');
    await lab.veth(ns0, vethrc, ns1, vethc);
    await lab.veth(ns0, vethrs, ns2, veths);
    await lab.ip(ns0, 'addr', 'add', '192.168.1.1/24', 'dev', vethrc);
    await lab.ip(ns0, 'addr', 'add', '10.0.0.1/24', 'dev', vethrs);
    await lab.ip(ns1, 'addr', 'add', '192.168.1.100/24', 'dev', vethc);
    await lab.ip(ns1, 'route', 'add', 'default', 'via', '192.168.1.1');
    await lab.ip(ns2, 'addr', 'add', '10.0.0.100/24', 'dev', veths);
    for (const [ns, link] of [[ns0, vethrc], [ns0, vethrs], [ns1, vethc], [ns2, veths]]) await waitUp(ns, link);
    await must(ns0, 'sh', ['-c', 'printf 1 > /proc/sys/net/ipv4/ip_forward']);
    await must(ns0, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '192.168.1.0/24', '-d', '10.0.0.0/24', '-j', 'SNAT', '--to', '10.0.0.1']);
    // conntrack timeouts are per namespace (netns.sh sets them to 2 s so the keepalive matters).
    await must(ns0, 'sh', ['-c', 'printf 2 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout; printf 2 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream']);
    await wg(ns0, 'set', wg1, 'peer', pub2, 'endpoint', '10.0.0.100:20000', 'persistent-keepalive', '1');
  });
  await step('NAT: ping both ways; wg2 sees wg1 at the NAT address', async () => {
    await ping(ns1, '192.168.241.2', false);
    await ping(ns2, '192.168.241.1', false);
    await expectEndpoint(ns2, wg2, `${pub1}\t10.0.0.1:10000`);
  });
  await step('NAT: 3 s later the keepalive kept the mapping: ns2 still reaches ns1', async () => {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await ping(ns2, '192.168.241.1', false);
  });
  await step('NAT: teardown, ip link del', async () => {
    await must(ns0, 'iptables', ['-t', 'nat', '-F']);
    await lab.ip(ns0, 'link', 'del', vethrc);
    await lab.ip(ns0, 'link', 'del', vethrs);
    await deleteBoth();
  });

  // ---- C: sticky source, not too sticky ----
  const veth1 = uniqueName('nmv1');
  const veth2 = uniqueName('nmv2');
  await step('sticky: create wg1 in ns1, wg2 in ns2, veth between, configure', async () => {
    await start(ns1, wg1);
    await start(ns2, wg2);
    await configurePeers();
    await mustRun('ip', ['link', 'add', veth1, 'netns', ns1, 'type', 'veth', 'peer', 'name', veth2, 'netns', ns2]);
    await must(ns1, 'sh', ['-c', `printf 0 > /proc/sys/net/ipv6/conf/${veth1}/accept_dad; printf 1 > /proc/sys/net/ipv4/conf/${veth1}/promote_secondaries`]);
    await must(ns2, 'sh', ['-c', `printf 0 > /proc/sys/net/ipv6/conf/${veth2}/accept_dad`]);
    await lab.ip(ns1, 'addr', 'add', '10.0.0.1/24', 'dev', veth1);
    await lab.ip(ns1, 'addr', 'add', 'fd00:aa::1/96', 'dev', veth1);
    await lab.ip(ns2, 'addr', 'add', '10.0.0.2/24', 'dev', veth2);
    await lab.ip(ns2, 'addr', 'add', 'fd00:aa::2/96', 'dev', veth2);
    await lab.ip(ns1, 'link', 'set', veth1, 'up');
    await lab.ip(ns2, 'link', 'set', veth2, 'up');
    await waitUp(ns1, veth1);
    await waitUp(ns2, veth2);
  });
  await step('sticky: IPv4 endpoint, ping', async () => {
    await wg(ns0, 'set', wg1, 'peer', pub2, 'endpoint', '10.0.0.2:20000');
    await ping(ns1, '192.168.241.2', false);
  });
  await step('not too sticky: IPv4 source removed (10.0.0.1 -> 10.0.0.10), ping still works', async () => {
    await lab.ip(ns1, 'addr', 'add', '10.0.0.10/24', 'dev', veth1);
    await lab.ip(ns1, 'addr', 'del', '10.0.0.1/24', 'dev', veth1);
    await ping(ns1, '192.168.241.2', false);
  });
  await step('sticky: IPv6 endpoint, ping', async () => {
    await wg(ns0, 'set', wg1, 'peer', pub2, 'endpoint', '[fd00:aa::2]:20000');
    await ping(ns1, '192.168.241.2', false);
  });
  await step('not too sticky: IPv6 source removed (fd00:aa::1 -> ::10), ping still works', async () => {
    await lab.ip(ns1, 'addr', 'add', 'fd00:aa::10/96', 'dev', veth1);
    await lab.ip(ns1, 'addr', 'del', 'fd00:aa::1/96', 'dev', veth1);
    await ping(ns1, '192.168.241.2', false);
  });
  await step('reply to sender: readdress ns1 (two IPv4, two IPv6) and ns2', async () => {
    await lab.ip(ns1, 'link', 'set', veth1, 'down');
    await lab.ip(ns2, 'link', 'set', veth2, 'down');
    await lab.ip(ns1, 'addr', 'flush', 'dev', veth1);
    await lab.ip(ns2, 'addr', 'flush', 'dev', veth2);
    for (const address of ['10.0.0.1/24', '10.0.0.2/24', 'fd00:aa::1/96', 'fd00:aa::2/96']) await lab.ip(ns1, 'addr', 'add', address, 'dev', veth1);
    await lab.ip(ns2, 'addr', 'add', '10.0.0.3/24', 'dev', veth2);
    await lab.ip(ns2, 'addr', 'add', 'fd00:aa::3/96', 'dev', veth2);
    await lab.ip(ns1, 'link', 'set', veth1, 'up');
    await lab.ip(ns2, 'link', 'set', veth2, 'up');
    await waitUp(ns1, veth1);
    await waitUp(ns2, veth2);
  });
  for (const endpoint of ['10.0.0.1:10000', '[fd00:aa::1]:10000', '10.0.0.2:10000', '[fd00:aa::2]:10000']) {
    await step(`reply to sender: ns2 -> ${endpoint}, answered from that address`, async () => {
      await wg(ns0, 'set', wg2, 'peer', pub1, 'endpoint', endpoint);
      await ping(ns2, '192.168.241.1', false);
      await expectEndpoint(ns0, wg2, `${pub1}\t${endpoint}`);
    });
  }
  await step('sticky: teardown, ip link del', async () => {
    await lab.ip(ns1, 'link', 'del', veth1);
    await deleteBoth();
  });

  // ---- D: UAPI replies split over many reads; re-create at once ----
  await step('UAPI: setconf with 130,560 allowed IPs; all listed back', async () => {
    await start(ns0, wg0);
    const config = ['[Interface]', `PrivateKey=${key1}`, '[Peer]', `PublicKey=${pub2}`];
    for (let a = 1; a <= 255; a++) for (let b = 0; b <= 255; b++) config.push(`AllowedIPs=${a}.${b}.0.0/16,${a.toString(16)}::${b.toString(16)}/128`);
    await wg(ns0, 'setconf', wg0, file('big.conf', config.join('\n')));
    const listed = (await wg(ns0, 'show', wg0, 'allowed-ips')).trim().split(/\s+/).length;
    if (listed !== 255 * 256 * 2 + 1) throw new Error(`${listed} words listed`);
  });
  await step('re-create the same name right after ip link del: 40 peers x 52 allowed IPs listed', async () => {
    await lab.ip(ns0, 'link', 'del', wg0);
    await start(ns0, wg0);
    const config = ['[Interface]', `PrivateKey=${key1}`];
    for (let a = 1; a <= 40; a++) {
      const peer = (await lab.exec(ns0, 'wg', ['pubkey'], { input: `${(await wg(ns0, 'genkey')).trim()}\n` })).stdout.trim();
      config.push('[Peer]', `PublicKey=${peer}`);
      for (let b = 1; b <= 52; b++) config.push(`AllowedIPs=${a}.${b}.0.0/16`);
    }
    await wg(ns0, 'setconf', wg0, file('peers.conf', config.join('\n')));
    const lines = (await wg(ns0, 'show', wg0, 'allowed-ips')).trim().split('\n');
    if (lines.length !== 40 || lines.some((line) => line.trim().split(/\s+/).length !== 53)) throw new Error(`${lines.length} peers listed`);
  });
  await step('re-create again: 30 peers, one with allowed IPs; showconf', async () => {
    await lab.ip(ns0, 'link', 'del', wg0);
    await start(ns0, wg0);
    const config: string[] = [];
    for (let i = 1; i <= 29; i++) config.push('[Peer]', `PublicKey=${(await wg(ns0, 'genkey')).trim()}`);
    config.push('[Peer]', `PublicKey=${(await wg(ns0, 'genkey')).trim()}`, 'AllowedIPs=255.2.3.4/32,abcd::255/128');
    await wg(ns0, 'setconf', wg0, file('thirty.conf', config.join('\n')));
    await wg(ns0, 'showconf', wg0);
    await lab.ip(ns0, 'link', 'del', wg0);
  });
  await step('wg show of an interface that does not exist fails', async () => {
    const result = await lab.exec(ns0, 'wg', ['show', uniqueName('nmnone')]);
    if (result.code === 0) throw new Error('wg show succeeded');
  });
  await step('every interface created is gone, and so is every program and socket', async () => {
    await waitForSocketsGone(Object.values(names));
    await waitFor(async () => (await programsIn([ns0, ns1, ns2])).length === 0, 10_000, 'no program left in the namespaces');
  });
  return results;
}

async function waitForSocketsGone(ifaces: string[]): Promise<void> {
  await waitFor(() => ifaces.every((iface) => !existsSync(`/var/run/wireguard/${iface}.sock`)), 10_000, `sockets of ${ifaces.join(', ')} to go`);
}

async function programsIn(namespaces: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const ns of namespaces) {
    const result = await run('ip', ['netns', 'pids', ns]);
    for (const word of result.stdout.split(/\s+/)) if (/^\d+$/.test(word)) pids.push(Number(word));
  }
  return pids;
}

/** Stops what still runs inside namespaces this test created (the daemonized programs). */
async function stopEverythingIn(_lab: Lab, namespaces: string[]): Promise<void> {
  for (const pid of await programsIn(namespaces)) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
  }
}

/** A UDP datagram "X" from ns2 to 192.168.241.1:1111 in ns1: did it arrive within waitMs? */
async function udpDelivered(lab: Lab, ns1: string, ns2: string, waitMs: number): Promise<boolean> {
  const listener = lab.spawn(ns1, process.execPath, ['-e', `
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m) => { process.stdout.write(String(m)); process.exit(0); });
    s.bind(1111, () => process.stderr.write('ready\\n'));
    setTimeout(() => process.exit(1), ${waitMs + 20_000});`]);
  let output = '';
  let ready = false;
  listener.stdout?.on('data', (chunk) => { output += String(chunk); });
  listener.stderr?.on('data', (chunk) => { if (String(chunk).includes('ready')) ready = true; });
  try {
    await waitFor(() => ready, 15_000, 'UDP listener');
    await lab.exec(ns2, process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.send('X\\n', 1111, '192.168.241.1', () => s.close());`]);
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && !output.includes('X')) await new Promise((resolve) => setTimeout(resolve, 50));
    return output.includes('X');
  } finally {
    if (listener.exitCode === null) listener.kill('SIGTERM');
  }
}
