import { dnsFactsOf } from '../../gather/dns.js';
import { finding, listSome, pass, skip } from '../../result.js';
import type { Check } from '../../types.js';

/**
 * dnsmasq ("cannot access") and unbound ("cannot open include file") refuse to start when a file
 * of their configuration cannot be read, such as a dangling symlink left in a conf-dir. What
 * netmend itself did not read (it leads outside --root) is named too: the other dns checks then
 * judge the configuration without it.
 */
const check: Check = {
  id: 'dns.resolver-config',
  topic: 'dns',
  title: 'the local resolver can read every file of its configuration',
  needs: ['dns'],
  run(state) {
    const facts = dnsFactsOf(state);
    if (typeof facts === 'string') return skip(check, facts);
    const programs = [['dnsmasq', facts.dnsmasq], ['unbound', facts.unbound]] as const;
    const unread = programs.flatMap(([program, config]) => (config?.unread ?? []).map((entry) => ({ program, ...entry })));
    const evidence = unread.map((entry) => `${entry.path}: ${entry.reason}`);
    const failing = unread.filter((entry) => entry.resolverFails);
    if (failing.length > 0) {
      const refusing = [...new Set(failing.map((entry) => entry.program))];
      return finding(check, 'fail', `${refusing.join(' and ')} cannot read ${listSome(failing.map((entry) => entry.path))} and refuse${refusing.length > 1 ? '' : 's'} to start with it`, evidence);
    }
    if (unread.length > 0) return { ...skip(check, `not read under --root: ${listSome(unread.map((entry) => entry.path))}`), evidence };
    const read = programs.filter(([, config]) => config?.files.length).map(([program, config]) => `${program}: ${config!.files.length} file${config!.files.length > 1 ? 's' : ''}`);
    if (read.length === 0) return skip(check, 'no dnsmasq or unbound configuration here');
    return pass(check, `every configuration file reads (${read.join(', ')})`);
  },
};

export default check;
