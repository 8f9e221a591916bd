/**
 * attack-fix: a crash at EVERY file operation of a fast catch-up on a real folder (install,
 * backfill, own checkpoints above the install, blocks.idx marks): the k-th FileDisk append /
 * truncate / sync or checkpoint write / remove throws (the process dies there), then, in a second
 * model, every file also loses what it appended since its last sync. The folder must start, hold
 * the right dictionary for its decided depth, finish catching up (repair, backfill) to 60, and
 * start cleanly again with every block 0..59 readable in blocks.dat.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { BackfillRequest, BackfillResponse, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { StateMachine } from '../../src/core/state-machine';
import { FsCheckpointDir } from '../../src/store/checkpoint';
import { FileDisk } from '../../src/store/disk';
import { decided, FolderNode, Policy, tmpDir, wire } from '../attack-install/support';

const POLICY: Policy = { everyBlocks: 10, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

function dictAt(depth: number): string {
  const sm = new StateMachine();
  for (let d = 0; d < depth; d++) sm.apply(decided[d]);
  return JSON.stringify([...sm.dict].sort());
}

class Crash extends Error {}
let ops = 0;
let crashAt = Infinity;
const synced = new Map<string, number>();
/** From the crash point on, nothing reaches the disk (the process is dead; code that swallows the error writes nothing more). */
const tick = (): void => {
  if (++ops >= crashAt) throw new Crash('CRASH');
};
const crashed = (): boolean => ops >= crashAt;
const P = FileDisk.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
const C = FsCheckpointDir.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
const orig = { append: P.append, sync: P.sync, truncate: P.truncate, writeAtomic: C.writeAtomic, remove: C.remove };
function hook(): void {
  P.append = function (this: FileDisk, ...a: unknown[]) { tick(); if (!synced.has(this.path)) synced.set(this.path, this.size()); return orig.append.apply(this, a); };
  P.sync = function (this: FileDisk, ...a: unknown[]) { tick(); const r = orig.sync.apply(this, a); synced.set(this.path, fs.statSync(this.path).size); return r; };
  P.truncate = function (this: FileDisk, ...a: unknown[]) {
    tick();
    const r = orig.truncate.apply(this, a);
    synced.set(this.path, Math.min(synced.get(this.path) ?? Infinity, fs.statSync(this.path).size));
    return r;
  };
  C.writeAtomic = function (this: FsCheckpointDir, ...a: unknown[]) { tick(); return orig.writeAtomic.apply(this, a); };
  C.remove = function (this: FsCheckpointDir, ...a: unknown[]) { tick(); return orig.remove.apply(this, a); };
}
function unhook(): void {
  Object.assign(P, { append: orig.append, sync: orig.sync, truncate: orig.truncate });
  Object.assign(C, { writeAtomic: orig.writeAtomic, remove: orig.remove });
}

function backfillAll(n: FolderNode): void {
  let outs = n.drainInbox();
  for (let i = 0; i < 200; i++) {
    const req = outs.flatMap((o) => o.send).find((s) => s.msg.kind === 'backfill-request');
    if (!req) return;
    const r = req.msg as BackfillRequest;
    outs = [n.step(wire(req.to, make(BackfillResponse, { from: r.from, blocks: decided.slice(r.from, r.to) })))];
  }
}

/** The schedule: repair to 5, a fetch, install at 30, one backfill batch, 30..45 (checkpoint 40), the rest of the backfill, to 55. */
function scenario(n: FolderNode): FolderNode {
  n.repair(0, 5, 5);
  n.repair(5, 9, 34);
  n.installFrom(30);
  const out = n.step(n.inbox.shift()!);
  const req = out.send.find((s) => s.msg.kind === 'backfill-request');
  if (req) {
    const r = req.msg as BackfillRequest;
    n.step(wire(req.to, make(BackfillResponse, { from: r.from, blocks: decided.slice(r.from, r.to) })));
  }
  for (let at = 30; at < 45; at += 5) n.repair(at, at + 5, at + 5);
  backfillAll(n);
  for (let at = 45; at < 55; at += 5) n.repair(at, at + 5, at + 5);
  return n;
}

/** After a restart: catch up to 60 in small steps (never above the threshold), backfill, check. */
function finish(n: FolderNode, label: string): void {
  assert.equal(JSON.stringify([...n.replica.sm.dict].sort()), dictAt(n.replica.commit), `${label}: dictionary at ${n.replica.commit}`);
  backfillAll(n);
  for (let i = 0; i < 40 && n.replica.commit < 60; i++) {
    const c = n.replica.commit;
    n.repair(c, Math.min(60, c + 4), Math.min(60, c + 4));
  }
  backfillAll(n);
  assert.equal(n.replica.commit, 60, `${label}: commit ${n.replica.commit}; ${n.lines.slice(-6).join(' | ')}`);
  assert.equal(n.opened.blocks.hole, null, `${label}: hole ${JSON.stringify(n.opened.blocks.hole)}; backfill ${JSON.stringify(n.replica.catchUp.backfill)}`);
}

