/**
 * The commands `fix undo` may run (src/fix/undo-commands.ts): every form the fix planners emit
 * is accepted, and what would run anything else (a shell, a program named by an option, a file
 * of rules netmend did not save) is refused with the reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandToRun, undoCommandProblem } from '../../src/fix/undo-commands.js';

test('what the fix planners plan as undo steps and reloads is accepted', () => {
  const planned: string[][] = [
    ['ip', 'link', 'set', 'dev', 'tailscale0', 'addrgenmode', 'eui64'],
    ['ip', '-6', 'route', 'add', 'fe80::/64', 'dev', 'tailscale0', 'table', 'main', 'proto', 'kernel', 'metric', '256', 'pref', 'medium'],
    ['ip', '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'tailscale0', 'scope', 'link'],
    ['ip', '-4', 'rule', 'del', 'pref', '5205', 'to', '192.168.1.0/24', 'lookup', 'main'],
    ['networkctl', 'reload'],
    ['/etc/init.d/network', 'reload'],
    ['/etc/init.d/dnsmasq', 'restart'],
    ['systemctl', 'restart', 'dnsmasq.service'],
    ['systemctl', 'try-reload-or-restart', 'systemd-resolved.service'],
    ['systemctl', '--root=/mnt/router', 'disable', 'netmend-forwarding.service'],
    ['systemctl', 'disable', 'netmend-forwarding.service'],
    ['resolvectl', 'revert', 'tailscale0'],
    ['tailscale', 'set', '--accept-dns=true'],
    ['nft', 'delete', 'table', 'inet', 'netmend'],
    ['nft', '-f', '/var/lib/netmend/forwarding-previous.nft'],
    ['nft', '-f', '/tmp/root/var/lib/netmend/forwarding-previous.nft'],
    ['iptables', '-w', '-t', 'filter', '-D', 'FORWARD', '-j', 'NETMEND-FORWARD'],
    ['iptables-legacy', '-w', '-t', 'nat', '-X', 'NETMEND-POSTROUTING'],
    ['fw4', 'reload'],
    ['sysctl', '-w', 'net.ipv4.ip_forward=0'],
    ['uci', 'delete', 'network.netmend_rule'],
    ['kill', '-TERM', '4242'],
    ['/usr/bin/node', '/opt/netmend/bin/run.js', 'fix', 'dns', '--restart-resolver', '/run/dnsmasq/dnsmasq.pid'],
    ['/usr/bin/node', '/opt/netmend/bin/run.js', 'fix', 'dns', '--restart-resolver', 'dnsmasq@127.0.0.53'],
    ['/usr/bin/node', '/opt/netmend/bin/run.js', 'fix', 'forwarding', '--remove-if-empty', 'ip nat'],
    ['/usr/bin/node', '/opt/netmend/bin/run.js', 'fix', 'forwarding', '--remove-if-empty', 'ip filter INPUT'],
  ];
  for (const command of planned) assert.equal(undoCommandProblem(command), undefined, command.join(' '));
});

test('anything else is refused, naming why', () => {
  const refused: Array<[string[], RegExp]> = [
    [['sh', '-c', 'id'], /runs "sh", not a program netmend's fixes use/],
    [['ip', 'netns', 'exec', 'x', 'sh'], /'netns' is not one of/],
    [['ip', '-b', '/tmp/cmds'], /'-b' is not one of/],
    [['nft', '-f', '/tmp/ruleset.nft'], /loads a file that is not a ruleset netmend saved/],
    [['nft', '-f', '/var/lib/netmend/../../tmp/x.nft'], /not a ruleset netmend saved/],
    [['nft', '-f', '/var/lib/netmend/a.nft', '-f', '/tmp/b.nft'], /option -f loads or runs another file/],
    [['nft', '-i'], /option -i loads or runs another file/],
    [['iptables', '-M', '/tmp/evil'], /option -M loads or runs another file/],
    [['iptables-legacy', '--modprobe=/tmp/evil'], /option --modprobe=\/tmp\/evil/],
    [['systemctl', 'edit', 'x.service'], /'edit' is not one of/],
    [['systemctl', '--root=/mnt', 'restart'], /unit name is missing/],
    [['/etc/init.d/dnsmasq', 'shell'], /'shell' is not one of/],
    [['/etc/init.d/../../bin/sh'], /runs "\/etc\/init\.d\/\.\.\/\.\.\/bin\/sh"/],
    [['kill', '-9', '1'], /one recorded process id \(not 1\)/],
    [['kill', '-TERM', '12', '13'], /one recorded process id/],
    [['sysctl', '-p', '/tmp/x'], /only -w\/-q and key=value/],
    [['tailscale', 'ssh', 'host'], /'ssh' is not one of/],
    [['/usr/bin/node', '/tmp/evil.js', 'fix', 'dns', '--restart-resolver', 'nonsense'], /is neither a pid file path/],
    [['/usr/bin/node', '/tmp/evil.js', 'fix', 'forwarding', '--remove-if-empty', 'inet netmend'], /'inet netmend' is not an iptables table/],
    [['/usr/bin/node', '/tmp/evil.js', 'fix', 'forwarding', '--remove-if-empty', 'ip nat DOCKER'], /'ip nat DOCKER' is not an iptables table/],
  ];
  for (const [command, reason] of refused) assert.match(undoCommandProblem(command) ?? 'accepted', reason, command.join(' '));
});

test('netmend\'s own step runs through this netmend, not the interpreter and script an entry names', () => {
  assert.deepEqual(commandToRun(['/tmp/fake-node', '/tmp/evil.js', 'fix', 'dns', '--restart-resolver', '/run/x.pid']), [process.execPath, process.argv[1], 'fix', 'dns', '--restart-resolver', '/run/x.pid']);
  assert.deepEqual(commandToRun(['/tmp/fake-node', '/tmp/evil.js', 'fix', 'forwarding', '--remove-if-empty', 'ip nat']), [process.execPath, process.argv[1], 'fix', 'forwarding', '--remove-if-empty', 'ip nat']);
  assert.deepEqual(commandToRun(['ip', 'link', 'del', 'x']), ['ip', 'link', 'del', 'x']);
});
