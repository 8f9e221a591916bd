/**
 * Linearizability checker for a key-value register history (Wing & Gong's search with
 * Lowe's memoization, laid out as in Porcupine).
 *
 * Model. Every key is an independent register that starts absent ('NO_KEY'); put(k, v) sets
 * it and get(k) must return its current value. A is ordered before B when A.ret < B.call
 * (ops whose intervals touch or overlap are concurrent).
 *
 * Algorithm.
 *  1. Partition by key (linearizability is compositional: the history is linearizable iff
 *     every per-key sub-history is). Keys are checked independently, in first-seen order.
 *  2. Normalise each sub-history:
 *     - a get that never returned (ret = Infinity or result undefined) constrains nothing and
 *       is dropped;
 *     - a get returning a value no put on that key ever wrote is rejected at once;
 *     - a put that never returned may take effect at any point after its call, or never. If no
 *       get returns its value after its call it is dropped (putting it last, after every other
 *       op, is always legal). Otherwise it becomes an *optional* put whose response time is the
 *       latest response of a get returning its value (T): in any legal order it either sits
 *       before some get reading its value (so no later than T) or can be moved to the very end
 *       (equivalently: applied as a no-op anywhere in [call, T]). This bounds its window, which
 *       keeps the search small even with many timed-out puts.
 *  3. Build the ordered list of call/return events (at equal times calls sort first, so
 *     touching intervals are concurrent) as a doubly linked list of "entries"; each call entry
 *     knows its return entry.
 *  4. Depth-first search (Porcupine's checkSingle): walk the list from the head; at a call
 *     entry try to linearize that op now (a get must match the register; a put sets it; an
 *     optional put tries "apply" then "no-op"). On success, if (set of linearized ops, register
 *     state) is new, record it in the cache, push (entry, old state, variant) on a stack, *lift*
 *     the op's call and return entries out of the list and restart from the head. Reaching a
 *     return entry means that op cannot be linearized yet although it must be: pop the stack,
 *     unlift, and try the next alternative. The list empties => linearizable; the stack empties
 *     at a return entry => not linearizable.
 *  5. The set of linearized ops is a Uint32Array bitset. Cache keys are strings made of the
 *     register state, the index of the first not-full bitset word, and the words from there to
 *     the last non-zero word: with little concurrency that is one or two words, so keys stay
 *     short however long the history. The cache is exact (no hash-only pruning).
 *  6. Every new (set, state) pair counts as a visited state; past `maxStatesPerKey` (default
 *     2,000,000) the check gives up and reports ok:false saying the search was too large; it
 *     never answers ok without a complete search.
 *
 * Malformed ops (non-finite call, NaN ret, ret < call, put without a string value, unknown op)
 * throw a TypeError/RangeError: they are bugs in the history recorder, not verdicts.
 */

export interface HistoryOp {
  client: string;             // e.g. "C1"
  op: 'put' | 'get';
  key: string;
  value?: string;             // for put: the value written
  result?: string;            // for get: the value returned, or 'NO_KEY' when the key was absent; undefined when the op never returned
  call: number;               // invocation time (simulated ms)
  ret: number;                // response time; Infinity when the op never returned (timed out / still pending: it may or may not have taken effect)
}

export type LinearizabilityResult =
  | { ok: true; keys: number; ops: number }
  | { ok: false; key: string; reason: string; ops: HistoryOp[] /* the ops on that key, for the report */ };

const NO_KEY = 'NO_KEY';
const DEFAULT_MAX_STATES = 2_000_000;
const NIL = -1;
const HEAD = 0;

const GET = 0;
const PUT = 1;
const OPTIONAL_PUT = 2; // a put that never returned: applied or a no-op, within [call, T]

/** The op as checked: kind, register value id (put) / expected value id (get), interval. */
interface SearchOp {
  kind: number;
  arg: number;
  call: number;
  ret: number;
  src: HistoryOp;
}

type KeyVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Checks that `history` is linearizable with respect to a per-key register. Returns
 * ok:true with the number of distinct keys and the number of ops in the history, or
 * ok:false with the first offending key, a reason and that key's ops (sorted by call time).
 */
