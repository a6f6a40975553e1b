/**
 * `netmend path explain` on a router namespace whose firewall holds a 100,000-element set and
 * 2,000 rules, against `nft -j list ruleset` alone in the same run (netmend runs that listing
 * itself, so it is the floor), text and --json, in interleaved rounds: median wall time, the median
 * of the per-round ratios, and peak RSS. Targets (issue 11): at most 1.5x nft's time, at most
 * 150 MB (GNU time's peak covers the nft netmend runs too: where nft alone needs more, netmend's
 * figure can be no lower). Run as root: node dist/bench/path-explain.js
 */
import { fileURLToPath } from 'node:url';
import { Lab } from '../test/lab/harness.js';
import { formatMeasurement, formatRatio, measureInterleaved, pairedRatio } from './lib/measure.js';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const elements = Number(process.env.NETMEND_BENCH_ELEMENTS ?? 100_000);
const ruleCount = Number(process.env.NETMEND_BENCH_RULES ?? 2_000);
const runs = Number(process.env.NETMEND_BENCH_RUNS ?? 7);

function ruleset(): string {
  const lines = ['table inet bench {', '  set block {', '    type ipv4_addr; flags interval;', '    elements = {'];
  const list: string[] = [];
  for (let i = 0; i < elements; i++) list.push(`${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
  lines.push(`      ${list.join(',\n      ')}`, '    }', '  }');
  lines.push('  chain forward {', '    type filter hook forward priority filter; policy drop;', '    ct state established,related accept');
  const perChain = Math.ceil(ruleCount / 4);
  for (let c = 0; c < 4; c++) lines.push(`    iifname "lan0" jump zone${c}`);
  lines.push('    ip daddr @block counter drop', '    oifname "wan0" accept', '  }');
  for (let c = 0; c < 4; c++) {
    lines.push(`  chain zone${c} {`);
    for (let r = 0; r < perChain; r++) lines.push(`    ip saddr 172.${16 + c}.${r >> 8}.${r & 255} tcp dport ${1024 + r} counter accept`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the path explain bench needs root (it builds network namespaces)');
  const lab = new Lab();
  try {
    const router = await lab.netns('pbr');
    const peer = await lab.netns('pbp');
    await lab.veth(router, 'lan0', peer, 'c0');
    await lab.veth(router, 'wan0', peer, 'w0');
    await lab.batch(router, ['addr add 10.1.0.1/24 dev lan0', 'addr add 10.2.0.1/24 dev wan0', 'route add default via 10.2.0.2']);
    await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const started = Date.now();
    const loaded = await lab.exec(router, 'nft', ['-f', '-'], { input: ruleset(), timeoutMs: 600_000 });
    if (loaded.code !== 0) throw new Error(`nft -f failed: ${loaded.stderr}`);
    console.log(`loaded a ${elements}-element set and ${ruleCount} rules in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const inNs = (...args: string[]) => ['netns', 'exec', router, ...args];
    const probe = ['path', 'explain', '21.134.159.7', '--iif', 'lan0', '--from', '10.1.0.9', '--proto', 'tcp', '--dport', '443'];
    const check = await lab.netmend(router, probe);
    console.log(`answer: ${check.stdout.trim().split('\n').find((line) => line.startsWith('result:'))}`);
    // Interleaved rounds (nft, text, JSON, nft, ...): on a shared, noisy machine a slow spell hits
    // all three alike, and each round gives its own ratios, whose median is the figure to trust.
    const commands = [
      { label: 'nft -j list ruleset', args: inNs('nft', '-j', 'list', 'ruleset') },
      { label: 'netmend path explain', args: inNs(process.execPath, bin, ...probe) },
      { label: 'netmend path explain --json', args: inNs(process.execPath, bin, ...probe, '--json') },
    ];
    const [reference, explain, explainJson] = await measureInterleaved(commands.map((command) => ({ label: command.label, file: 'ip', args: command.args })), { runs });
    for (const measurement of [reference, explain, explainJson]) console.log(formatMeasurement(measurement));
    for (const ours of [explain, explainJson]) console.log(formatRatio(ours, reference, true));
    const worst = Math.max(pairedRatio(explain, reference), pairedRatio(explainJson, reference));
    const rssLimit = Math.max(150, reference.peakRssMb);
    const ok = worst <= 1.5 && explain.peakRssMb <= rssLimit && explainJson.peakRssMb <= rssLimit;
    console.log(`${ok ? 'target met' : 'target NOT met'} (at most 1.5x nft's time; peak RSS at most 150 MB, or nft's own ${reference.peakRssMb.toFixed(1)} MB where that is more)`);
  } finally {
    await lab.destroy();
  }
}

await main();
