/**
 * Attack 6: schedules around commit 7fa16b0 (an acceptor entering a new term on a byte-capped
 * accept keeps its blocks beyond the cut that the leader's `tail` names) that the real core
 * survives. Each asserts the safety property, so it guards the rule.
 */
import { strict as assert } from 'node:assert';
import { Accept, Accepted, Ballot, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Output, Replica } from '../../src/core/replica';
import { HandNet } from '../support/hand-net';
import { cutAcceptSchedule, decidedAt, handCfg, holdersOf, lcg, minedChain } from '../support/hand-schedules';
import { makeReplica, Mutation } from '../../src/sim/mutants';

const cfg = (id: number): CoreConfig => handCfg(id);
const random = lcg(31);
const chainOf = (n: number, tag: string) => minedChain(n, tag, random);
const holders = (net: HandNet, depth: number, hash: string) => holdersOf(net, depth, hash).length;
/** The cut-accept schedule (test/support/hand-schedules.ts) with a twist between P1 entering <2,2> and P4's thaw. */
const schedule = (twist: (net: HandNet, first: Accept) => void, m?: Mutation) => cutAcceptSchedule((c, st, r) => makeReplica(m, c, st, r, {}), random, twist);

describe('attack6 guards: byte-capped accepts into a new term (these pass on 7fa16b0)', () => {
  const crashAfterEntering = (n: HandNet) => {
    n.deliver('P2', 'P1', 'accept');
    n.sync(1);
    n.crash(1);
  };

  it('P1 crashes after entering <2,2> on the cut accept and restarts from its records: it still holds the four blocks, and one block is decided at depth 2', () => {
    const { net, b2 } = schedule((n, f) => {
      crashAfterEntering(n);
      assert.equal(n.R[0].durable.end, 4, 'replayed from disk: blocks 2, 3 kept under <2,2>');
      void f;
    });
    assert.equal(decidedAt(net, 2).size, 1);
    assert.ok(holders(net, 2, b2) >= 3);
  });

  it('(the guard bites: with the forget-cut-tail mutant the same crash schedule decides two blocks at depth 2)', () => {
    const { net } = schedule(crashAfterEntering, 'forget-cut-tail');
    assert.equal(decidedAt(net, 2).size, 2);
  });

  it('P1 crashes after writing, before fsyncing, its entry into <2,2>: it restarts with its <1,4> votes', () => {
    const { net, b2 } = schedule((n) => {
      n.deliver('P2', 'P1', 'accept');
      n.crash(1);
      assert.equal(n.R[0].durable.end, 4);
    });
    assert.equal(decidedAt(net, 2).size, 1);
    assert.ok(holders(net, 2, b2) >= 3);
  });

  it('the cut accept arrives twice (duplicated) and a later part of <2,2> arrives before it: one block at depth 2', () => {
    const { net, b2 } = schedule((n, first) => {
      // A second part from depth 2 (what P2 sends after P1 answers) arrives before the first: a gap.
      const part2 = make(Accept, { ballot: first.ballot.at(2), blocks: [n.R[1].durable.held(2), n.R[1].durable.held(3)], commit: 0, commitHash: first.commitHash });
      n.step(1, { type: 'message', from: 'P2', msg: part2 });
      assert.equal(n.R[0].durable.end, 4, 'a gap into a new term changes nothing');
      n.deliver('P2', 'P1', 'accept');
      n.step(1, { type: 'message', from: 'P2', msg: first });
      n.step(1, { type: 'message', from: 'P2', msg: part2 });
      n.sync(1);
      assert.equal(n.R[0].durable.end, 4);
    });
    assert.equal(decidedAt(net, 2).size, 1);
    assert.ok(holders(net, 2, b2) >= 3);
  });

  it('unit: out of order within a term, a stale cut accept after more, a cut below my decided prefix with a full tail, and a stale term', () => {
    const S = Ballot.of(1, 4, 0), T = Ballot.of(2, 2, 0);
    const c = chainOf(6, 'b');
    const h = c.map(blockHash);
    const fresh = (commit: number) => {
      const st = new DurableState();
      st.apply({ t: 'promise', ballot: S });
      st.apply({ t: 'accept', ballot: S, from: 0, blocks: c });
      if (commit) st.apply({ t: 'decide', commit });
      return new Replica(cfg(1), st, random);
    };
    const acc = (from: number, n: number, end: number, tail = '', ballot = T) => make(Accept, { ballot: ballot.at(from), blocks: c.slice(from, from + n), commit: 0, commitHash: '', end, tail });
    const send = (a: Replica, m: Accept): Output => a.step({ type: 'message', from: 'P2', msg: m }, 0);
    const ended = (o: Output) => (o.send.find((x) => x.msg.kind === 'accepted')?.msg as Accepted | undefined)?.end;

    // Out of order: the part from 2 first (a gap), then the cut first part with its tail.
    let a = fresh(0);
    assert.equal(ended(send(a, acc(2, 2, 0))), undefined);
    assert.equal(a.durable.end, 6);
    assert.equal(ended(send(a, acc(0, 2, 6, h.slice(2).join('')))), 6, 'enters <2,2> keeping 2..5');
    // Stale cut accept of <2,2> (built when the leader's log ended at 4) after more: nothing dropped.
    assert.equal(ended(send(a, acc(0, 1, 4, h.slice(1, 4).join('')))), 6);
    assert.equal(a.durable.end, 6);
    // The next part of the same term: overlaps, nothing new.
    assert.equal(ended(send(a, acc(4, 2, 0))), 6);
    // A stale term: refused.
    const stale = send(a, acc(0, 1, 6, h.slice(1).join(''), Ballot.of(1, 9, 0)));
    assert.ok(stale.send.some((x) => x.msg.kind === 'nack') && a.durable.end === 6);

    // Cut below my decided prefix (commit 3), with a tail that reaches past it: blocks 3..5 kept.
    a = fresh(3);
    assert.equal(ended(send(a, acc(0, 1, 6, h.slice(1).join('')))), 6);
    assert.equal(a.durable.end, 6);
    assert.equal(Ballot.compareTerm(a.durable.suffixBallot!, T), 0);
    // Same, but the leader's log differs at 4: 3 kept, 4 and 5 dropped.
    a = fresh(3);
    assert.equal(ended(send(a, acc(0, 1, 6, h.slice(1, 4).join('') + 'f'.repeat(128)))), 4);
    // Same, but the tail stops at exactly my decided prefix and the leader's log goes on: refused, votes kept.
    a = fresh(3);
    assert.equal(ended(send(a, acc(0, 1, 6, h.slice(1, 3).join('')))), undefined);
    assert.equal(a.durable.end, 6);
    // A tail of the right length naming one block beyond the leader's end: refused as malformed.
    a = fresh(0);
    assert.equal(ended(send(a, acc(0, 2, 4, h.slice(2).join('')))), undefined);
    assert.equal(a.durable.end, 6);
  });
});
