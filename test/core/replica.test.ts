import { strict as assert } from 'node:assert';
import {
  Accept, AnyMessage, Ballot, ClientReply, ClientRequest, Decide, LeaderRequest, make, Nack, Operation, PendingOp, Prepare, PromiseMsg,
  Redirect, Refused, RepairRequest, RepairResponse,
} from '../../messages';
import { ClientCore } from '../../src/client/client-core';
import { minedChain, votedState } from '../support/hand-schedules';
import { blockHash, mineBlock } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Output, Replica } from '../../src/core/replica';

const cfg = (id: number, over: Partial<CoreConfig> = {}): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100, batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24, ...over,
});
let r = 1;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);

/** Five cores on a perfect synchronous network, for unit-level scenarios. */
class Net {
  readonly nodes: Replica[] = [];
  readonly replies: ClientReply[] = [];
  readonly log: { from: string; to: string; msg: AnyMessage }[] = [];
  readonly down = new Set<number>();
  now = 0;
  constructor(over: Partial<CoreConfig> = {}) {
    for (let i = 1; i <= 5; i++) this.nodes.push(new Replica(cfg(i, over), new DurableState(), random));
  }
  step(id: number, from: string, msg: AnyMessage): Output {
    const out = this.nodes[id - 1].step({ type: 'message', from, msg }, this.now);
    this.queue(`P${id}`, out);
    return out;
  }
  private pending: { from: string; to: string; msg: AnyMessage }[] = [];
  queue(from: string, out: Output): void {
    for (const s of out.send) this.pending.push({ from, to: s.to, msg: s.msg });
  }
  /** Delivers everything, then ticks every live node (at the same `now`: only owed decides go out) until quiet. */
  run(limit = 10_000): void {
    this.drain(limit);
    for (let round = 0; round < 3; round++) {
      this.tickAll();
      if (this.pending.length === 0) return;
      this.drain(limit);
    }
  }
  /** One tick on every live node, at the current `now`. */
  tickAll(): void {
    for (let id = 1; id <= 5; id++) if (!this.down.has(id)) this.queue(`P${id}`, this.nodes[id - 1].step({ type: 'tick' }, this.now));
  }
  drain(limit: number): void {
    while (this.pending.length > 0 && limit-- > 0) {
      const m = this.pending.shift()!;
      this.log.push(m);
      if (m.to.startsWith('C')) { if (m.msg.kind === 'reply') this.replies.push(m.msg as ClientReply); continue; }
      const id = Number(m.to.slice(1));
      if (this.down.has(id) || this.down.has(Number(m.from.slice(1)))) continue;
      this.step(id, m.from, m.msg);
    }
  }
  request(to: number, client: string, req: number, op: 'put' | 'get', key: string, value?: string): void {
    this.step(to, client, make(ClientRequest, { pending: PendingOp.of(Operation.of(op, key, value, client, req), client) }));
    this.run();
  }
  elect(id: number): void {
    this.step(id, 'C1', make(LeaderRequest, {}));
    this.run();
  }
  /** P1 leads and decides C1's puts 1..n (`put(i)` gives key and value) while P5 is down; then P5 is back, behind. */
  static withP5Behind(n: number, put: (i: number) => [string, string], over: Partial<CoreConfig> = {}): Net {
    const net = new Net(over);
    net.elect(1);
    net.down.add(5);
    for (let i = 1; i <= n; i++) net.request(1, 'C1', i, 'put', ...put(i));
    net.down.clear();
    return net;
  }
}

describe('core: acceptor rules', () => {
  it('persists a promise before replying, and refuses lower ballots saying why', () => {
    const a = new Replica(cfg(3), new DurableState(), random);
    const out = a.step({ type: 'message', from: 'P1', msg: make(Prepare, { ballot: Ballot.of(2, 1, 0) }) }, 0);
    assert.deepEqual(out.persist.map((x) => x.t), ['promise']);
    assert.equal(out.sync, true, 'the promise must be fsynced before it is sent');
    assert.equal(out.send[0].msg.kind, 'promise');
    const low = a.step({ type: 'message', from: 'P2', msg: make(Prepare, { ballot: Ballot.of(1, 2, 0) }) }, 0);
    assert.equal(low.persist.length, 0);
    const nack = low.send[0].msg as Nack;
    assert.equal(nack.kind, 'nack');
    assert.equal(nack.reason, 'ballot');
    assert.equal(nack.promised.toString(), '<2,1,0>');
    const acc = a.step({ type: 'message', from: 'P2', msg: make(Accept, { ballot: Ballot.of(1, 2, 0), blocks: [], commit: 0, commitHash: '' }) }, 0);
    assert.equal((acc.send[0].msg as Nack).reason, 'ballot', 'an accept under a lower term is refused too');
  });

  it('refuses a prepare below its decided depth and hands over the missing decided blocks', () => {
    const net = new Net();
    net.elect(1);
    for (let i = 1; i <= 6; i++) net.request(1, 'C1', i, 'put', 'k', `{"v":${i}}`);
    assert.equal(net.nodes[0].commit, 6);
    const out = net.nodes[2].step({ type: 'message', from: 'P5', msg: make(Prepare, { ballot: Ballot.of(9, 5, 1) }) }, 0);
    const nack = out.send[0].msg as Nack;
    assert.equal(nack.reason, 'behind');
    assert.ok(net.nodes[2].commit >= 5);
    assert.equal(nack.blocks.length, Math.min(4, net.nodes[2].commit - 1), 'a batch of at most batchMax blocks from the candidate depth');
    assert.equal(out.persist.length, 0, 'no promise is made');
  });

  it('rejects an accept that does not link to what it holds (gap), naming where to resume', () => {
    const net = new Net();
    net.elect(1);
    net.request(1, 'C1', 1, 'put', 'k', '1');
    const leaderBallot = net.nodes[0].ballot!;
    const { block } = mineBlock(Operation.of('put', 'z', '2', 'C1', 9), 'ab'.repeat(32), random);
    const out = net.nodes[1].step({ type: 'message', from: 'P1', msg: make(Accept, { ballot: leaderBallot.at(5), blocks: [block], commit: 1, commitHash: '' }) }, 0);
    const nack = out.send[0].msg as Nack;
    assert.equal(nack.reason, 'gap');
    assert.equal(nack.resume, 1);
  });
});

