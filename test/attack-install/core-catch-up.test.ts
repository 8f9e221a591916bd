/**
 * attack-install: core schedules of fast catch-up on five cores (test/support/hand-net.ts).
 */
import { strict as assert } from 'node:assert';
import { BackfillRequest, BackfillResponse, Ballot, Decide, InstallChunk, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { Replica } from '../../src/core/replica';
import { StateMachine } from '../../src/core/state-machine';
import { HandNet } from '../support/hand-net';
import { cfg, decided, image, random, sha, wire } from './support';

const T = Ballot.of(2, 2, 0);
const anchor = (depth: number) => blockHash(decided[depth - 1]);

/** Five cores; a node whose records start with an install gets the dictionary of the decided chain there. */
function net(initial: DurableRecord[][]): HandNet {
  return new HandNet(initial, (id) => cfg(id, 10), random, (c, s, r) => {
    if (s.base === 0) return new Replica(c, s, r);
    const sm = new StateMachine();
    for (let d = 0; d < s.base; d++) sm.apply(decided[d]);
    return new Replica(c, s, r, { sm });
  });
}

/** How many of the five cores hold decided block `depth` (in memory or on their disk), among `up`. */
function holders(n: HandNet, depth: number, up = [1, 2, 3, 4, 5]): number[] {
  return up.filter((id) => {
    const b = n.R[id - 1].durable.block(depth);
    return b !== null && blockHash(b) === blockHash(decided[depth]);
  });
}

/** Node `id` gets P2's checkpoint at `depth` in one chunk (what P2's host serves). */
function chunkFromP2(n: HandNet, id: number, depth: number): void {
  const img = image(depth);
  n.step(id, wire('P2', make(InstallChunk, { depth, sha256: sha(img), total: img.length, offset: 0, data: img.toString('base64') })));
}

describe('attack-install: core schedules', () => {
  it('[FAILS: an install drops the installing node\'s own votes for decided blocks below the installed depth; the block is then held by a minority and is lost for good after two crashes] durability of a decided block across an install', () => {
    // Blocks 0..29 were decided by P1, P2, P3 under <2,2> (P4, P5 away). P1 then missed the
    // decides (it knows only 0..4 are decided) and was cut off. P4 came back and installed P2's
    // checkpoint at 30 (its backfill has not run yet); P2, P3, P4 decided 30..59.
    const n = net([
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 30) }, { t: 'decide', commit: 5 }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 60) }, { t: 'decide', commit: 60 }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 60) }, { t: 'decide', commit: 60 }],
      [{ t: 'install', depth: 30, anchor: anchor(30) }, { t: 'promise', ballot: T }, { t: 'accept', ballot: T.at(30), from: 30, blocks: decided.slice(30, 60) }, { t: 'decide', commit: 60 }],
      [],
    ]);
    assert.deepEqual(holders(n, 10), [1, 2, 3], 'decided block 10: held by the majority that decided it');
    // P1 is back: leader P2's decide says 60. P1 cannot learn it by hash (it holds up to 29), and
    // is 55 behind (threshold 10): it fetches P2's checkpoint and installs it.
    n.step(1, wire('P2', make(Decide, { ballot: T, commit: 60, commitHash: anchor(60) })));
    assert.ok(n.R[0].catchUp.fetch, 'P1 fetches');
    chunkFromP2(n, 1, 60);
    assert.equal(n.R[0].commit, 60, 'P1 installed at 60');
    // P1's blocks 5..29 were decided (P1 held exactly the decided blocks and voted for them),
    // but the install dropped them: it could have learned them (one hash at 29 would tell).
    const after = holders(n, 10);
    // P2 and P3 crash for good (two failures: the cluster must go on, P1, P4, P5 are a majority).
    const survivors = holders(n, 10, [1, 4, 5]);
    assert.ok(after.length >= 3, `decided block 10 is held by ${after.join(', ')} only (a minority) after P1's install; once P2 and P3 are gone it is held by [${survivors.join(', ')}]: no backfill can ever bring it back`);
  });

  it('guard: tentative blocks above the installed depth that link to the anchor are kept (the votes a leader may count), those that do not are dropped', () => {
    const fork = decided.slice(0, 40); // P1 voted for 5..39 = the decided ones
    const n = net([
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: fork }, { t: 'decide', commit: 5 }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 60) }, { t: 'decide', commit: 60 }],
      [], [], [],
    ]);
    n.step(1, wire('P2', make(Decide, { ballot: T, commit: 60, commitHash: anchor(60) })));
    // (learnCommit fails: P1 holds up to 39 < 60) -> fetch; P2 serves a checkpoint at 30 (its newest)
    chunkFromP2(n, 1, 30);
    assert.equal(n.R[0].commit, 30);
    assert.equal(n.R[0].durable.end, 40, 'votes 30..39 kept');
    assert.equal(String(n.R[0].durable.suffixBallot), String(T));
  });

  it('[FAILS: a backfill whose peers all answer "none" re-asks the next peer at once, forever, without waiting] no pacing when no peer can serve yet', () => {
    // P1 installed at 60; every peer answers its backfill requests with none (they are behind
    // 60, or hold a hole there themselves): e.g. the followers had not yet heard that 60 is
    // decided and P2, the peer it installed from, installed at 60 itself.
    const n = net([
      [{ t: 'install', depth: 60, anchor: anchor(60) }, { t: 'promise', ballot: T }],
      [], [], [], [],
    ]);
    n.step(1, { type: 'backfill', from: 0, to: 60, topHash: anchor(60) });
    let requests = 0;
    for (let i = 0; i < 200; i++) {
      const reqs = n.pending().filter((m) => m.from === 'P1' && m.msg.kind === 'backfill-request');
      if (reqs.length === 0) break;
      requests += reqs.length;
      n.drop((m) => m.from === 'P1' && m.msg.kind === 'backfill-request');
      for (const q of reqs) {
        const r = q.msg as BackfillRequest;
        assert.deepEqual([r.from, r.to], [56, 60]);
        n.step(1, wire(q.to, make(BackfillResponse, { from: r.to, blocks: [] })));
      }
    }
    // All of this happened at one instant (no tick): a correct backfill asks each peer at most
    // once, then waits retransmitMs before the next round.
    assert.ok(requests <= 4, `${requests} backfill requests in one instant (and still going)`);
  });
});
