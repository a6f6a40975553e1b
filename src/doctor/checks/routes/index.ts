/** The routes topic: every check of `netmend doctor routes`, in the order they are reported. */
import type { Check } from '../../types.js';
import tunnelLinkLocal from './tunnel-link-local.js';
import subnetShadowsLan from './subnet-shadows-lan.js';
import exitNodeCapturesLan from './exit-node-captures-lan.js';
import overlappingAdvertised from './overlapping-advertised.js';
import forwardingDisabled from './forwarding-disabled.js';
import rpFilterStrict from './rp-filter-strict.js';
import foreignRulesAtRisk from './foreign-rules-at-risk.js';
import ruleOrder from './rule-order.js';

export const routesChecks: readonly Check[] = [
  tunnelLinkLocal,
  subnetShadowsLan,
  exitNodeCapturesLan,
  overlappingAdvertised,
  forwardingDisabled,
  rpFilterStrict,
  foreignRulesAtRisk,
  ruleOrder,
];