/**
 * Leader P1 with lazyMs 30, block 0 decided everywhere. `put` hands P1 a request, counts its own
 * copy as durable, and delivers what follows without a tick; it returns the messages sent.
 */
function thriftyNet(): { net: Net; put: (req: number, key: string) => Net['log'] } {
  const net = new Net({ lazyMs: 30 });
  net.elect(1);
  net.request(1, 'C1', 1, 'put', 'a', '1');
  net.now += 30;
  net.run();
  const put = (req: number, key: string) => {
    const mark = net.log.length;
    net.step(1, 'C1', make(ClientRequest, { pending: PendingOp.of(Operation.of('put', key, `${req}`, 'C1', req), 'C1') }));
    net.queue('P1', net.nodes[0].step({ type: 'synced', through: Number.MAX_SAFE_INTEGER }, net.now)); // my own copy is durable: my vote counts
    net.drain(10_000);
    return net.log.slice(mark);
  };
  return { net, put };
}

describe('core: leader', () => {
  it('replicates, decides in depth order, answers ack / value / NO_KEY', () => {
    const net = new Net();
    net.elect(2);
    assert.ok(net.nodes[1].isLeader);
    net.request(2, 'C1', 1, 'put', 'alice_netid', '{"phone_number":"111-222-3333"}');
    net.request(4, 'C2', 1, 'get', 'alice_netid'); // through a follower: forwarded
    net.request(2, 'C3', 1, 'get', 'bob');
    assert.deepEqual(net.replies.map((x) => x.result), ['ack', '{"phone_number":"111-222-3333"}', 'NO_KEY']);
    assert.deepEqual(net.replies.map((x) => x.depth), [0, 1, 2]);
    for (const n of net.nodes) {
      assert.equal(n.commit, 3);
      assert.deepEqual(n.durable.hashes, net.nodes[1].durable.hashes);
      assert.equal(n.durable.log[1].hashPointer, blockHash(n.durable.log[0]));
    }
  });

  it('thrifty replication: new blocks go at once to a majority, to the rest every lazyMs; the commit index rides on accepts', () => {
    const { net, put } = thriftyNet();
    assert.ok(net.nodes.every((n) => n.commit === 1));
    // Block 1 goes to P2 and P3 only (with me, a majority); it is decided and answered at once.
    const sent1 = put(2, 'b');
    assert.deepEqual(sent1.filter((m) => m.msg.kind === 'accept').map((m) => m.to), ['P2', 'P3']);
    assert.equal(net.nodes[0].commit, 2);
    assert.equal(net.replies.at(-1)!.req, 2);
    assert.ok(!sent1.some((m) => m.msg.kind === 'decide'), 'no decide inside the batch');
    assert.deepEqual(net.nodes.slice(1).map((n) => [n.commit, n.durable.end]), [[1, 2], [1, 2], [1, 1], [1, 1]]);
    // Block 2's accept carries commit 2 to P2 and P3.
    put(3, 'c');
    assert.equal(net.nodes[0].commit, 3);
    assert.deepEqual(net.nodes.slice(1).map((n) => n.commit), [2, 2, 1, 1]);
    // The next tick: P2 and P3 get a decide; P4 and P5 nothing yet (they were sent to less than lazyMs ago).
    const tick = () => {
      const mark = net.log.length;
      net.tickAll();
      net.drain(10_000);
      return net.log.slice(mark).filter((m) => m.from === 'P1');
    };
    assert.deepEqual(tick().map((m) => `${m.msg.kind}->${m.to}`).sort(), ['decide->P2', 'decide->P3']);
    assert.deepEqual(net.nodes.slice(1).map((n) => [n.commit, n.durable.end]), [[3, 3], [3, 3], [1, 1], [1, 1]]);
    // lazyMs later: P4 and P5 get blocks 1-2 in one accept that carries the commit index; everybody is at 3.
    net.now += 30;
    const fromLeader = tick();
    assert.deepEqual(fromLeader.map((m) => `${m.msg.kind}->${m.to}`).sort(), ['accept->P4', 'accept->P5']);
    assert.ok(fromLeader.every((m) => (m.msg as Accept).blocks.length === 2));
    assert.ok(net.nodes.every((n) => n.commit === 3 && n.durable.hashes[2] === net.nodes[0].durable.hashes[2]));
  });

  it('a leader that steps down tells every peer it owes a decide at once, lazy peers included', () => {
    const { net, put } = thriftyNet();
    put(2, 'b'); // block 1 goes to P2 and P3 only and is decided; nobody has been told yet (no tick since)
    assert.equal(net.nodes[0].commit, 2);
    assert.deepEqual(net.nodes.slice(1).map((n) => n.commit), [1, 1, 1, 1]);
    // A higher prepare deposes P1 before its next tick: its decide (commit 2) goes to all four now.
    const out = net.nodes[0].step({ type: 'message', from: 'P2', msg: make(Prepare, { ballot: Ballot.of(9, 2, 2) }) }, net.now);
    const decides = out.send.filter((s) => s.msg.kind === 'decide');
    assert.deepEqual(decides.map((s) => s.to).sort(), ['P2', 'P3', 'P4', 'P5']);
    assert.ok(decides.every((s) => (s.msg as Decide).commit === 2));
  });

  it('applies a retried request at most once and answers the retry with the original result', () => {
    const net = new Net();
    net.elect(1);
    net.request(1, 'C1', 1, 'put', 'k', '"a"');
    net.request(1, 'C2', 1, 'put', 'k', '"b"');
    net.request(3, 'C1', 1, 'put', 'k', '"a"'); // the retry of C1#1, via another node
    assert.equal(net.nodes[0].commit, 2, 'no new block for the retry');
    const last = net.replies[net.replies.length - 1];
    assert.equal(last.req, 1);
    assert.equal(last.result, 'ack');
    assert.equal(last.depth, 0, 'the original depth');
    assert.equal(net.nodes[0].sm.dict.get('k'), '"b"');
  });

  it('a new leader adopts the tentative suffix accepted under the highest term', () => {
    const net = new Net();
    net.elect(1);
    net.request(1, 'C1', 1, 'put', 'k', '"v1"');
    // P1 proposes C1#2 but only P2 accepts it (others are cut off), then P1 dies.
    net.down.add(3); net.down.add(4); net.down.add(5);
    net.request(1, 'C1', 2, 'put', 'k', '"v2"');
    assert.equal(net.nodes[1].durable.end, 2);
    assert.equal(net.nodes[1].commit, 1);
    net.down.clear();
    net.down.add(1);
    net.elect(2);
    assert.ok(net.nodes[1].isLeader);
    // The adopted block is re-proposed under P2's term and decided.
    for (const id of [2, 3, 4, 5]) {
      const n = net.nodes[id - 1];
      assert.equal(n.commit, 2, `P${id}`);
      assert.equal(n.durable.log[1].operation.value, '"v2"');
    }
  });

  it('a stale leader steps down when told of a higher promise, and learns the new leader', () => {
    const net = new Net();
    net.elect(1);
    net.elect(3);
    assert.ok(net.nodes[2].isLeader);
    const out = net.nodes[0].step({ type: 'message', from: 'P4', msg: make(Nack, { reason: 'ballot', ballot: Ballot.of(1, 1, 0), promised: net.nodes[2].ballot!, commit: 0, commitHash: '', resume: 0, blocks: [] }) }, 0);
    void out;
    assert.equal(net.nodes[0].isLeader, false);
    assert.equal(net.nodes[0].leader, 3);
  });

  it('two concurrent candidates never decide different blocks at one depth', () => {
    const net = new Net();
    net.elect(1);
    net.request(1, 'C1', 1, 'put', 'k', '"a"');
    // Both P4 and P5 start elections before either hears of the other.
    net.queue('P4', net.nodes[3].step({ type: 'message', from: 'C2', msg: make(LeaderRequest, {}) }, 0));
    net.queue('P5', net.nodes[4].step({ type: 'message', from: 'C3', msg: make(LeaderRequest, {}) }, 0));
    net.run();
    net.request(4, 'C2', 1, 'put', 'k', '"b"');
    net.request(5, 'C3', 1, 'put', 'k', '"c"');
    const leaders = net.nodes.filter((n) => n.isLeader);
    assert.ok(leaders.length <= 1);
    const top = Math.max(...net.nodes.map((n) => n.commit));
    for (let d = 0; d < top; d++) {
      const hs = new Set(net.nodes.filter((n) => n.commit > d).map((n) => n.durable.hashes[d]));
      assert.equal(hs.size, 1, `depth ${d}`);
    }
  });
});

