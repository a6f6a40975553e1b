/**
 * A node that advertises subnets or offers itself as an exit node must forward packets. Evidence
 * comes from the mesh's own state where it can be read (Tailscale's AdvertiseRoutes); otherwise
 * from the kernel itself: forwarding switched on globally but off on the tunnel or a LAN, or
 * on for IPv4 and off for IPv6 while the mesh carries IPv6.
 */
import { routingView } from '../../analysis.js';
import { TAILSCALE_GATHERER, type TailscaleFacts } from '../../gather/tailscale.js';
import { finding, listSome, pass, skip, skipWithoutMesh } from '../../result.js';
import type { Check } from '../../types.js';

function sysctlLine(name: string, value: number | undefined): string {
  return `${name} = ${value ?? '(unknown)'}`;
}

const check: Check = {
  id: 'routes.forwarding-disabled',
  topic: 'routes',
  title: 'forwarding off on a node that routes for others',
  needs: [TAILSCALE_GATHERER],
  run(state, options) {
    const view = routingView(state, options);
    if (view.meshIfaces.size === 0) return skipWithoutMesh(check);
    const { sysctls } = state.snapshot;
    const ipv4 = sysctls.ipForward;
    const ipv6 = sysctls.ipv6Forwarding;
    const fix = (families: Array<4 | 6>) => ({
      command: `sysctl -w ${families.map((f) => (f === 4 ? 'net.ipv4.ip_forward=1' : 'net.ipv6.conf.all.forwarding=1')).join(' ')}`,
      explanation: 'turns forwarding on now; to keep it after a reboot put the same settings in /etc/sysctl.d/99-netmend-forwarding.conf',
    });

    const tailscale = state.facts[TAILSCALE_GATHERER] as TailscaleFacts | undefined;
    const advertised = tailscale?.prefs.AdvertiseRoutes ?? [];
    if (tailscale && advertised.length) {
      const wants4 = advertised.some((prefix) => !prefix.includes(':'));
      const wants6 = advertised.some((prefix) => prefix.includes(':'));
      const exitNode = advertised.includes('0.0.0.0/0') || advertised.includes('::/0');
      const missing: Array<4 | 6> = [];
      if (wants4 && ipv4 !== 1) missing.push(4);
      if (wants6 && ipv6 !== 1) missing.push(6);
      const role = exitNode ? 'offers itself as an exit node' : `advertises ${listSome(advertised)}`;
      if (missing.length) {
        return finding(check, 'fail', `this node ${role} but ${missing.map((f) => `IPv${f}`).join(' and ')} forwarding is off: peers' traffic is dropped here`, [
          `${tailscale.source}: AdvertiseRoutes ${JSON.stringify(advertised)}`,
          sysctlLine('net.ipv4.ip_forward', ipv4),
          sysctlLine('net.ipv6.conf.all.forwarding', ipv6),
        ], fix(missing));
      }
      return pass(check, `this node ${role} and forwarding is on`);
    }

    // No mesh state says what this node does: look for contradictions in the kernel's settings.
    if (ipv4 === 1) {
      const off = [...view.meshIfaces, ...new Set(view.lans.filter((lan) => lan.family === 4).map((lan) => lan.dev))]
        .filter((dev) => sysctls.interfaces[dev]?.forwarding4 === 0);
      if (off.length) {
        return finding(check, 'fail', `IPv4 forwarding is on, but off on ${listSome(off)}: packets arriving there are not forwarded`, [
          sysctlLine('net.ipv4.ip_forward', ipv4),
          ...off.map((dev) => sysctlLine(`net.ipv4.conf.${dev}.forwarding`, 0)),
        ], {
          command: `sysctl -w ${off.map((dev) => `net.ipv4.conf.${dev}.forwarding=1`).join(' ')}`,
          explanation: 'per-interface IPv4 forwarding decides for packets arriving on that interface; persist it in /etc/sysctl.d',
        });
      }
      const meshIpv6 = state.snapshot.addresses.some((address) => address.family === 6 && view.meshIfaces.has(address.dev) && address.scope === 'global')
        || view.meshRoutes.some((route) => route.family === 6 && !route.dst.toLowerCase().startsWith('fe80'));
      if (ipv6 !== 1 && meshIpv6) {
        return finding(check, 'warn', 'IPv4 forwarding is on but IPv6 forwarding is off while the mesh carries IPv6: routed IPv6 traffic is dropped', [
          sysctlLine('net.ipv4.ip_forward', ipv4),
          sysctlLine('net.ipv6.conf.all.forwarding', ipv6),
        ], fix([6]));
      }
      return pass(check, `forwarding is on${ipv6 === 1 ? ' (IPv4 and IPv6)' : ' (IPv4)'}, including on ${listSome([...view.meshIfaces])}`);
    }
    if (tailscale) return pass(check, 'this node advertises no routes and is no exit node: forwarding is not needed');
    const why = state.gatherErrors[TAILSCALE_GATHERER] ? ` (${state.gatherErrors[TAILSCALE_GATHERER]})` : '';
    return skip(check, `forwarding is off and nothing says this node routes for others${why}`);
  },
};

export default check;
