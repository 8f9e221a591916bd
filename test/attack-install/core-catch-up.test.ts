/**
 * attack-install: core schedules of fast catch-up on five cores (test/support/hand-net.ts).
 */
import { strict as assert } from 'node:assert';
import { Accept, BackfillRequest, BackfillResponse, Ballot, Decide, InstallChunk, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { HandNet } from '../support/hand-net';
import { catchUpNet, decided, image, sha, wire } from './support';

const T = Ballot.of(2, 2, 0);
const anchor = (depth: number) => blockHash(decided[depth - 1]);

const net = catchUpNet;

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
  it('durability of a decided block across an install: a node holding undecided votes repairs before it fetches, so it keeps the decided ones (before, the install dropped them and the block was held by a minority)', () => {
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
    assert.equal(n.R[0].catchUp.fetch, null, 'P1 holds undecided votes: no fetch yet');
    // Repair from its decided depth: it learns its own votes 5..29 as decided, then fetches the rest.
    for (let round = 0; round < 20 && !n.R[0].catchUp.fetch && n.R[0].commit < 60; round++) {
      n.deliver('P1', 'P2', 'repair-request');
      n.deliver('P2', 'P1', 'repair');
    }
    assert.ok(n.R[0].commit >= 30, `P1 learned its votes as decided (commit ${n.R[0].commit})`);
    const after = holders(n, 10); // (before the install: after it, HandNet has no blocks.dat to read them from; the node's host wrote them there)
    if (n.R[0].catchUp.fetch) {
      chunkFromP2(n, 1, 60);
      assert.equal(n.R[0].commit, 60, 'P1 installed at 60');
      assert.ok(n.R[0].catchUp.backfill === null || n.R[0].catchUp.backfill.from >= 30, `the hole starts above what P1 had decided: ${JSON.stringify(n.R[0].catchUp.backfill)}`);
    }
    // P2 and P3 crash for good (two failures: the cluster must go on, P1, P4, P5 are a majority).
    const survivors = holders(n, 10, [1, 4, 5]);
    assert.ok(after.length >= 3, `decided block 10 is held by ${after.join(', ')} only (a minority) after P1's install; once P2 and P3 are gone it is held by [${survivors.join(', ')}]: no backfill can ever bring it back`);
  });

  it('guard: undecided votes that arrive while a checkpoint is fetched stop the install below them: the node learns them first and keeps every one', () => {
    const fork = decided.slice(0, 40); // P1 voted for 5..39 = the decided ones
    const n = net([
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 5) }, { t: 'decide', commit: 5 }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 60) }, { t: 'decide', commit: 60 }],
      [], [], [],
    ]);
    n.step(1, wire('P2', make(Decide, { ballot: T, commit: 60, commitHash: anchor(60) })));
    assert.ok(n.R[0].catchUp.fetch, 'P1 (no undecided votes) fetches');
    // While it fetches, an accept of the term brings P1 blocks 5..39 (undecided votes: 30..39 are above the image).
    n.step(1, wire('P2', make(Accept, { ballot: T.at(5), blocks: fork.slice(5), commit: 5, commitHash: anchor(5) })));
    assert.equal(n.R[0].durable.end, 40);
    // P2 serves a checkpoint at 30 (its newest): P1 holds undecided votes below it, so it learns them first.
    chunkFromP2(n, 1, 30);
    assert.equal(n.R[0].commit, 5, 'not installed over undecided votes below its depth');
    for (let round = 0; round < 20 && n.R[0].commit < 30; round++) {
      n.deliver('P1', 'P2', 'repair-request');
      n.deliver('P2', 'P1', 'repair');
    }
    assert.ok(n.R[0].commit >= 30, `learned as decided (commit ${n.R[0].commit})`);
    for (let d = 5; d < 40; d++) assert.equal(blockHash(n.R[0].durable.block(d)!), blockHash(decided[d]), `P1 still holds its vote at ${d}, now decided or tentative`);
  });

  it('a backfill whose peers all answer "none" asks each once, then waits for the retransmit timer (before, it went round at once, forever)', () => {
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
