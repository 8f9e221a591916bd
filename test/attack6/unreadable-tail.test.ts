/**
 * Attack 6: the tail of a cut accept that stops below the acceptor's decided prefix.
 *
 * `Replica.acceptTail` stops at the first of its blocks it cannot read (below its in-memory
 * window, a damaged blocks.dat: `OlderBlocks.block` returns null, a case the core handles on
 * purpose) — and `DurableState.range` stops there too, so the accept carries no blocks and no
 * hashes: `{ from: c, blocks: [], end, tail: '' }`. Its comment says the acceptor then "keeps
 * less, or refuses". But `keptBeyondCut` compares from `max(cut, base)`: when the cut lies below
 * the acceptor's decided prefix (base) and the tail does not reach it, `keep` stays at `base`,
 * which is not `cut + hashes`, so the refusal is skipped and it returns [] — the acceptor enters
 * the new term dropping every tentative vote above its decided prefix, the very votes commit
 * 7fa16b0 set out to keep. An older leader then counts them: a decided block held by two nodes,
 * and a later leader decides another block at the same depth.
 */
import { strict as assert } from 'node:assert';
import { Accept, Ballot, Decide, LeaderRequest, make, Operation } from '../../messages';
import { blockHash, mineBlock } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Replica } from '../../src/core/replica';
import { HandNet } from '../support/hand-net';
import { decidedAt, electWith, handCfg, holdersOf, lcg, minedChain, putRequest, votedState } from '../support/hand-schedules';

const cfg = (id: number): CoreConfig => handCfg(id);
const random = lcg(23);
const put = (client: string, req: number, value: string) => putRequest(client, value, req);

const holders = (net: HandNet, depth: number, hash: string) => holdersOf(net, depth, hash);