export function checkLinearizable(history: readonly HistoryOp[], opts?: { maxStatesPerKey?: number }): LinearizabilityResult {
  const maxStates = opts?.maxStatesPerKey ?? DEFAULT_MAX_STATES;
  if (!(maxStates > 0)) throw new RangeError(`maxStatesPerKey must be positive, got ${maxStates}`);
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    validate(h);
    let list = byKey.get(h.key);
    if (!list) byKey.set(h.key, (list = []));
    list.push(h);
  }
  for (const [key, ops] of byKey) {
    const verdict = checkKey(key, ops, maxStates);
    if (!verdict.ok) {
      const sorted = [...ops].sort((a, b) => a.call - b.call || a.ret - b.ret);
      return { ok: false, key, reason: verdict.reason, ops: sorted };
    }
  }
  return { ok: true, keys: byKey.size, ops: history.length };
}

function validate(h: HistoryOp): void {
  if (h.op !== 'put' && h.op !== 'get') throw new TypeError(`unknown op ${JSON.stringify(h.op)} by ${h.client}`);
  if (typeof h.key !== 'string') throw new TypeError(`${h.op} by ${h.client} has no key`);
  if (!Number.isFinite(h.call)) throw new RangeError(`${h.op} ${h.key} by ${h.client}: call time ${h.call} is not finite`);
  if (Number.isNaN(h.ret) || h.ret < h.call) throw new RangeError(`${h.op} ${h.key} by ${h.client}: ret ${h.ret} is before call ${h.call}`);
  if (h.op === 'put' && typeof h.value !== 'string') throw new TypeError(`put ${h.key} by ${h.client} has no value`);
}

function show(h: HistoryOp): string {
  const end = h.ret === Infinity ? '∞' : String(h.ret);
  return h.op === 'put'
    ? `put(${JSON.stringify(h.value)}) by ${h.client} [${h.call}, ${end}]`
    : `get by ${h.client} [${h.call}, ${end}] returning ${JSON.stringify(h.result)}`;
}

