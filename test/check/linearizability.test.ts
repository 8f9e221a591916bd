import { strict as assert } from 'node:assert';
import { checkLinearizable, HistoryOp, LinearizabilityResult } from '../../src/check/linearizability';

const NO_KEY = 'NO_KEY';

function put(client: string, key: string, value: string, call: number, ret: number): HistoryOp {
  return { client, op: 'put', key, value, call, ret };
}

function get(client: string, key: string, result: string | undefined, call: number, ret: number): HistoryOp {
  return { client, op: 'get', key, result, call, ret };
}

function assertOk(r: LinearizabilityResult): void {
  assert.ok(r.ok, r.ok ? '' : `expected linearizable, got: key ${r.key}: ${r.reason}`);
}

function assertRejected(r: LinearizabilityResult, key: string): Extract<LinearizabilityResult, { ok: false }> {
  assert.equal(r.ok, false, 'expected a linearizability violation');
  if (r.ok) throw new Error('unreachable');
  assert.equal(r.key, key);
  assert.ok(r.ops.length > 0 && r.ops.every((o) => o.key === key), 'the report lists the ops of the offending key');
  assert.doesNotMatch(r.reason, /too large/);
  return r;
}

// ---- random histories ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface GenOptions {
  ops: number;
  clients: number;
  keys: number;
  pendingRate: number; // chance an op never returns (a put then takes effect with probability 1/2)
  reuseRate: number;   // chance a put writes a value already written before (values need not be unique)
}

/**
 * A history of a sequential register driven by `clients` sequential clients: each op gets a
 * random interval and a random linearization point inside it; the register is applied in
 * linearization-point order, so the history is linearizable by construction.
 */
function randomHistory(seed: number, o: GenOptions): HistoryOp[] {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  const free = Array.from({ length: o.clients }, () => int(0, 10));
  const effects: { at: number; h: HistoryOp }[] = [];
  const history: HistoryOp[] = [];
  const used: string[] = [];
  for (let i = 0; i < o.ops; i++) {
    const c = free.indexOf(Math.min(...free));
    const call = free[c];
    const duration = int(1, 25);
    const pending = rnd() < o.pendingRate;
    const key = keys[int(0, keys.length - 1)];
    let h: HistoryOp;
    if (rnd() < 0.5) {
      const value = used.length > 0 && rnd() < o.reuseRate ? used[int(0, used.length - 1)] : `v${i}`;
      used.push(value);
      h = put(`C${c + 1}`, key, value, call, pending ? Infinity : call + duration);
      if (!pending || rnd() < 0.5) effects.push({ at: call + rnd() * duration, h });
    } else {
      h = get(`C${c + 1}`, key, undefined, call, pending ? Infinity : call + duration);
      if (!pending) effects.push({ at: call + rnd() * duration, h });
    }
    history.push(h);
    free[c] = call + duration + int(0, 15); // a timed-out client moves on, leaving its op pending
  }
  effects.sort((a, b) => a.at - b.at);
  const reg = new Map<string, string>();
  for (const { h } of effects) {
    if (h.op === 'put') reg.set(h.key, h.value!);
    else h.result = reg.get(h.key) ?? NO_KEY;
  }
  return history;
}

/**
 * Finds a completed get g and a value w that g definitely cannot return: some completed put q
 * on g's key with q.ret < g.call writes something other than w, and every put writing w
 * returned before q was called. In any legal order all writes of w precede q, which precedes g,
 * and nothing between q and g writes w.
 */
function definitelyStale(history: readonly HistoryOp[], rnd: () => number): { index: number; value: string } | undefined {
  const gets = history.map((h, i) => [h, i] as const).filter(([h]) => h.op === 'get' && h.ret !== Infinity);
  const start = Math.floor(rnd() * gets.length);
  for (let n = 0; n < gets.length; n++) {
    const [g, index] = gets[(start + n) % gets.length];
    const puts = history.filter((h) => h.op === 'put' && h.key === g.key);
    for (const q of puts) {
      if (q.ret === Infinity || q.ret >= g.call) continue;
      for (const p of puts) {
        const w = p.value!;
        if (w === q.value || w === g.result) continue;
        if (puts.every((x) => x.value !== w || x.ret < q.call)) return { index, value: w };
      }
    }
  }
  return undefined;
}

/** Brute force: tries every order (and every subset of never-returned puts) of a tiny history. */
function bruteForce(history: readonly HistoryOp[]): boolean {
  const live = history.filter((h) => !(h.op === 'get' && (h.ret === Infinity || h.result === undefined)));
  const pending = live.filter((h) => h.op === 'put' && h.ret === Infinity);
  const done = live.filter((h) => !(h.op === 'put' && h.ret === Infinity));
  const order = (left: HistoryOp[], reg: string): boolean => {
    if (left.length === 0) return true;
    for (const x of left) {
      if (left.some((y) => y !== x && y.ret < x.call)) continue; // some remaining op must come first
      if (x.op === 'get' && x.result !== reg) continue;
      if (order(left.filter((y) => y !== x), x.op === 'put' ? x.value! : reg)) return true;
    }
    return false;
  };
  for (let mask = 0; mask < 1 << pending.length; mask++) {
    if (order([...done, ...pending.filter((_, i) => mask & (1 << i))], NO_KEY)) return true;
  }
  return false;
}

