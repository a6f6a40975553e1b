/** The dns topic's checks, in the order they run (ownership first: the others build on it). */
import type { Check } from '../../types.js';
import clobbered from './clobbered.js';
import meshResolver from './mesh-resolver.js';
import rebindProtection from './rebind-protection.js';
import resolverConfig from './resolver-config.js';
import resolvOwner from './resolv-owner.js';
import searchDomain from './search-domain.js';
import splitDomain from './split-domain.js';

export const dnsChecks: readonly Check[] = [resolvOwner, clobbered, resolverConfig, meshResolver, splitDomain, rebindProtection, searchDomain];