function checkKey(key: string, all: readonly HistoryOp[], maxStates: number): KeyVerdict {
  // ---- 2. normalise ----
  const valueId = new Map<string, number>([[NO_KEY, 0]]);
  const names: string[] = [NO_KEY];
  const idOf = (v: string): number => {
    let id = valueId.get(v);
    if (id === undefined) {
      id = names.length;
      valueId.set(v, id);
      names.push(v);
    }
    return id;
  };
  const written = new Set<string>([NO_KEY]);
  for (const h of all) if (h.op === 'put') written.add(h.value!);
  const lastReadOf = new Map<string, number>(); // value -> latest ret of a completed get returning it
  const ops: SearchOp[] = [];
  for (const h of all) {
    if (h.op !== 'get' || h.ret === Infinity || h.result === undefined) continue;
    if (!written.has(h.result)) {
      return { ok: false, reason: `${show(h)}: no put on key ${JSON.stringify(key)} ever wrote that value` };
    }
    lastReadOf.set(h.result, Math.max(lastReadOf.get(h.result) ?? -Infinity, h.ret));
    ops.push({ kind: GET, arg: idOf(h.result), call: h.call, ret: h.ret, src: h });
  }
  for (const h of all) {
    if (h.op !== 'put') continue;
    if (h.ret !== Infinity) {
      ops.push({ kind: PUT, arg: idOf(h.value!), call: h.call, ret: h.ret, src: h });
      continue;
    }
    const t = lastReadOf.get(h.value!);
    if (t === undefined || t < h.call) continue; // never observable: as if it never happened
    ops.push({ kind: OPTIONAL_PUT, arg: idOf(h.value!), call: h.call, ret: t, src: h });
  }
  const n = ops.length;
  if (n === 0) return { ok: true };
  // Bit j of the bitset is the j-th op by call time, so the linearized set is a full prefix plus
  // a short tail of words: that keeps cache keys short.
  ops.sort((a, b) => a.call - b.call || a.ret - b.ret);

  // ---- 3. entries: node 0 is the head; op j has call node 2j+1 and return node 2j+2 ----
  const events = new Int32Array(2 * n);
  for (let j = 0; j < n; j++) {
    events[2 * j] = 2 * j + 1;
    events[2 * j + 1] = 2 * j + 2;
  }
  const timeOf = (node: number): number => (node & 1 ? ops[(node - 1) >> 1].call : ops[(node - 1) >> 1].ret);
  events.sort((a, b) => timeOf(a) - timeOf(b) || (b & 1) - (a & 1) || a - b); // calls (odd) first on ties
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  let last = HEAD;
  prev[HEAD] = NIL;
  for (let i = 0; i < events.length; i++) {
    const node = events[i];
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  next[last] = NIL;

  const lift = (e: number): void => {
    const r = e + 1;
    next[prev[e]] = next[e];
    prev[next[e]] = prev[e]; // next[e] is never NIL: the return entry follows
    next[prev[r]] = next[r];
    if (next[r] !== NIL) prev[next[r]] = prev[r];
  };
  const unlift = (e: number): void => {
    const r = e + 1;
    next[prev[r]] = r;
    if (next[r] !== NIL) prev[next[r]] = r;
    next[prev[e]] = e;
    prev[next[e]] = e;
  };

  // ---- 5. bitset of linearized ops, with the first not-full word (lo) and last non-zero word (hi) ----
  const nWords = (n + 31) >>> 5;
  const bits = new Uint32Array(nWords);
  const fullLast = n % 32 === 0 ? 0xffffffff : ((1 << (n % 32)) - 1) >>> 0;
  const full = (w: number): number => (w === nWords - 1 ? fullLast : 0xffffffff);
  let lo = 0;
  let hi = -1;
  const setBit = (j: number): void => {
    const w = j >>> 5;
    bits[w] = (bits[w] | (1 << (j & 31))) >>> 0;
    if (w > hi) hi = w;
    while (lo < nWords && bits[lo] === full(lo)) lo++;
  };
  const clearBit = (j: number): void => {
    const w = j >>> 5;
    bits[w] = (bits[w] & ~(1 << (j & 31))) >>> 0;
    if (w < lo) lo = w;
    while (hi >= 0 && bits[hi] === 0) hi--;
  };
  const cacheKey = (state: number): string => {
    let s = `${state}:${lo}:`;
    for (let w = lo; w <= hi; w++) s += String.fromCharCode(bits[w] & 0xffff, bits[w] >>> 16);
    return s;
  };

  // ---- 4. the search ----
  const cache = new Set<string>();
  const stackEntry: number[] = [];
  const stackState: number[] = [];
  const stackVariant: number[] = [];
  let state = 0; // register starts absent
  let entry = next[HEAD];
  let startVariant = 0;
  let deepest = -1;
  let blocker = -1;
  let blockerState = 0;

  while (next[HEAD] !== NIL) {
    if (entry & 1) {
      const j = (entry - 1) >> 1;
      const op = ops[j];
      const variants = op.kind === OPTIONAL_PUT ? 2 : 1;
      let moved = false;
      for (let v = startVariant; v < variants; v++) {
        let newState: number;
        if (op.kind === GET) {
          if (state !== op.arg) continue;
          newState = state;
        } else {
          newState = v === 0 ? op.arg : state;
        }
        setBit(j);
        const k = cacheKey(newState);
        if (cache.has(k)) {
          clearBit(j);
          continue;
        }
        if (cache.size >= maxStates) {
          return {
            ok: false,
            reason: `search too large: gave up after ${cache.size} visited states (maxStatesPerKey = ${maxStates}) ` +
              `on ${n} ops of key ${JSON.stringify(key)}; linearizability is unknown`,
          };
        }
        cache.add(k);
        stackEntry.push(entry);
        stackState.push(state);
        stackVariant.push(v);
        state = newState;
        lift(entry);
        moved = true;
        break;
      }
      startVariant = 0;
      entry = moved ? next[HEAD] : next[entry];
    } else {
      // A return entry: its op had to be linearized by now but could not be.
      const depth = stackEntry.length;
      if (depth > deepest) {
        deepest = depth;
        blocker = (entry - 1) >> 1;
        blockerState = state;
      }
      if (depth === 0) {
        const b = ops[blocker];
        return {
          ok: false,
          reason: `not linearizable: no order of the ${n} checked ops on key ${JSON.stringify(key)} fits; ` +
            `the longest legal prefix has ${deepest} ops, after which (register = ${JSON.stringify(names[blockerState])}) ` +
            `${show(b.src)} cannot be placed`,
        };
      }
      const e = stackEntry.pop()!;
      state = stackState.pop()!;
      const v = stackVariant.pop()!;
      const j = (e - 1) >> 1;
      clearBit(j);
      unlift(e);
      if (ops[j].kind === OPTIONAL_PUT && v === 0) {
        entry = e;
        startVariant = 1;
      } else {
        entry = next[e];
      }
    }
  }
  return { ok: true };
}
