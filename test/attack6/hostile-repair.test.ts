/**
 * Attack 6, side finding (pre-existing, not from commit 7fa16b0): a repair response from an
 * authenticated peer whose block at my commit-1 differs from mine reaches
 * `invariant(...)` in `Replica.learnBlocks` ("peer's decided block ... differs from mine"): an
 * InvariantError thrown out of `step`, which the host loop rethrows from its deferred flush (the
 * node process dies). Elsewhere the core refuses such input with one line (a different block at
 * one depth within a term: "refused instead of failing an invariant").
 */
import { strict as assert } from 'node:assert';
import { Ballot, make, Operation, RepairResponse } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Replica } from '../../src/core/replica';

const cfg = (id: number): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100, batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24,
});
let r = 5;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);

describe('attack6: hostile repair response', () => {
  it('a repair whose block at my commit-1 differs from my decided one is refused, not an invariant failure (an invariant failure before fec1e0e)', () => {
    const T = Ballot.of(1, 2, 0);
    const mine = mineBlock(Operation.of('put', 'k', '"mine"', 'C1', 1), GENESIS_POINTER, random).block;
    const st = new DurableState();
    st.apply({ t: 'promise', ballot: T });
    st.apply({ t: 'accept', ballot: T, from: 0, blocks: [mine] });
    st.apply({ t: 'decide', commit: 1 });
    const a = new Replica(cfg(1), st, random);
    const forged = mineBlock(Operation.of('put', 'k', '"forged"', 'C9', 1), GENESIS_POINTER, random).block;
    const next = mineBlock(Operation.of('put', 'k', '"next"', 'C9', 2), blockHash(forged), random).block;
    assert.doesNotThrow(() => a.step({ type: 'message', from: 'P3', msg: make(RepairResponse, { from: 0, blocks: [forged, next], commit: 2 }) }, 0));
    assert.equal(a.commit, 1);
    assert.equal(a.durable.hash(0), blockHash(mine));
  });
});