/** A tiny hand-driven network over given durable states: deliver or drop messages one kind at a time. */
const handNet = (states: DurableState[], over: Partial<CoreConfig> = {}) => {
  const R = states.map((st, i) => new Replica(cfg(i + 1, over), st, random));
  let net: { from: string; to: string; msg: AnyMessage }[] = [];
  const step = (i: number, input: Parameters<Replica['step']>[0]) => {
    for (const o of R[i - 1].step(input, 0).send) net.push({ from: `P${i}`, to: o.to, msg: o.msg });
  };
  const deliver = (from: string, to: string, kind: string) => {
    const go = net.filter((m) => m.from === from && m.to === to && m.msg.kind === kind);
    net = net.filter((m) => !go.includes(m));
    for (const m of go) step(Number(to.slice(1)), { type: 'message', from, msg: m.msg });
    return go.length;
  };
  const drop = (pred: (m: { from: string; to: string; msg: AnyMessage }) => boolean) => { net = net.filter((m) => !pred(m)); };
  return { R, step, deliver, drop, pending: () => net };
};

describe('core: interleavings found by review', () => {
  it('a candidate that learns a later term\'s decided block starts its election over instead of adopting a stale suffix', () => {
    // P2 holds X, accepted under <1,1> (P1 lost it before its fsync). P3 prepares and gets P2's
    // promise; P1's promise is delayed. Meanwhile P4 is elected by {P1,P5} and decides Y at depth 0,
    // its accepts to P3 lost; P3 learns Y by repair. Then P1's late promise arrives.
    const T0 = Ballot.of(1, 1, 0);
    const X = mineBlock(Operation.of('put', 'k', '"x"', 'C1', 1), '0'.repeat(64), random).block;
    const states = [1, 2, 3, 4, 5].map(() => new DurableState());
    states[0].apply({ t: 'promise', ballot: T0 });
    states[1].apply({ t: 'promise', ballot: T0 });
    states[1].apply({ t: 'accept', ballot: T0, from: 0, blocks: [X] });
    const { R, step, deliver, drop } = handNet(states);
    step(3, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    deliver('P3', 'P2', 'prepare');
    deliver('P3', 'P1', 'prepare');
    deliver('P2', 'P3', 'promise');
    step(4, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    deliver('P4', 'P1', 'prepare');
    deliver('P4', 'P5', 'prepare');
    deliver('P1', 'P4', 'promise');
    deliver('P5', 'P4', 'promise');
    step(4, { type: 'synced', through: 100 });
    step(4, { type: 'message', from: 'C2', msg: make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', '"y"', 'C2', 1), 'C2') }) });
    step(4, { type: 'synced', through: 100 });
    step(4, { type: 'tick' }); // the peers beyond a majority get the block on the next tick
    drop((m) => m.from === 'P4' && m.to === 'P3' && m.msg.kind === 'accept');
    for (const to of ['P1', 'P5']) deliver('P4', to, 'accept');
    for (const from of ['P1', 'P5']) deliver(from, 'P4', 'accepted');
    assert.equal(R[3].commit, 1, 'P4 decided Y');
    step(4, { type: 'tick' }); // the decide owed to P3 (its accept was lost) goes out on the next tick
    deliver('P4', 'P3', 'decide');
    deliver('P3', 'P4', 'repair-request');
    deliver('P4', 'P3', 'repair');
    assert.equal(R[2].commit, 1);
    assert.equal(R[2].ballot?.depth, 1, 'the election that began below the learned block starts over above it');
    assert.ok(R[2].ballot!.seq > 1);
    assert.doesNotThrow(() => deliver('P1', 'P3', 'promise'), 'the late promise for the abandoned ballot is ignored');
    assert.notEqual(R[2].currentRole, 'leader');
    assert.equal(R[2].durable.log[0].operation.value, '"y"');
  });
});

describe('core: bugs found by the review of issue 12', () => {
  const mk = (value: string, client: string) => mineBlock(Operation.of('put', 'k', value, client, 1), '0'.repeat(64), random).block;
  it('bug 1: a candidate that learns a decided block from a decide neither crashes nor adopts a late promise\'s losing fork', () => {
    // <1,1>: P1 and P3 accept β at 0. <2,2>: P2 accepts β′ at 0 (P1 promised <2,2> but missed its accept).
    const T1 = Ballot.of(1, 1, 0), T2 = Ballot.of(2, 2, 0);
    const beta = mk('"beta"', 'C1'), betaPrime = mk('"beta-prime"', 'C2');
    const S = [1, 2, 3, 4, 5].map(() => new DurableState());
    for (const i of [0, 2]) { S[i].apply({ t: 'promise', ballot: T1 }); S[i].apply({ t: 'accept', ballot: T1, from: 0, blocks: [beta] }); }
    S[0].apply({ t: 'promise', ballot: T2 });
    S[1].apply({ t: 'promise', ballot: T2 }); S[1].apply({ t: 'accept', ballot: T2, from: 0, blocks: [betaPrime] });
    const n = handNet(S);
    // P1 runs for <3,1>: P3's promise arrives, P2's is held back; P4 and P5 hear the prepare (so P4 outbids it).
    n.step(1, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    assert.equal(n.R[0].ballot!.toString(), '<3,1,0>');
    for (const to of ['P2', 'P3', 'P4', 'P5']) n.deliver('P1', to, 'prepare');
    n.deliver('P3', 'P1', 'promise');
    n.drop((m) => m.msg.kind === 'promise' && m.to === 'P1' && m.from !== 'P2');
    // P4 wins <4,4> with P3 and P5, adopts β and decides it; its accepts to P1 (and P2) are lost.
    n.step(4, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    assert.equal(n.R[3].ballot!.toString(), '<4,4,0>');
    n.drop((m) => m.from === 'P4' && (m.to === 'P1' || m.to === 'P2'));
    for (const to of ['P3', 'P5']) n.deliver('P4', to, 'prepare');
    for (const from of ['P3', 'P5']) n.deliver(from, 'P4', 'promise');
    assert.ok(n.R[3].isLeader);
    n.step(4, { type: 'synced', through: 100 });
    n.step(4, { type: 'tick' });
    n.drop((m) => m.from === 'P4' && (m.to === 'P1' || m.to === 'P2') && m.msg.kind === 'accept');
    for (const to of ['P3', 'P5']) n.deliver('P4', to, 'accept');
    for (const from of ['P3', 'P5']) n.deliver(from, 'P4', 'accepted');
    assert.equal(n.R[3].commit, 1, 'P4 decided β');
    n.step(4, { type: 'tick' });
    assert.ok(n.deliver('P4', 'P1', 'decide') > 0, 'the decide reaches P1');
    assert.equal(n.R[0].commit, 1, 'P1 learned β decided by its hash');
    // P2's late promise: suffix [β′] under <2,2>, the highest term P1 has seen among promises.
    assert.doesNotThrow(() => n.deliver('P2', 'P1', 'promise'));
    assert.equal(blockHash(n.R[0].durable.log[0]), blockHash(beta));
    assert.ok(n.R[0].ballot === null || n.R[0].ballot.depth === 1, 'any candidacy now starts above the decided block');
  });

  it('bug 1 (adoption rule): a promised suffix that contradicts the decided prefix is a losing fork and is not adopted', () => {
    // P1 has β decided at 0. P2 (behind) holds β′ at 0 under the higher <2,2>; P5 holds nothing.
    const T1 = Ballot.of(1, 1, 0), T2 = Ballot.of(2, 2, 0);
    const beta = mk('"beta"', 'C1'), betaPrime = mk('"beta-prime"', 'C2');
    const S = [1, 2, 3, 4, 5].map(() => new DurableState());
    S[0].apply({ t: 'promise', ballot: T1 }); S[0].apply({ t: 'accept', ballot: T1, from: 0, blocks: [beta] }); S[0].apply({ t: 'decide', commit: 1 });
    S[0].apply({ t: 'promise', ballot: T2 });
    S[1].apply({ t: 'promise', ballot: T2 }); S[1].apply({ t: 'accept', ballot: T2, from: 0, blocks: [betaPrime] });
    const n = handNet(S);
    n.step(1, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    // P2 is not behind the ballot's depth by its own decided prefix (0 <= 1), so it promises with [β′] from 0.
    for (const to of ['P2', 'P5']) n.deliver('P1', to, 'prepare');
    assert.doesNotThrow(() => { n.deliver('P2', 'P1', 'promise'); n.deliver('P5', 'P1', 'promise'); });
    assert.ok(n.R[0].isLeader, 'P1 wins with P2 and P5');
    assert.equal(n.R[0].durable.end, 1, 'nothing of the losing fork was adopted above the decided block');
    assert.equal(blockHash(n.R[0].durable.log[0]), blockHash(beta));
  });

  it('bug 2: a higher promise learned from a refusal is remembered, so the next candidacy outbids it at once', () => {
    const high = Ballot.of(40, 5, 0);
    const S = [1, 2, 3, 4, 5].map(() => new DurableState());
    for (const i of [3, 4]) S[i].apply({ t: 'promise', ballot: high }); // a candidacy only P4 and P5 heard
    const n = handNet(S);
    n.step(1, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    n.drop((m) => m.msg.kind === 'prepare' && (m.to === 'P4' || m.to === 'P5'));
    for (const to of ['P2', 'P3']) n.deliver('P1', to, 'prepare');
    for (const from of ['P2', 'P3']) n.deliver(from, 'P1', 'promise');
    assert.ok(n.R[0].isLeader);
    n.step(1, { type: 'synced', through: 100 });
    n.step(1, { type: 'tick' });
    n.deliver('P1', 'P4', 'accept');
    n.deliver('P4', 'P1', 'nack');
    assert.ok(!n.R[0].isLeader, 'deposed by the refusal');
    n.step(1, { type: 'message', from: 'C9', msg: make(LeaderRequest, {}) });
    assert.ok(n.R[0].ballot!.seq > 40, `the next ballot ${n.R[0].ballot} outbids the refusal's <40,5>`);
  });
});

describe('core: bounds and hostile input', () => {
  const big = (i: number) => `"${String(i).repeat(10_000)}"`; // ~10 KB values

  it('caps accepts and repairs in bytes as well as count, and a node far behind still catches up', () => {
    const over = { batchMaxBytes: 50_000 };
    const net = Net.withP5Behind(24, (i) => [`k${i}`, big(i)], over);
    const before = net.log.length;
    net.queue('P1', net.nodes[0].step({ type: 'tick' }, (net.now += 1000)));
    net.run();
    for (let round = 0; round < 20 && net.nodes[4].commit < 24; round++) { net.now += 1000; net.tickAll(); net.run(); }
    assert.equal(net.nodes[4].commit, 24, `P5 caught up (P5 at ${net.nodes[4].commit}; P1 ${net.nodes[0].currentRole} at ${net.nodes[0].commit})`);
    const sent = net.log.slice(before).filter((m) => m.to === 'P5' && (m.msg.kind === 'accept' || m.msg.kind === 'repair'));
    assert.ok(sent.length >= 5, `${sent.length} messages carried the 24 blocks`);
    for (const m of sent) {
      const blocks = (m.msg as Accept | RepairResponse).blocks;
      assert.ok(blocks.length <= 3, `${m.msg.kind} of ${blocks.length} blocks of ~20 KB each exceeds the 50,000-byte cap`);
    }
  });

  it('a full queue answers busy; a stale request number is answered stale with the last one that took effect', () => {
    const net = new Net({ queueMax: 1 });
    net.elect(1);
    net.request(1, 'C1', 5, 'put', 'k', '1');
    assert.equal(net.replies.at(-1)!.result, 'ack');
    const stale = net.nodes[0].step({ type: 'message', from: 'C1', msg: make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', '2', 'C1', 3), 'C1') }) }, 0);
    const r = stale.send.find((o) => o.msg.kind === 'refused')!.msg as Refused;
    assert.deepEqual([r.reason, r.req, r.lastReq], ['stale', 3, 5]);
    const reused = net.nodes[0].step({ type: 'message', from: 'C1', msg: make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', 'other', 'C1', 5), 'C1') }) }, 0);
    assert.equal((reused.send.find((o) => o.msg.kind === 'refused')?.msg as Refused)?.reason, 'stale', 'number 5 with other contents is another request, and stale');
    // A follower with a queue of one: the second distinct request is refused busy (the leader is unknown to it, so it queues).
    const f = new Replica(cfg(2, { queueMax: 1 }), new DurableState(), random);
    const req = (n: number) => make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', `${n}`, 'C2', n), 'C2') });
    f.step({ type: 'message', from: 'C2', msg: req(1) }, 0);
    const second = f.step({ type: 'message', from: 'C2', msg: req(2) }, 0);
    assert.equal((second.send.find((o) => o.msg.kind === 'refused')?.msg as Refused)?.reason, 'busy');
    assert.equal(f.pendingOps().length, 1);
  });

  it('refuses a ballot seq beyond MAX_BALLOT_SEQ without promising it or raising its own next ballot', () => {
    const a = new Replica(cfg(3), new DurableState(), random);
    const out = a.step({ type: 'message', from: 'P1', msg: make(Prepare, { ballot: Ballot.of(2 ** 53 - 1, 1, 0) }) }, 0);
    assert.equal(out.persist.length, 0);
    assert.equal(out.send.length, 0);
    assert.match(out.events.join('\n'), /above the bound/);
    const nack = a.step({ type: 'message', from: 'P1', msg: make(Nack, { reason: 'ballot', ballot: Ballot.of(1, 3, 0), promised: Ballot.of(2 ** 50, 2, 0), commit: 0, commitHash: '', resume: 0, blocks: [] }) }, 0);
    assert.equal(nack.events.length, 0, 'the second refusal within a second is counted, not logged');
    a.step({ type: 'message', from: 'C1', msg: make(LeaderRequest, {}) }, 2000);
    assert.equal(a.ballot!.seq, 1, 'the forged seq did not raise the next ballot');
  });

  it('refuses two different blocks for one depth within one term instead of failing an invariant', () => {
    const T = Ballot.of(1, 1, 0);
    const mine = mineBlock(Operation.of('put', 'k', '"mine"', 'C1', 1), '0'.repeat(64), random).block;
    const other = mineBlock(Operation.of('put', 'k', '"forged"', 'C9', 1), '0'.repeat(64), random).block;
    const st = new DurableState();
    st.apply({ t: 'promise', ballot: T });
    st.apply({ t: 'accept', ballot: T, from: 0, blocks: [mine] });
    const a = new Replica(cfg(2), st, random);
    let out!: Output;
    assert.doesNotThrow(() => { out = a.step({ type: 'message', from: 'P1', msg: make(Accept, { ballot: T, blocks: [other], commit: 0, commitHash: '' }) }, 0); });
    assert.equal(out.persist.length, 0, 'no state change');
    assert.match(out.events.join('\n'), /different block at 0 within its term .* refused/);
    assert.equal(blockHash(a.durable.log[0]), blockHash(mine));
  });
});

describe("core: entering a new term on a byte-capped accept keeps the votes the leader's log holds", () => {
  const Told = Ballot.of(1, 4, 0), Tnew = Ballot.of(2, 2, 0);
  /** Four blocks b0..b3 (a chain); an acceptor holding all four under <1,4>. */
  function setup(): { chain: ReturnType<typeof mineBlock>['block'][]; hashes: string[]; a: Replica } {
    const chain = minedChain(4, '', random);
    const st = votedState(chain, Told);
    return { chain, hashes: chain.map(blockHash), a: new Replica(cfg(1), st, random) };
  }
  const accept = (blocks: ReturnType<typeof mineBlock>['block'][], end: number, tail: string) =>
    make(Accept, { ballot: Tnew, blocks, commit: 0, commitHash: '', end, tail });

  it('keeps (and votes again for) its blocks beyond the cut whose hashes the leader names, and says so in its accepted reply', () => {
    const { chain, hashes, a } = setup();
    const out = a.step({ type: 'message', from: 'P2', msg: accept(chain.slice(0, 2), 4, hashes[2] + hashes[3]) }, 0);
    assert.equal(a.durable.end, 4, 'blocks 2 and 3 kept');
    assert.equal(Ballot.compareTerm(a.durable.suffixBallot!, Tnew), 0);
    const rec = out.persist.find((x) => x.t === 'accept')!;
    assert.ok(rec.t === 'accept' && rec.from === 0 && rec.blocks.length === 4, 'the record holds them under the new term (a restart keeps them)');
    assert.equal((out.send.find((o) => o.msg.kind === 'accepted')!.msg as import('../../messages').Accepted).end, 4);
  });

  it('drops its blocks from the first one the leader does not hold, and those beyond the leader\'s log', () => {
    const { chain, hashes, a } = setup();
    a.step({ type: 'message', from: 'P2', msg: accept(chain.slice(0, 2), 4, hashes[2] + 'f'.repeat(64)) }, 0);
    assert.equal(a.durable.end, 3, 'block 3 differs from the leader\'s: dropped');
    const { chain: c2, hashes: h2, a: b } = setup();
    b.step({ type: 'message', from: 'P2', msg: accept(c2.slice(0, 2), 3, h2[2]) }, 0);
    assert.equal(b.durable.end, 3, "block 3 is beyond the leader's log: dropped");
    const { chain: c3, a: c } = setup();
    c.step({ type: 'message', from: 'P2', msg: accept(c3.slice(0, 2), 0, '') }, 0);
    assert.equal(c.durable.end, 2, 'an accept that was not cut (no end) ends the suffix where its blocks do');
  });

  it("refuses, with one line and no state change, a tail that is malformed or stops short of its own suffix", () => {
    for (const [end, tail, why] of [[4, 'abc', /characters of hashes/], [9, '', /hashes only up to 2 .* refused, votes kept/]] as const) {
      const { chain, a } = setup();
      let out!: Output;
      assert.doesNotThrow(() => { out = a.step({ type: 'message', from: 'P2', msg: accept(chain.slice(0, 2), end, tail) }, 0); });
      assert.equal(a.durable.end, 4, 'all four blocks still held');
      assert.ok(!out.persist.some((x) => x.t === 'accept'), 'no accept record');
      assert.ok(!out.send.some((o) => o.msg.kind === 'accepted'), 'no accepted reply');
      assert.match(out.events.join('\n'), why);
    }
  });

  it("a leader's accept cut by the byte cap names its log's end and the hashes after the cut", () => {
    const net = new Net({ batchMaxBytes: 600 });
    net.elect(1);
    net.down.add(5);
    for (let i = 1; i <= 3; i++) net.request(1, 'C1', i, 'put', 'k', `"${'x'.repeat(100)}${i}"`);
    net.down.clear();
    net.now += 1000;
    const tick = net.nodes[0].step({ type: 'tick' }, net.now);
    const sent = tick.send.find((o) => o.to === 'P5' && o.msg.kind === 'accept')!.msg as Accept;
    assert.ok(sent.blocks.length < 3, `cut to ${sent.blocks.length}`);
    const cut = sent.ballot.depth + sent.blocks.length;
    assert.equal(sent.end, net.nodes[0].durable.end);
    assert.equal(sent.tail, net.nodes[0].durable.hashes.slice(cut).join(''));
  });
});

describe('core: repair goes on to the furthest decided prefix reported', () => {
  it('after a repair from a peer that had less, asks the peer that reported more (no leader left to tell it again)', () => {
    const net = Net.withP5Behind(9, (i) => [`k${i}`, `${i}`]);
    const p5 = net.nodes[4];
    const d1 = net.nodes[0].durable;
    const decide = make(Decide, { ballot: net.nodes[0].ballot!, commit: 9, commitHash: d1.hashes[8] });
    const asked = p5.step({ type: 'message', from: 'P3', msg: decide }, 0);
    assert.deepEqual(asked.send.map((o) => [o.to, o.msg.kind]), [['P3', 'repair-request']]);
    // A repair arrives from P4, which had decided only 8 (it answers an older request).
    const fromP4 = make(RepairResponse, { from: 0, blocks: d1.log.slice(0, 8), commit: 8 });
    const after = p5.step({ type: 'message', from: 'P4', msg: fromP4 }, 1);
    assert.equal(p5.commit, 8);
    const next = after.send.find((o) => o.msg.kind === 'repair-request');
    assert.ok(next, 'P5 asks again for what P3 reported');
    assert.equal(next!.to, 'P3');
    assert.equal((next!.msg as RepairRequest).from, 8);
  });
});

describe('core: a follower tells the client where its request went', () => {
  it('forwards a direct request to the leader it knows and answers the client with a redirect to it', () => {
    const net = new Net();
    net.elect(1);
    const out = net.nodes[2].step({ type: 'message', from: 'C2', msg: make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', '1', 'C2', 7), 'C2') }) }, 0);
    assert.deepEqual(out.send.map((o) => [o.to, o.msg.kind]), [['P1', 'forward'], ['C2', 'redirect']]);
    const r = out.send[1].msg as Redirect;
    assert.deepEqual([r.client, r.req, r.leader], ['C2', 7, 'P1']);
    const c = new ClientCore({ id: 'C2', nodes: 5, replyTo: 'C2', timeoutMs: 1000, hint: 3, lastReq: 6 });
    c.submit('put', 'k', '1', 0);
    assert.equal(c.onRedirect(r), true);
    assert.equal(c.pending!.target, 1, 'resends and the next attempt now start from P1');
    assert.equal(c.leaderHint, 1);
  });
});

describe('core: a leader cut off from the majority (CheckQuorum)', () => {
  it('answers a Leader request with a fresh election instead of "I already lead", and steps down after two election timeouts', () => {
    const net = new Net();
    net.elect(1);
    const first = net.nodes[0].ballot!;
    const fresh = net.nodes[0].step({ type: 'message', from: 'C1', msg: make(LeaderRequest, {}) }, net.now + 100);
    assert.match(fresh.events.join('\n'), /I already lead .* \(a majority answers me\)/, 'heard from everyone just now');
    net.down.add(2); net.down.add(3); net.down.add(4);
    const late = net.nodes[0].step({ type: 'message', from: 'C1', msg: make(LeaderRequest, {}) }, net.now + 700);
    assert.match(late.events.join('\n'), /no majority has answered me .* fresh election/);
    assert.equal(net.nodes[0].currentRole, 'candidate');
    assert.ok(net.nodes[0].ballot!.seq > first.seq);
    const other = new Net();
    other.elect(2);
    const quiet = other.nodes[1].step({ type: 'tick' }, other.now + 1300);
    assert.match(quiet.events.join('\n'), /stepping down: no majority has answered me for 1200 ms/);
    assert.equal(other.nodes[1].currentRole, 'follower');
  });
});

describe('core: repair', () => {
  it('serves decided blocks in batches of batchMax and the requester catches up', () => {
    const net = Net.withP5Behind(10, (i) => [`k${i}`, '1']);
    const batch = net.nodes[0].step({ type: 'message', from: 'P5', msg: make(RepairRequest, { from: 0 }) }, 0).send[0].msg as RepairResponse;
    assert.equal(batch.kind, 'repair');
    assert.equal(batch.blocks.length, 4);
    assert.equal(batch.commit, 10);
    net.step(5, 'P1', batch);
    net.run();
    assert.equal(net.nodes[4].commit, 10, 'pulled the remaining batches');
    assert.deepEqual(net.nodes[4].durable.hashes, net.nodes[0].durable.hashes);
    assert.equal(net.nodes[4].sm.dict.get('k10'), '1');
  });

  it('an acceptor that refuses a stale term still catches up on its decided blocks (no leader needed)', () => {
    const net = Net.withP5Behind(3, (i) => ['k', `${i}`]);
    // P5 has promised a higher term (a candidacy that went nowhere) and missed three blocks.
    net.nodes[4].step({ type: 'message', from: 'P4', msg: make(Prepare, { ballot: Ballot.of(50, 4, 0) }) }, 0);
    const heartbeat = make(Accept, { ballot: net.nodes[0].ballot!.at(3), blocks: [], commit: 3, commitHash: net.nodes[0].durable.headHash(3) });
    const out = net.step(5, 'P1', heartbeat);
    assert.equal((out.send.find((x) => x.msg.kind === 'nack')!.msg as Nack).reason, 'ballot');
    assert.ok(out.send.some((x) => x.msg.kind === 'repair-request'), 'it asks for the decided blocks it lacks');
    net.run();
    assert.equal(net.nodes[4].commit, 3);
  });

  it('a candidate behind the others catches up from the refusals and then wins', () => {
    const net = Net.withP5Behind(9, (i) => ['k', `${i}`]);
    net.down.add(1);
    net.elect(5);
    assert.ok(net.nodes[4].isLeader);
    assert.equal(net.nodes[4].commit, 9);
    assert.ok(net.log.some((m) => m.msg.kind === 'nack' && (m.msg as Nack).reason === 'behind'));
    const p = net.log.filter((m) => m.msg.kind === 'promise').pop()!.msg as PromiseMsg;
    assert.equal(p.commit, 9);
  });
});
