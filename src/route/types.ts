/** The route simulator's contract: what a query asks and what the decision says. */
import type { Family, Route, RouteType, Rule } from '../snapshot/types.js';

export interface RouteQuery {
  /** Destination address (no prefix length). */
  destination: string;
  /** Source address (`ip route get ... from`). */
  from?: string;
  /** Incoming interface name (`ip route get ... iif`): simulates a forwarded packet. */
  iif?: string;
  /** Firewall mark (`ip route get ... mark`). */
  mark?: number;
}

/** Kernel errors a lookup can end with, by errno name. */
export type RouteErrorName = 'ENETUNREACH' | 'EHOSTUNREACH' | 'EACCES' | 'EINVAL' | 'EXDEV';

export interface RouteResult {
  /** The route type that decided (unicast, local, broadcast, ... unreachable, prohibit, blackhole), or 'error'. */
  type: RouteType | 'error';
  /** Set when the kernel would answer with an error instead of a route. */
  error?: RouteErrorName;
  table?: number;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
}

export type StepVerdict = 'no-match' | 'matched' | 'no-route' | 'throw' | 'suppressed' | 'chosen' | 'error' | 'goto';

/** One step of the explanation: a rule tried, or a table consulted. */
export interface RouteStep {
  kind: 'rule' | 'table' | 'final';
  /** Rule priority or table id this step is about. */
  priority?: number;
  table?: number;
  verdict: StepVerdict;
  /** The rule or route as `ip` prints it. */
  text: string;
  /** Why: "fwmark 0x80000/0xff0000 does not match mark 0x0", "longest prefix /24 of 3 candidates", ... */
  reason: string;
}

export interface RouteDecision {
  destination: string;
  family: Family;
  result: RouteResult;
  /** The rule whose action decided, when any. */
  rule?: Rule;
  /** The route chosen, when any. */
  route?: Route;
  steps: RouteStep[];
}
