/**
 * Hand-built schedules for two unsafe cores: each decides two different blocks at one depth with
 * the mutant planted, and keeps agreement with the real core — so the rule the mutant breaks is
 * what keeps that schedule safe.
 */
import { strict as assert } from 'node:assert';
import { Ballot, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { CoreConfig, Replica } from '../../src/core/replica';
import { makeReplica, Mutation } from '../../src/sim/mutants';
import { HandNet } from '../support/hand-net';
import { cutAcceptSchedule, decidedAt, electWith, handCfg, lcg, putRequest, replicateTo } from '../support/hand-schedules';

const cfg = (id: number): CoreConfig => handCfg(id);
const random = lcg(7);
const maker = (m?: Mutation) => (c: CoreConfig, s: Parameters<typeof makeReplica>[2], r: () => number): Replica => makeReplica(m, c, s, r, {});
const request = (client: string, value: string) => putRequest(client, value);

/**
 * P1 led <1,1> alone in a minority and holds three blocks of its own there. P2 led <2,2> with
 * P3 and P4 and decided β at depth 0 (P3 and P4 hold β but have not heard it is decided).
 * P3 runs for <3,3> with promises from P1 (the longest suffix, of the older term) and P5.
 */
function adoptionSchedule(m?: Mutation): HandNet {
  const T0 = Ballot.of(1, 1, 0), T1 = Ballot.of(2, 2, 0);
  const stale: ReturnType<typeof mineBlock>['block'][] = [];
  let head = GENESIS_POINTER;
  for (let i = 0; i < 3; i++) {
    const b = mineBlock(Operation.of('put', 'k', `"stale-${i}"`, 'C9', i + 1), head, random).block;
    stale.push(b);
    head = blockHash(b);
  }
  const beta = mineBlock(Operation.of('put', 'k', '"beta"', 'C1', 1), GENESIS_POINTER, random).block;
  const holdsBeta: DurableRecord[] = [{ t: 'promise', ballot: T1 }, { t: 'accept', ballot: T1, from: 0, blocks: [beta] }];
  const initial: DurableRecord[][] = [
    [{ t: 'promise', ballot: T0 }, { t: 'accept', ballot: T0, from: 0, blocks: stale }],
    [...holdsBeta, { t: 'decide', commit: 1 }],
    holdsBeta,
    holdsBeta,
    [],
  ];
  const net = new HandNet(initial, cfg, random, maker(m));
  electWith(net, 3, [1, 5]);
  assert.ok(net.R[2].isLeader, 'P3 won <3,3> with P1 and P5');
  net.sync(3);
  net.step(3, { type: 'tick' });
  replicateTo(net, 3, [1, 5]);
  assert.ok(net.R[2].commit >= 1, 'P3 decided depth 0');
  return net;
}

/**
 * P1 leads <1,1>; it proposes β and sends it to P2 and P3, who accept it durably; P1 crashes
 * before its own fsync completes. If it counted its own vote early, it decided β and told P2.
 * Then P4 wins <1,4> with P1 (restarted, without β) and P5, and proposes β′ at depth 0.
 */
function ownVoteSchedule(m?: Mutation): HandNet {
  const net = new HandNet([[], [], [], [], []], cfg, random, maker(m));
  electWith(net, 1, [2, 3]);
  assert.ok(net.R[0].isLeader);
  net.sync(1);
  net.drop(() => true);
  net.step(1, { type: 'message', from: 'C1', msg: request('C1', '"beta"') }); // written, not yet fsynced
  net.step(1, { type: 'tick' });
  replicateTo(net, 1, [2, 3]);
  net.step(1, { type: 'tick' });
  net.deliver('P1', 'P2', 'decide');
  net.deliver('P1', 'P2', 'accept'); // (a decide may ride on an accept)
  net.crash(1); // before P1's fsync of β completed
  net.drop(() => true);
  electWith(net, 4, [1, 5]);
  assert.ok(net.R[3].isLeader, 'P4 won with P1 and P5');
  net.sync(4);
  net.step(4, { type: 'message', from: 'C2', msg: request('C2', '"beta-prime"') });
  net.sync(4);
  net.step(4, { type: 'tick' });
  replicateTo(net, 4, [1, 5]);
  net.sync(4);
  assert.ok(net.R[3].commit >= 1, 'P4 decided depth 0');
  return net;
}

describe('mutants: hand-built schedules that break agreement only with the bug planted', () => {
  it("forget-cut-tail: an acceptor that drops its blocks beyond a new leader's cut first accept loses a decided block; keeping the ones the leader's log holds does not", () => {
    assert.equal(decidedAt(cutAcceptSchedule(maker(), random).net, 2).size, 1, 'the real core: P1 kept blocks 2 and 3, so P3 adopted them');
    assert.equal(decidedAt(cutAcceptSchedule(maker('forget-cut-tail'), random).net, 2).size, 2, 'the mutant: P3 decided its own block at depth 2, which P4 decided too');
  });

  it('adopt-longest: adopting the longest promised suffix decides a second block at a decided depth; the highest-term rule does not', () => {
    assert.equal(decidedAt(adoptionSchedule(), 0).size, 1, 'the real core re-proposes β');
    assert.equal(decidedAt(adoptionSchedule('adopt-longest'), 0).size, 2, 'the mutant decides the stale block over β');
  });

  it("leader-vote-early: counting the leader's own vote before its fsync decides a block a crash then loses; waiting for the fsync does not", () => {
    const real = ownVoteSchedule();
    assert.equal(decidedAt(real, 0).size, 1);
    assert.equal(real.replies.filter((r) => r.to === 'C1').length, 0, 'β was never acknowledged');
    const bad = ownVoteSchedule('leader-vote-early');
    assert.equal(decidedAt(bad, 0).size, 2, 'P2 decided β, P4 decided β′ at the same depth');
    assert.equal(bad.replies.filter((r) => r.to === 'C1').length, 1, 'and the client was told β took effect');
  });
});
