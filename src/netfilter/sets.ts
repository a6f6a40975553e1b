/**
 * Set and map lookups through an index, built once per set and field type: a hash of exact keys,
 * sorted interval bounds searched by bisection for prefixes and ranges of one field, and a scan
 * only for concatenations that hold intervals (rare and small). A 100,000-element blocklist then
 * costs one Map lookup or about 17 comparisons per packet, not a walk of the list.
 */
import { parseInterval, parseScalar, sameScalar, type FieldType, type Scalar, type Value } from './values.js';
import type { Json } from './types.js';

export interface SetHit {
  found: boolean;
  /** The map's data for the key (a verdict object for a vmap), when found. */
  data?: Json;
  /** Elements that could not be read as the field's type (named in the answer, never guessed). */
  unreadable?: string;
}

type Bound = number | bigint;
type PartMatcher = { exact: Scalar } | { low: Bound; high: Bound } | { pattern: string };

interface Index {
  exact: Map<string | number | bigint, Json>;
  lows: Bound[];
  highs: Bound[];
  intervalData: Json[];
  scan: Array<{ parts: PartMatcher[]; data: Json }>;
  patterns: Array<{ pattern: string; data: Json }>;
  unreadable?: string;
}

const cache = new WeakMap<object, Map<string, Index>>();

function keyOf(value: Value): string | number | bigint {
  if (Array.isArray(value)) return value.map((part) => (typeof part === 'bigint' ? `${part}n` : String(part))).join('|');
  return typeof value === 'boolean' ? String(value) : value;
}

function unwrap(element: Json): Json {
  if (typeof element === 'object' && element !== null && !Array.isArray(element) && 'elem' in element) {
    return (element.elem as { val: Json }).val;
  }
  return element;
}

function partMatcher(type: FieldType, json: Json): PartMatcher | undefined {
  const interval = parseInterval(type, json);
  if (interval) return { low: interval[0], high: interval[1] };
  if (type.kind === 'ifname' && typeof json === 'string' && json.endsWith('*') && !json.endsWith('\\*')) return { pattern: json };
  const scalar = parseScalar(type, json);
  return scalar === undefined ? undefined : { exact: scalar };
}

function build(elements: readonly Json[], types: FieldType[], isMap: boolean): Index {
  const index: Index = { exact: new Map(), lows: [], highs: [], intervalData: [], scan: [], patterns: [] };
  const { lows, highs, intervalData } = index;
  const single = types.length === 1;
  for (const element of elements) {
    let key: Json = element;
    let data: Json = true;
    if (isMap && Array.isArray(element) && element.length === 2) [key, data] = element as [Json, Json];
    key = unwrap(key);
    const concat = typeof key === 'object' && key !== null && !Array.isArray(key) && 'concat' in key ? (key.concat as Json[]) : undefined;
    // One field (the blocklist case, 100,000 elements): no per-element arrays.
    if (single && !concat) {
      const matcher = partMatcher(types[0], key);
      if (matcher === undefined) index.unreadable ??= `element ${JSON.stringify(key)} is not a ${types[0].kind}`;
      else if ('exact' in matcher) index.exact.set(keyOf(matcher.exact), data);
      else if ('low' in matcher) {
        lows.push(matcher.low);
        highs.push(matcher.high);
        intervalData.push(data);
      } else index.patterns.push({ pattern: matcher.pattern, data });
      continue;
    }
    const parts = concat ?? [key];
    if (parts.length !== types.length) {
      index.unreadable ??= `element ${JSON.stringify(key)} has ${parts.length} fields, the key has ${types.length}`;
      continue;
    }
    const matchers = parts.map((part, i) => partMatcher(types[i], part));
    if (matchers.some((m) => m === undefined)) {
      index.unreadable ??= `element ${JSON.stringify(key)} is not a ${types.map((t) => t.kind).join(' . ')}`;
      continue;
    }
    const ready = matchers as PartMatcher[];
    if (ready.every((m) => 'exact' in m)) index.exact.set(keyOf(ready.map((m) => (m as { exact: Scalar }).exact)), data);
    else index.scan.push({ parts: ready, data });
  }
  // nft lists interval sets in order already; sorting 100,000 bounds again costs ~20 ms.
  let sorted = true;
  for (let i = 1; i < lows.length && sorted; i++) sorted = lows[i - 1] <= lows[i];
  if (!sorted) {
    const order = lows.map((_, i) => i).sort((a, b) => (lows[a] < lows[b] ? -1 : lows[a] > lows[b] ? 1 : 0));
    const [l, h, d] = [order.map((i) => lows[i]), order.map((i) => highs[i]), order.map((i) => intervalData[i])];
    index.lows = l;
    index.highs = h;
    index.intervalData = d;
  }
  return index;
}

function partMatches(matcher: PartMatcher, value: Scalar, type: FieldType): boolean {
  if ('exact' in matcher) return sameScalar(value, matcher.exact, type);
  if ('pattern' in matcher) return typeof value === 'string' && sameScalar(value, matcher.pattern, type);
  return (typeof value === 'number' || typeof value === 'bigint') && value >= matcher.low && value <= matcher.high;
}

/**
 * Looks a packet's value up in a set's elements. `owner` identifies the element list for the
 * cache (the set object, or the JSON of an anonymous set).
 */
export function lookupSet(owner: object, elements: readonly Json[], value: Value, types: FieldType[], isMap: boolean): SetHit {
  const signature = `${isMap ? 'm' : 's'}:${types.map((t) => t.kind).join('.')}`;
  let perType = cache.get(owner);
  if (!perType) cache.set(owner, (perType = new Map()));
  let index = perType.get(signature);
  if (!index) perType.set(signature, (index = build(elements, types, isMap)));
  const hit = (data: Json): SetHit => ({ found: true, data, ...(index!.unreadable ? { unreadable: index!.unreadable } : {}) });
  const exact = index.exact.get(keyOf(value));
  if (exact !== undefined) return hit(exact);
  if (types.length === 1 && !Array.isArray(value) && (typeof value === 'number' || typeof value === 'bigint') && index.lows.length) {
    // The last interval starting at or below the value: nft keeps interval sets free of overlaps.
    let low = 0;
    let high = index.lows.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (index.lows[middle] <= value) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    if (found >= 0 && value <= index.highs[found]) return hit(index.intervalData[found]);
  }
  if (types.length === 1 && typeof value === 'string') {
    for (const { pattern, data } of index.patterns) if (sameScalar(value, pattern, types[0])) return hit(data);
  }
  if (index.scan.length) {
    const parts = Array.isArray(value) ? value : [value];
    for (const { parts: matchers, data } of index.scan) {
      if (matchers.every((matcher, i) => partMatches(matcher, parts[i] as Scalar, types[i]))) return hit(data);
    }
  }
  return index.unreadable ? { found: false, unreadable: index.unreadable } : { found: false };
}
