/**
 * Strict reverse-path filtering (rp_filter 1) drops a packet when the route back to its source
 * leaves through another interface. With a mesh table consulted before main, the route back
 * to an internet or LAN source can be the tunnel (an exit node's default, a subnet route), so
 * replies arriving on the uplink are dropped: the classic "tunnel up, nothing answers". Proven
 * by simulating the reverse lookup the kernel does (to the source, from our address, no mark).
 */
import { formatMark, formatRoute } from '../../../snapshot/format.js';
import type { Family } from '../../../snapshot/types.js';
import { ownAddressesOn, routingView } from '../../analysis.js';
import { decisionViaMesh } from '../../lan-paths.js';
import { sampleAddress } from '../../prefix.js';
import { finding, listSome, pass, skipWithoutMesh } from '../../result.js';
import { decide, decisionEvidence, describeDecision } from '../../simulate.js';
import type { Check } from '../../types.js';
import { connmarkOf } from '../../gather/connmark.js';
import { bypassMark } from '../../tailscale-rules.js';

/** A documentation address standing for "somewhere on the internet" (RFC 5737 / RFC 3849). */
const INTERNET_SAMPLE: Record<Family, string> = { 4: '198.51.100.1', 6: '2001:db8:ffff::1' };

interface Probe {
  dev: string;
  source: string;
  what: string;
}

const check: Check = {
  id: 'routes.rp-filter-strict',
  topic: 'routes',
  title: 'strict rp_filter drops replies that return asymmetrically',
  needs: ['connmark'],
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0) return skipWithoutMesh(check);
    const { interfaces } = state.snapshot.sysctls;
    const all = interfaces.all?.rpFilter ?? 0;
    // The kernel applies the larger of conf.all and conf.IFACE; 1 is strict, 2 loose.
    const effective = (dev: string) => Math.max(all, interfaces[dev]?.rpFilter ?? 0);

    const probes: Probe[] = [];
    for (const gateway of view.defaultGateways) {
      if (gateway.family !== 4 || effective(gateway.dev) !== 1) continue;
      probes.push({ dev: gateway.dev, source: INTERNET_SAMPLE[4], what: `an internet source via ${gateway.dev}` });
      probes.push({ dev: gateway.dev, source: gateway.gateway, what: `the gateway ${gateway.gateway}` });
    }
    for (const lan of view.lans) {
      if (lan.family !== 4 || effective(lan.dev) !== 1) continue;
      probes.push({ dev: lan.dev, source: sampleAddress(lan.prefix, view.ownAddresses), what: `a host on ${lan.dev}` });
    }
    const strictDevs = [...new Set(probes.map((probe) => probe.dev))];
    if (probes.length === 0) {
      return pass(check, all === 1 ? 'rp_filter is strict, but no uplink or LAN to check' : 'no uplink or LAN interface uses strict rp_filter');
    }

    // Replies on the uplink belong to the mesh daemon's own connections (everything else uses the
    // tunnel). With tailscaled's connmark rules those replies carry its bypass mark again, and with
    // src_valid_mark the kernel's reverse lookup uses it: through the bypass rule, back out the uplink.
    const connmark = connmarkOf(state);
    const restoresMark = typeof connmark !== 'string' && connmark.restore.length > 0 && connmark.save.length > 0;
    const validMark = (dev: string) => Math.max(interfaces.all?.srcValidMark ?? 0, interfaces[dev]?.srcValidMark ?? 0) === 1;
    const mark = bypassMark(view.rules[4], [...view.meshTables[4]][0]).mark;

    const evidence: string[] = [];
    const dropping = new Set<string>();
    const savedByMark = new Set<string>();
    const needValidMark = new Set<string>();
    for (const probe of probes) {
      const local = ownAddressesOn(state, probe.dev, 4)[0];
      const query = local ? { destination: probe.source, from: local } : { destination: probe.source };
      const decision = decide(state.snapshot, query);
      if (decision.result.dev === probe.dev || decision.result.type === 'local' || !decisionViaMesh(view, decision)) continue;
      const marked = restoresMark ? decide(state.snapshot, { ...query, mark }) : undefined;
      if (marked && marked.result.dev === probe.dev) {
        if (validMark(probe.dev)) {
          savedByMark.add(probe.dev);
          continue;
        }
        needValidMark.add(probe.dev);
      }
      dropping.add(probe.dev);
      evidence.push(`a reply from ${probe.source} (${probe.what}) arriving on ${probe.dev}: the route back goes ${describeDecision(decision)}`, ...decisionEvidence(decision));
      if (marked && needValidMark.has(probe.dev)) evidence.push(`  with the restored mark ${formatMark(mark)} it would go ${describeDecision(marked)}, but net.ipv4.conf.all.src_valid_mark is ${interfaces.all?.srcValidMark ?? '(unknown)'}, so the check ignores the mark`);
    }
    if (dropping.size === 0) {
      if (savedByMark.size > 0) {
        return pass(check, `strict rp_filter on ${listSome(strictDevs)}: replies to the mesh daemon's connections get its mark ${formatMark(mark)} back (connmark rules) and src_valid_mark=1 routes them back out of ${listSome([...savedByMark])}`);
      }
      return pass(check, `strict rp_filter on ${listSome(strictDevs)}, and the route back to its sources stays on it`);
    }
    const devs = [...dropping];
    for (const dev of devs) {
      evidence.push(`net.ipv4.conf.all.rp_filter = ${all}`, `net.ipv4.conf.${dev}.rp_filter = ${interfaces[dev]?.rpFilter ?? '(unknown)'}`);
      const route = view.defaultGateways.find((gateway) => gateway.dev === dev)?.route;
      if (route) evidence.push(`  expected: ${formatRoute(route)}`);
    }
    if (typeof connmark === 'string') evidence.push(`connmark rules: ${connmark}`);
    else if (restoresMark) evidence.push(...connmark.restore.map((line) => `${connmark.source}: ${line}`), ...connmark.save.map((line) => `${connmark.source}: ${line}`));
    else evidence.push(`${connmark.source}: no CONNMARK restore/save rules (tailscaled adds them with --netfilter-mode=on, v1.96+)`);
    if (needValidMark.size === devs.length) {
      return finding(check, 'fail', `strict rp_filter on ${listSome(devs)} drops replies to the mesh daemon's connections: the connmark rules restore its mark, but src_valid_mark is off`, [...new Set(evidence)], {
        command: 'sysctl -w net.ipv4.conf.all.src_valid_mark=1',
        explanation: 'lets the reverse-path check use the mark the connmark rules restore (tailscaled v1.98+ sets it itself); keeps strict rp_filter; persist it in /etc/sysctl.d',
      });
    }
    return finding(check, 'fail', `strict rp_filter on ${listSome(devs)} drops replies whose route back goes through the tunnel`, [...new Set(evidence)], {
      command: `sysctl -w net.ipv4.conf.all.rp_filter=2 ${devs.map((dev) => `net.ipv4.conf.${dev}.rp_filter=2`).join(' ')}`,
      explanation: 'loose mode (2) still drops spoofed sources with no route at all, but accepts replies that return on another interface; persist it in /etc/sysctl.d (with Tailscale v1.96+ in netfilter mode on, its connmark rules plus net.ipv4.conf.all.src_valid_mark=1 keep strict mode working)',
    });
  },
};

export default check;
