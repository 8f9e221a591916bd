/**
 * attack-fix: the "votes first" rule (df1e170: a node holding undecided votes repairs before it
 * fetches, and never installs over them) when no live peer can repair it. Five cores driven by a
 * small timed router (ticks, instant fsync, a host that serves `image(60)` and starts the backfill
 * after an install).
 */
import { strict as assert } from 'node:assert';
import { AnyMessage, Ballot, InstallChunk, LeaderRequest, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { DurableRecord, DurableState } from '../../src/core/durable';
import { Input, Replica } from '../../src/core/replica';
import { StateMachine } from '../../src/core/state-machine';
import { cfg, decided, image, random, sha } from '../attack-install/support';

const T = Ballot.of(2, 2, 0);
const anchor = (depth: number) => blockHash(decided[depth - 1]);

class Router {
  readonly R: Replica[];
  readonly inbox: Input[][] = [[], [], [], [], []];
  now = 0;
  throws: string[] = [];
  readonly log: string[] = [];
  constructor(initial: DurableRecord[][], readonly live: Set<number>) {
    this.R = initial.map((recs, i) => {
      const s = DurableState.replay(recs);
      if (s.base === 0) return new Replica(cfg(i + 1, 10), s, random);
      const sm = new StateMachine();
      for (let d = 0; d < s.base; d++) sm.apply(decided[d]);
      return new Replica(cfg(i + 1, 10), s, random, { sm });
    });
  }
  private turn(id: number, inputs: Input[]): void {
    let out;
    try {
      out = this.R[id - 1].stepBatch(inputs, this.now);
    } catch (e) {
      this.throws.push(`P${id}: ${(e as Error).message}`);
      return;
    }
    const me = `P${id}`;
    for (const e of out.events) this.log.push(`${this.now} P${id}: ${e}`);
    const next: Input[] = [];
    if (out.persist.length) next.push({ type: 'synced', through: out.seq });
    if (out.install) next.push({ type: 'backfill', from: 0, to: out.install.base.depth, topHash: out.install.base.anchor });
    for (const s of out.serve) {
      const r = this.R[id - 1];
      const img = image(60);
      const chunk = r.commit >= 60 && s.commit < 60
        ? make(InstallChunk, { depth: 60, sha256: sha(img), total: img.length, offset: 0, data: img.toString('base64') })
        : make(InstallChunk, { depth: 0, sha256: '', total: 0, offset: 0, data: '' });
      this.inbox[Number(s.to.slice(1)) - 1].push({ type: 'message', from: me, msg: chunk });
    }
    for (const s of out.send) {
      if (!s.to.startsWith('P')) continue;
      const to = Number(s.to.slice(1));
      if (!this.live.has(to)) continue;
      this.inbox[to - 1].push({ type: 'message', from: me, msg: s.msg as AnyMessage });
    }
    this.inbox[id - 1].push(...next);
  }
  /** One round: every live node takes a tick and everything sent to it so far (a few passes at one instant). */
  round(ms = 50): void {
    this.now += ms;
    for (const id of this.live) this.inbox[id - 1].push({ type: 'tick' });
    for (let pass = 0; pass < 6; pass++) {
      for (const id of this.live) {
        const ins = this.inbox[id - 1];
        if (ins.length === 0) continue;
        this.inbox[id - 1] = [];
        this.turn(id, ins);
      }
    }
  }
}

describe('attack-fix: undecided votes that no live peer can repair', () => {
  it('P1 votes 5..29, P2/P3 gone, P4 installed at 30: P1 serves its votes to the backfills (each checked back from the anchor), so they complete and the cluster goes on (before, a backfill was served only below the serving node\'s decided depth: nobody could serve them: P1 never caught up and P4 never completed its backfill)', () => {
    // Blocks 0..59 decided by P2, P3 (and P1 for 0..29, P4 for 30..59 after installing at 30).
    // P1 knows only 0..4 decided; P4's backfill below 30 has not run; P5 is empty. Then P2 and P3
    // crash for good: two failures, P1, P4, P5 are a majority and should go on.
    const r = new Router([
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 30) }, { t: 'decide', commit: 5 }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 60) }, { t: 'decide', commit: 60 }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 60) }, { t: 'decide', commit: 60 }],
      [{ t: 'install', depth: 30, anchor: anchor(30) }, { t: 'promise', ballot: T }, { t: 'accept', ballot: T.at(30), from: 30, blocks: decided.slice(30, 60) }, { t: 'decide', commit: 60 }],
      [],
    ], new Set([1, 4, 5]));
    // P4 restarts its backfill below 30 (what its host does at start).
    r.inbox[3].push({ type: 'backfill', from: 0, to: 30, topHash: anchor(30) });
    // A failure detector asks P4 to lead every 2 s (its accepts and decides tell P1 and P5 of 60).
    for (let i = 0; i < 600; i++) {
      if (i % 40 === 0) r.inbox[3].push({ type: 'message', from: 'C1', msg: make(LeaderRequest, {}) });
      r.round(); // 30 s of ticks (election timeout 600 ms)
    }
    assert.deepEqual(r.throws, [], 'no throw out of Replica.step');
    const p1 = r.R[0], p4 = r.R[3];
    // P1's votes 5..29 are the decided blocks (by the hash chain back from P4's anchor at 30).
    for (let d = 5; d < 30; d++) assert.equal(p1.durable.hash(d), blockHash(decided[d]));
    if (process.env.ATTACK_LOG) console.log(r.log.slice(0, 60).join('\n'), '\n...\n', r.log.slice(-30).join('\n'));
    const state = `P1 commit ${p1.commit} end ${p1.durable.end} fetch ${JSON.stringify(p1.catchUp.fetch)}; P4 commit ${p4.commit} backfill ${JSON.stringify(p4.catchUp.backfill)}; P5 commit ${r.R[4].commit}`;
    assert.ok(p1.commit >= 30 || p4.catchUp.backfill === null,
      `after 30 s, nobody can ever learn blocks 5..29 as decided: ${state}. P1 holds them (as undecided votes, and refuses to fetch over them), P4 cannot backfill them (P1 serves a backfill only below its commit 5) and cannot repair P1 (its hole). Meanwhile leader P4 lost its majority ${r.log.filter((l) => l.includes('no majority has answered me')).length} times (P1 never answers its accepts: the three live nodes cannot keep a leader)`);
  });
});
