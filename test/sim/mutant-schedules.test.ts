/**
 * Hand-built schedules for two unsafe cores: each decides two different blocks at one depth with
 * the mutant planted, and keeps agreement with the real core — so the rule the mutant breaks is
 * what keeps that schedule safe.
 */
import { strict as assert } from 'node:assert';
import { Ballot, ClientRequest, LeaderRequest, make, Operation, PendingOp } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { CoreConfig, Replica } from '../../src/core/replica';
import { makeReplica, Mutation } from '../../src/sim/mutants';
import { HandNet } from '../support/hand-net';

const cfg = (id: number): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100, batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24,
});
let seed = 7;
const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
const maker = (m?: Mutation) => (c: CoreConfig, s: Parameters<typeof makeReplica>[2], r: () => number): Replica => makeReplica(m, c, s, r, {});
const request = (client: string, value: string) => make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', value, client, 1), client) });

/** Every node's decided block at `depth` (hash), for those that decided one. */
function decidedAt(net: HandNet, depth: number): Set<string> {
  const hashes = new Set<string>();
  for (const r of net.R) if (r.commit > depth) hashes.add(r.durable.hashes[depth]);
  return hashes;
}

/** A client asks node `leader` to lead; only `voters` hear its prepare, fsync and promise. */
function electWith(net: HandNet, leader: number, voters: number[]): void {
  net.step(leader, { type: 'message', from: 'C2', msg: make(LeaderRequest, {}) });
  net.sync(leader);
  for (const v of voters) net.deliver(`P${leader}`, `P${v}`, 'prepare');
  for (const v of voters) net.sync(v);
  for (const v of voters) net.deliver(`P${v}`, `P${leader}`, 'promise');
}

/** The leader's accepts reach `voters`, who fsync and answer. */
function replicateTo(net: HandNet, leader: number, voters: number[]): void {
  for (const v of voters) net.deliver(`P${leader}`, `P${v}`, 'accept');
  for (const v of voters) net.sync(v);
  for (const v of voters) net.deliver(`P${v}`, `P${leader}`, 'accepted');
}

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

/** Four blocks of about 400 estimated bytes each; an accept holds two under `cutCfg`'s 1,000-byte cap. */
const cutCfg = (id: number): CoreConfig => ({ ...cfg(id), batchMaxBytes: 1000 });
const bigPut = (client: string, req: number) =>
  make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', `"${'v'.repeat(60)}-${req}"`, client, req), client) });

/**
 * P4 leads <1,4> and replicates four blocks to P1 and P2, whose accepted replies are still on
 * their way to it. P2 wins <2,2> with P1 and P3 and adopts the four blocks; its first accept to
 * P1 is cut by the byte cap to the first two. Then P4's delayed replies arrive and it decides all
 * four (P1, P2 and P4 held them under <1,4>). Then P3 wins <3,3> with P1 and P5 only, and puts
 * a new block: at depth 2 if P1 forgot its blocks beyond the cut, past depth 4 if it kept them.
 */
function cutAcceptSchedule(m?: Mutation): HandNet {
  const net = new HandNet([[], [], [], [], []], cutCfg, random, maker(m));
  electWith(net, 4, [1, 2]);
  assert.ok(net.R[3].isLeader, 'P4 won <1,4> with P1 and P2');
  net.sync(4);
  net.drop(() => true);
  for (let i = 1; i <= 4; i++) net.step(4, { type: 'message', from: 'C1', msg: bigPut('C1', i) });
  for (let round = 0; round < 4; round++) {
    for (const v of [1, 2]) net.deliver('P4', `P${v}`, 'accept');
    for (const v of [1, 2]) net.sync(v);
    net.step(4, { type: 'tick' });
  }
  net.sync(4);
  assert.equal(net.R[0].durable.end, 4, 'P1 holds the four blocks');
  assert.equal(net.R[1].durable.end, 4, 'P2 holds the four blocks');
  const late = net.pending().filter((x) => x.to === 'P4' && x.msg.kind === 'accepted');
  net.drop((x) => x.to === 'P4' || x.from === 'P4'); // P4 freezes: its replies wait (kept in `late`)
  electWith(net, 2, [1, 3]);
  assert.ok(net.R[1].isLeader, 'P2 won <2,2> with P1 and P3');
  net.sync(2);
  const first = net.pending().find((x) => x.from === 'P2' && x.to === 'P1' && x.msg.kind === 'accept')!;
  assert.equal((first.msg as import('../../messages').Accept).blocks.length, 2, "the byte cap cut P2's first accept to P1");
  net.drop((x) => !(x.from === 'P2' && x.to === 'P1' && x.msg === first.msg));
  net.deliver('P2', 'P1', 'accept');
  net.sync(1);
  net.drop(() => true);
  for (const x of late) net.step(4, { type: 'message', from: x.from, msg: x.msg }); // P4 thaws
  assert.equal(net.R[3].commit, 4, 'P4 decided all four blocks with P1 and P2');
  net.drop(() => true);
  electWith(net, 3, [1, 5]);
  assert.ok(net.R[2].isLeader, 'P3 won <3,3> with P1 and P5');
  net.sync(3);
  net.step(3, { type: 'message', from: 'C2', msg: request('C2', '"other"') });
  net.sync(3);
  for (let round = 0; round < 6; round++) {
    net.step(3, { type: 'tick' });
    replicateTo(net, 3, [1, 5]);
    net.sync(3);
  }
  assert.ok(net.R[2].commit >= 3, `P3 decided past depth 2 (commit ${net.R[2].commit})`);
  return net;
}

describe('mutants: hand-built schedules that break agreement only with the bug planted', () => {
  it("forget-cut-tail: an acceptor that drops its blocks beyond a new leader's cut first accept loses a decided block; keeping the ones the leader's log holds does not", () => {
    assert.equal(decidedAt(cutAcceptSchedule(), 2).size, 1, 'the real core: P1 kept blocks 2 and 3, so P3 adopted them');
    assert.equal(decidedAt(cutAcceptSchedule('forget-cut-tail'), 2).size, 2, 'the mutant: P3 decided its own block at depth 2, which P4 decided too');
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
