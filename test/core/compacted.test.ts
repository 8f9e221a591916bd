/**
 * The core on a chain whose older decided blocks are on disk, not in memory (issue 15): what it
 * compares with a peer's blocks must not depend on where its own blocks are kept.
 */
import { strict as assert } from 'node:assert';
import { Accept, Ballot, Block, make, Operation, RepairRequest } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Replica } from '../../src/core/replica';

const cfg = (id: number): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100, batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24,
});
let r = 5;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);

function chain(n: number, tag: string, head = GENESIS_POINTER): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < n; i++) {
    const { block } = mineBlock(Operation.of('put', `k${i}`, `"${tag}${i}"`, 'C1', i + 1), head, random);
    head = blockHash(block);
    out.push(block);
  }
  return out;
}

/** A follower that decided `blocks` under term <1,1>, with all but the last `window` of them compacted to "disk". */
function follower(blocks: Block[], window: number): Replica {
  const s = new DurableState();
  s.apply({ t: 'promise', ballot: Ballot.of(1, 1, 0) });
  s.apply({ t: 'accept', ballot: Ballot.of(1, 1, 0), from: 0, blocks });
  s.apply({ t: 'decide', commit: blocks.length });
  const n = new Replica(cfg(3), s, random);
  s.compact(blocks.length - window, { block: (d) => blocks[d] ?? null }); // (as the host does while the node runs)
  return n;
}

describe('core: a decided prefix kept on disk', () => {
  for (const window of [10, 1, 0]) {
    it(`refuses a stale leader's accept whose block below my decided head lost, even when it stops short of the head (window ${window})`, () => {
      const decided = chain(10, 'a');
      const n = follower(decided, window);
      // A leader of a higher term whose log lost at depth 3 (another block was decided there), sending 2 blocks from depth 2.
      const fork = [decided[2], ...chain(1, 'x', blockHash(decided[2]))];
      const accept = make(Accept, { ballot: Ballot.of(2, 2, 2), blocks: fork, commit: 2, commitHash: blockHash(decided[1]) });
      const out = n.step({ type: 'message', from: 'P2', msg: accept }, 1000);
      assert.deepEqual(out.send.map((s) => s.msg.kind), ['nack'], 'refused: no accepted reply vouching for the lost block');
      assert.equal(out.persist.filter((p) => p.t === 'accept').length, 0);
      // The same leader with the right blocks is accepted.
      const good = make(Accept, { ballot: Ballot.of(2, 2, 2), blocks: decided.slice(2, 4), commit: 2, commitHash: blockHash(decided[1]) });
      const ok = n.step({ type: 'message', from: 'P2', msg: good }, 1001);
      assert.deepEqual(ok.send.map((s) => s.msg.kind), ['accepted']);
    });
  }

  it('serves a repair from blocks on disk exactly as from memory', () => {
    const decided = chain(10, 'b');
    const inMemory = follower(decided, 10);
    const onDisk = follower(decided, 0);
    assert.equal(onDisk.durable.base, 10);
    for (const n of [inMemory, onDisk]) {
      const out = n.step({ type: 'message', from: 'P4', msg: make(RepairRequest, { from: 3 }) }, 0);
      const rep = out.send.find((s) => s.msg.kind === 'repair')!.msg as unknown as { from: number; blocks: Block[] };
      assert.equal(rep.from, 3);
      assert.deepEqual(rep.blocks.map(blockHash), decided.slice(3, 7).map(blockHash), 'batchMax blocks from depth 3');
    }
  });
});