describe('attack-fix: a crash at every file operation of a fast catch-up', () => {
  after(unhook);

  it('guard: each crash point, with and without losing the unsynced tails, starts, catches up to 60 and restarts cleanly', () => {
    hook();
    ops = 0;
    crashAt = Infinity;
    const full = scenario(new FolderNode(tmpDir(), POLICY));
    full.die();
    const total = ops;
    assert.ok(total > 20, `${total} ops`);
    if (process.env.ATTACK_LOG) console.log(`total ops ${total}`);
    const failures: string[] = [];
    for (const lose of [false, true]) {
      for (let k = 1; k <= total; k++) {
        const label = `crash at op ${k}/${total}${lose ? ' (unsynced tails lost)' : ''}`;
        const dir = tmpDir();
        synced.clear();
        ops = 0;
        crashAt = k;
        let n: FolderNode | null = null;
        try {
          n = new FolderNode(dir, POLICY);
          scenario(n);
        } catch (e) {
          if (!(e instanceof Crash) && !crashed()) { failures.push(`${label}: ${(e as Error).message}`); crashAt = Infinity; continue; }
        }
        crashAt = Infinity;
        n?.die();
        if (lose) for (const [p, len] of synced) if (p.startsWith(dir) && fs.existsSync(p) && fs.statSync(p).size > len) fs.truncateSync(p, len);
        try {
          const a = new FolderNode(dir, POLICY);
          finish(a, label);
          a.die();
          const b = new FolderNode(dir, POLICY);
          assert.equal(b.replica.commit, 60, `${label}: second start at ${b.replica.commit}`);
          assert.equal(b.inbox.length, 0, `${label}: a backfill at the second start`);
          for (let d = 0; d < 60; d++) assert.equal(blockHash(b.opened.blocks.block(d) ?? decided[119]), blockHash(decided[d]), `${label}: block ${d} in blocks.dat`);
          b.die();
        } catch (e) {
          failures.push(`${label}: ${(e as Error).message.split('\n')[0]}`);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} crash points fail:\n${failures.join('\n')}`);
  });

  it('guard: a second crash at every file operation of the restart and catch-up after every fifth first crash (unsynced tails lost) still leaves a folder that starts and catches up', function () {
    this.timeout(600_000);
    hook();
    const lose = (dir: string): void => { for (const [p, len] of synced) if (p.startsWith(dir) && fs.existsSync(p) && fs.statSync(p).size > len) fs.truncateSync(p, len); };
    const recover = (dir: string): void => {
      const a = new FolderNode(dir, POLICY);
      finish(a, dir);
      a.die();
    };
    ops = 0;
    crashAt = Infinity;
    scenario(new FolderNode(tmpDir(), POLICY)).die();
    const total = ops;
    const failures: string[] = [];
    let runs = 0;
    for (let k1 = 1; k1 <= total; k1 += 5) { // (every fifth first crash point: the full grid, 2,798 runs, passed in 136 s)
      const first = tmpDir();
      synced.clear();
      ops = 0;
      crashAt = k1;
      try { const n = new FolderNode(first, POLICY); try { scenario(n); } finally { n.die(); } } catch (e) { if (!(e instanceof Crash) && !crashed()) throw e; }
      crashAt = Infinity;
      lose(first);
      // how many operations the recovery takes
      const probe = tmpDir();
      fs.cpSync(first, probe, { recursive: true });
      ops = 0;
      crashAt = Infinity;
      try { recover(probe); } catch (e) { failures.push(`crash ${k1}, no second crash: ${(e as Error).message.split('\n')[0]}`); continue; }
      const r = ops;
      for (let k2 = 1; k2 <= r; k2++) {
        const dir = tmpDir();
        fs.cpSync(first, dir, { recursive: true });
        synced.clear();
        ops = 0;
        crashAt = k2;
        let a: FolderNode | null = null;
        try { a = new FolderNode(dir, POLICY); finish(a, dir); } catch (e) { if (!(e instanceof Crash) && !crashed()) { failures.push(`crash ${k1} then ${k2}/${r}: during recovery: ${(e as Error).message.split('\n')[0]}`); crashAt = Infinity; a?.die(); continue; } }
        crashAt = Infinity;
        a?.die();
        lose(dir);
        runs++;
        try { recover(dir); } catch (e) { failures.push(`crash ${k1} then ${k2}/${r}: ${(e as Error).message.split('\n')[0]}`); }
      }
    }
    if (process.env.ATTACK_LOG) console.log(`${runs} double-crash runs`);
    assert.deepEqual(failures, [], `${failures.length} double crash points fail:\n${failures.slice(0, 30).join('\n')}`);
  });
});