describe('check: linearizability of a key-value register history', () => {
  it('accepts a sequential put/get history', () => {
    const r = checkLinearizable([
      put('C1', 'x', '1', 0, 10),
      get('C1', 'x', '1', 20, 30),
      put('C2', 'x', '2', 40, 50),
      get('C3', 'x', '2', 60, 70),
      get('C1', 'x', '2', 80, 90),
    ]);
    assertOk(r);
    assert.deepEqual(r, { ok: true, keys: 1, ops: 5 });
  });

  it('accepts NO_KEY for a key that was never put (and rejects NO_KEY after a completed put)', () => {
    const r = checkLinearizable([get('C1', 'x', NO_KEY, 0, 10), put('C2', 'y', '1', 0, 5), get('C2', 'x', NO_KEY, 20, 30)]);
    assertOk(r);
    assert.deepEqual(r, { ok: true, keys: 2, ops: 3 });
    assertRejected(checkLinearizable([put('C1', 'x', '1', 0, 10), get('C2', 'x', NO_KEY, 20, 30)]), 'x');
  });

  it('rejects a stale read after a completed put', () => {
    const r = assertRejected(checkLinearizable([
      put('C1', 'x', 'old', 0, 10),
      put('C1', 'x', 'new', 20, 30),
      get('C2', 'x', 'old', 40, 50),
    ]), 'x');
    assert.match(r.reason, /not linearizable/);
    assert.match(r.reason, /"old"/);
    assert.equal(r.ops.length, 3);
  });

  it('accepts either the old or the new value for a get concurrent with a put', () => {
    for (const seen of ['old', 'new']) {
      assertOk(checkLinearizable([
        put('C1', 'x', 'old', 0, 10),
        put('C1', 'x', 'new', 20, 60),
        get('C2', 'x', seen, 30, 40),
      ]));
    }
    // Intervals that merely touch (ret === call) are concurrent too.
    assertOk(checkLinearizable([put('C1', 'x', 'a', 0, 10), get('C2', 'x', NO_KEY, 10, 20)]));
    assertRejected(checkLinearizable([put('C1', 'x', 'a', 0, 10), get('C2', 'x', NO_KEY, 11, 20)]), 'x');
  });

  it('rejects a read inversion: two successive gets see new then old during one put', () => {
    const history = (first: string, second: string) => [
      put('C1', 'x', 'old', 0, 10),
      put('C1', 'x', 'new', 20, 100),
      get('C2', 'x', first, 30, 40),
      get('C3', 'x', second, 50, 60),
    ];
    assertRejected(checkLinearizable(history('new', 'old')), 'x');
    assertOk(checkLinearizable(history('old', 'new')));
    assertOk(checkLinearizable(history('new', 'new')));
    assertOk(checkLinearizable(history('old', 'old')));
  });

  it('accepts a put that never returned whose value is later read (and it then stays in effect)', () => {
    assertOk(checkLinearizable([
      put('C1', 'x', 'a', 0, Infinity),
      get('C2', 'x', NO_KEY, 5, 8),
      get('C2', 'x', 'a', 10, 20),
      get('C3', 'x', 'a', 30, 40),
    ]));
    // Once read, it has taken effect: a later NO_KEY is a violation ...
    assertRejected(checkLinearizable([put('C1', 'x', 'a', 0, Infinity), get('C2', 'x', 'a', 10, 20), get('C3', 'x', NO_KEY, 30, 40)]), 'x');
    // ... and it cannot take effect before it was called.
    assertRejected(checkLinearizable([get('C2', 'x', 'a', 0, 5), put('C1', 'x', 'a', 10, Infinity)]), 'x');
  });

  it('accepts a put that never returned and was never read; drops gets that never returned', () => {
    const r = checkLinearizable([
      put('C1', 'x', 'a', 0, Infinity),
      get('C2', 'x', NO_KEY, 10, 20),
      get('C3', 'x', undefined, 15, Infinity),
      put('C2', 'x', 'b', 30, 40),
      get('C3', 'x', 'b', 50, 60),
    ]);
    assertOk(r);
    assert.deepEqual(r, { ok: true, keys: 1, ops: 5 });
    // Several timed-out puts of the same value, one of them read late: still fine.
    assertOk(checkLinearizable([
      put('C1', 'x', 'a', 0, Infinity),
      put('C2', 'x', 'b', 5, 15),
      put('C3', 'x', 'a', 6, Infinity),
      get('C2', 'x', 'b', 20, 30),
      get('C2', 'x', 'a', 40, 50),
    ]));
  });

  it('lets a never-returned put whose value is read elsewhere never take effect', () => {
    // C1's timed-out put of 'a' (called at 10) would have to precede the get at [14,15] that
    // reads 'b' if it took effect before the last read of 'a' (by C2, returning at 12):
    // so the only legal order is the one where it never takes effect (or takes effect last).
    const h = (last: string) => [
      put('C1', 'x', 'a', 0, 1),
      get('C2', 'x', 'a', 0, 12),
      put('C1', 'x', 'b', 2, 9),
      put('C1', 'x', 'a', 10, Infinity),
      get('C3', 'x', last, 14, 15),
    ];
    assertOk(checkLinearizable(h('b')));
    assertOk(checkLinearizable(h('a'))); // ... or it took effect
    assertRejected(checkLinearizable(h(NO_KEY)), 'x');
  });

  it('rejects a get returning a value nobody wrote', () => {
    const r = assertRejected(checkLinearizable([put('C1', 'x', '1', 0, 10), get('C2', 'x', 'ghost', 20, 30)]), 'x');
    assert.match(r.reason, /ghost/);
    // A value written only to another key does not count either.
    assertRejected(checkLinearizable([put('C1', 'y', 'ghost', 0, 10), get('C2', 'x', 'ghost', 20, 30)]), 'x');
  });

  it('handles repeated put values', () => {
    const h = (last: string) => [put('C1', 'x', '1', 0, 10), put('C1', 'x', '2', 20, 30), put('C1', 'x', '1', 40, 50), get('C2', 'x', last, 60, 70)];
    assertOk(checkLinearizable(h('1')));
    assertRejected(checkLinearizable(h('2')), 'x');
  });

  it('checks keys independently and reports the violating key', () => {
    const r = assertRejected(checkLinearizable([
      put('C1', 'a', '1', 0, 10),
      put('C2', 'b', '1', 0, 10),
      get('C3', 'a', '1', 20, 30),
      put('C1', 'b', '2', 20, 30),
      get('C2', 'a', '1', 40, 50),
      get('C3', 'b', '1', 40, 50), // stale
      put('C1', 'c', '1', 40, 50),
    ]), 'b');
    assert.equal(r.ops.length, 3);
    // Puts on one key are invisible to another.
    assertOk(checkLinearizable([put('C1', 'a', '1', 0, 10), get('C2', 'b', NO_KEY, 20, 30), get('C2', 'a', '1', 20, 30)]));
  });

  it('reports a search that exceeds maxStatesPerKey as a failure, never as ok', () => {
    const h = randomHistory(7, { ops: 200, clients: 3, keys: 1, pendingRate: 0, reuseRate: 0.2 });
    assertOk(checkLinearizable(h));
    const r = checkLinearizable(h, { maxStatesPerKey: 10 });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.key, 'k0');
    assert.match(r.reason, /too large/);
  });

  it('agrees with brute force on small random histories', () => {
    const rnd = mulberry32(2024);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    let accepted = 0;
    let rejected = 0;
    for (let t = 0; t < 400; t++) {
      const n = int(2, 7);
      const h: HistoryOp[] = [];
      for (let i = 0; i < n; i++) {
        const call = int(0, 30);
        const ret = rnd() < 0.15 ? Infinity : call + int(0, 12);
        const c = `C${i + 1}`;
        if (rnd() < 0.5) h.push(put(c, 'x', String(int(1, 3)), call, ret));
        else h.push(get(c, 'x', ret === Infinity ? undefined : rnd() < 0.25 ? NO_KEY : String(int(1, 3)), call, ret));
      }
      const expected = bruteForce(h);
      assert.equal(checkLinearizable(h).ok, expected, JSON.stringify(h));
      if (expected) accepted++;
      else rejected++;
    }
    assert.ok(accepted > 50 && rejected > 50, `both verdicts exercised (${accepted} ok, ${rejected} not)`);
  });

  it('accepts large random linearizable histories and rejects them with one definitely-stale read', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const history = randomHistory(seed, { ops: 2000, clients: 3, keys: 3, pendingRate: 0.03, reuseRate: 0.2 });
      assert.ok(history.some((h) => h.ret === Infinity && h.op === 'put'), 'the history has timed-out puts');
      const r = checkLinearizable(history);
      assertOk(r);
      assert.deepEqual(r, { ok: true, keys: 3, ops: 2000 });

      const stale = definitelyStale(history, mulberry32(seed * 31));
      assert.ok(stale, `seed ${seed}: found a get to corrupt`);
      const corrupted = history.map((h, i) => (i === stale.index ? { ...h, result: stale.value } : h));
      assert.notEqual(corrupted[stale.index].result, history[stale.index].result);
      assertRejected(checkLinearizable(corrupted), history[stale.index].key);
    }
  });

  it('accepts a random history with many timed-out ops and reused values', () => {
    const history = randomHistory(99, { ops: 1500, clients: 3, keys: 2, pendingRate: 0.15, reuseRate: 0.5 });
    assert.ok(history.filter((h) => h.ret === Infinity).length > 100);
    assertOk(checkLinearizable(history));
  });
});