describe('attack6: a cut accept whose tail stops below the acceptor\'s decided prefix', () => {
  it('the unit rule: a tail that does not reach my suffix is refused, also when the cut lies below my decided prefix (dropped the votes silently before fec1e0e)', () => {
    const T0 = Ballot.of(1, 4, 0);
    const chain = minedChain(6, '', random);
    const st = votedState(chain, T0, 2);
    const a = new Replica(cfg(1), st, random);
    // What a leader of <2,2> whose blocks 0 and 1 are unreadable sends for next = 0.
    const out = a.step({ type: 'message', from: 'P2', msg: make(Accept, { ballot: Ballot.of(2, 2, 0), blocks: [], commit: 2, commitHash: blockHash(chain[1]), end: 6, tail: '' }) }, 0);
    assert.equal(a.durable.end, 6, `its votes for blocks 2..5 are still held (end ${a.durable.end})`);
    assert.ok(!out.persist.some((x) => x.t === 'accept'), 'no accept record that truncates them');
  });

  it('end to end: the new leader P2 cannot read blocks 0 and 1; P1 keeps the votes P4 then counts, and one block is decided at depth 2 (before fec1e0e P1 dropped them and P3 decided another)', () => {
    const net = new HandNet([[], [], [], [], []], cfg, random);
    // P4 leads <1,4> with P1 and P2.
    electWith(net, 4, [1, 2]);
    assert.ok(net.R[3].isLeader);
    net.sync(4);
    net.drop(() => true);
    // b0, b1 go out (accept commit 0); then b2..b5 go out before any answer (accept from 2, commit 0).
    net.step(4, { type: 'message', from: 'C1', msg: put('C1', 1, '"b0"') });
    net.step(4, { type: 'message', from: 'C1', msg: put('C1', 2, '"b1"') });
    for (let i = 3; i <= 6; i++) net.step(4, { type: 'message', from: 'C1', msg: put('C1', i, `"b${i - 1}"`) });
    net.sync(4);
    assert.equal(net.R[3].durable.end, 6);
    const toP = (v: number) => net.pending().filter((x) => x.from === 'P4' && x.to === `P${v}` && x.msg.kind === 'accept');
    assert.ok(toP(1).length >= 1 && toP(2).length >= 1, 'accepts to P1 and P2');
    for (const v of [1, 2]) net.deliver('P4', `P${v}`, 'accept');
    for (const v of [1, 2]) net.sync(v);
    assert.equal(net.R[0].durable.end, 6, 'P1 holds b0..b5');
    assert.equal(net.R[0].commit, 0, 'P1 has decided nothing yet');
    assert.equal(net.R[1].durable.end, 6, 'P2 holds b0..b5');
    // P4 hears P2 fully and P1 only for the first two blocks: it decides 2. P1's later replies are late.
    const fromP1 = net.pending().filter((x) => x.from === 'P1' && x.to === 'P4' && x.msg.kind === 'accepted');
    const late = fromP1.filter((x) => (x.msg as import('../../messages').Accepted).end > 2);
    const early = fromP1.filter((x) => (x.msg as import('../../messages').Accepted).end <= 2);
    assert.ok(late.length >= 1 && early.length >= 1, `P1 answered each accept (${fromP1.map((x) => (x.msg as import('../../messages').Accepted).end)})`);
    net.drop((x) => late.includes(x) || early.includes(x));
    for (const x of early) net.step(4, { type: 'message', from: 'P1', msg: x.msg });
    net.deliver('P2', 'P4', 'accepted');
    net.sync(4);
    assert.equal(net.R[3].commit, 2, 'P4 decided b0, b1');
    // P4's commit reaches P2 (a decide), and a decide for P1 waits on the wire.
    net.drop(() => true);
    net.step(4, { type: 'tick' });
    const decideP1 = net.pending().find((x) => x.from === 'P4' && x.to === 'P1' && (x.msg.kind === 'decide' || x.msg.kind === 'accept'));
    assert.ok(decideP1, 'P4 owes P1 its commit');
    net.deliver('P4', 'P2', 'decide');
    net.deliver('P4', 'P2', 'accept');
    net.sync(2);
    assert.equal(net.R[1].commit, 2, 'P2 learned commit 2');
    net.drop(() => true); // P4 freezes (its late reply from P1 kept in `late`)
    // P2's blocks 0 and 1 are decided and moved out of memory, and its blocks.dat cannot give them back.
    net.R[1].durable.compact(2, { block: () => null });
    // P2 wins <2,2> with P1 (commit 0, suffix b0..b5) and P3.
    electWith(net, 2, [1, 3]);
    assert.ok(net.R[1].isLeader, 'P2 won <2,2> with P1 and P3');
    net.sync(2);
    const first = net.pending().find((x) => x.from === 'P2' && x.to === 'P1' && x.msg.kind === 'accept');
    assert.ok(first, 'P2 sent P1 an accept');
    const acc = first!.msg as Accept;
    assert.deepEqual([acc.ballot.depth, acc.blocks.length, acc.end, acc.tail], [0, 0, 6, ''], 'from P1\'s commit 0: nothing readable, so no blocks and no hashes');
    net.drop((x) => x !== first);
    // Meanwhile P1 learns that 0 and 1 are decided (P4's commit, late: P1 refuses the stale term but takes the fact).
    net.step(1, { type: 'message', from: 'P4', msg: decideP1!.msg });
    assert.equal(net.R[0].commit, 2, 'P1 decided b0, b1');
    const b2 = net.R[0].durable.hash(2)!;
    net.deliver('P2', 'P1', 'accept');
    net.sync(1);
    // P4 thaws: P1's late reply says it held b0..b5 under <1,4>.
    net.drop(() => true);
    for (const x of late) net.step(4, { type: 'message', from: 'P1', msg: x.msg });
    net.sync(4);
    assert.equal(net.R[3].commit, 6, 'P4 decided b2..b5 with P1, P2 and itself');
    const heldBy = holders(net, 2, b2); // (checked at the end, after the agreement check)
    // P3 wins <3,3> with P1 and P5 and decides its own block at depth 2.
    net.drop(() => true);
    net.step(3, { type: 'message', from: 'C2', msg: make(LeaderRequest, {}) });
    for (let round = 0; round < 3 && !net.R[2].isLeader; round++) {
      net.sync(3);
      for (const v of [1, 5]) net.deliver('P3', `P${v}`, 'prepare');
      for (const v of [1, 5]) net.sync(v);
      for (const v of [1, 5]) { net.deliver(`P${v}`, 'P3', 'promise'); net.deliver(`P${v}`, 'P3', 'nack'); }
      net.drop((x) => x.from !== 'P3');
    }
    assert.ok(net.R[2].isLeader, 'P3 won with P1 and P5');
    net.sync(3);
    net.step(3, { type: 'message', from: 'C3', msg: put('C3', 1, '"other"') });
    net.sync(3);
    for (let round = 0; round < 6; round++) {
      net.step(3, { type: 'tick' });
      for (const v of [1, 5]) net.deliver('P3', `P${v}`, 'accept');
      for (const v of [1, 5]) net.deliver('P3', `P${v}`, 'repair');
      for (const v of [1, 5]) net.sync(v);
      for (const v of [1, 5]) net.deliver(`P${v}`, 'P3', 'accepted');
      net.sync(3);
    }
    assert.ok(net.R[2].commit > 2, `P3 decided depth 2 (commit ${net.R[2].commit})`);
    assert.equal(decidedAt(net, 2).size, 1, `one block decided at depth 2 (P4 decided b2, P3 decided ${net.R[2].durable.hash(2) === b2 ? 'b2' : 'another'})`);
    assert.ok(heldBy.length >= 3, `decided b2 must stay held by a majority; held by ${heldBy.join(',')}`);
  });
});
