/**
 * Attack 6, hostile input on the fields commit 7fa16b0 added to Accept (`end`, `tail`).
 *
 * The schema marks both optional, and the decoder's `validate` lets an optional field be `null`
 * (it skips `undefined` and `null` alike); class-transformer then keeps the `null`. So a frame
 * from an authenticated node with `"tail": null` decodes fine, and `Replica.keptBeyondCut`
 * reads `m.tail.length` on it: a TypeError out of `step`. In the node, `step` runs in the host
 * loop's deferred flush (setImmediate), outside the transport's per-message try/catch: the host
 * halts and the exception is uncaught, so one frame kills the peer process. Before the throw the
 * core had already applied the promise record in memory (never written): memory and disk differ.
 */
import { strict as assert } from 'node:assert';
import { Accept, Ballot, make, Operation } from '../../messages';
import { decode } from '../../messages/codec';
import { blockHash, GENESIS_POINTER, mineBlock, verifyChain } from '../../src/chain';
import { recover } from '../../src/core/recovery';
import { HostLoop } from '../../src/host/host-loop';
import { DurableRecord } from '../../src/core/durable';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Output, Replica } from '../../src/core/replica';

import { minedChain, votedState } from '../support/hand-schedules';
const cfg = (id: number): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100, batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24,
});
let r = 11;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);

/** An acceptor holding four tentative blocks under <1,4>. */
function acceptor() {
  const chain = minedChain(4, '', random);
  const st = votedState(chain, Ballot.of(1, 4, 0));
  return { chain, a: new Replica(cfg(1), st, random) };
}

describe('attack6: hostile end/tail on a cut accept', () => {
  it('a decoded accept with "tail": null (optional fields may be null on the wire) is refused without throwing or changing state (threw before fec1e0e)', () => {
    const { chain, a } = acceptor();
    const frame = JSON.stringify({
      from: 'P2',
      body: {
        kind: 'accept', ballot: { seq: 2, pid: 2, depth: 0 },
        blocks: [JSON.parse(JSON.stringify(chain[0]))], commit: 0, commitHash: '', end: 9, tail: null,
      },
    });
    const d = decode(frame);
    assert.ok(d.ok, `the codec accepts the frame (${!d.ok ? d.reason : ''})`);
    const msg = (d as { msg: Accept }).msg;
    const promisedBefore = a.durable.promised!.toString();
    let out: Output | undefined;
    assert.doesNotThrow(() => { out = a.step({ type: 'message', from: 'P2', msg }, 0); }, 'one frame from a peer must not throw out of step (the node process would die)');
    assert.equal(a.durable.end, 4, 'its four votes are still held');
    assert.ok(!out!.persist.some((x) => x.t === 'accept'), 'no accept record');
    assert.ok(!out!.send.some((o) => o.msg.kind === 'accepted'), 'no accepted reply');
    assert.ok(out!.persist.some((x) => x.t === 'promise') || a.durable.promised!.toString() === promisedBefore, 'no promise in memory that was not also emitted as a record');
  });

  it('through the host loop that ships: the same frame leaves the host running (before fec1e0e it stopped it, and the node served nothing more)', () => {
    const { chain, a } = acceptor();
    const d = decode(JSON.stringify({ from: 'P2', body: { kind: 'accept', ballot: { seq: 2, pid: 2, depth: 0 }, blocks: [JSON.parse(JSON.stringify(chain[0]))], commit: 0, commitHash: '', end: 9, tail: null } }));
    assert.ok(d.ok);
    const deferred: (() => void)[] = [];
    const host = new HostLoop(a, { now: () => 0, write: () => {}, sync: (done) => done(), send: () => {}, defer: (fn) => deferred.push(fn) });
    host.input({ type: 'message', from: 'P2', msg: (d as { msg: Accept }).msg }); // what Transport.onMessage does (inside its try/catch)
    let thrown: unknown = null;
    try { deferred.shift()!(); } catch (e) { thrown = e; } // the deferred flush: in the node, a setImmediate callback (uncaught)
    assert.ok(!host.stopped && thrown === null, `the host goes on (stopped: ${host.stopped}; thrown from the deferred flush: ${String(thrown)})`);
  });

  it('a peer\'s cut accept whose own blocks do not lead to the tail it names leaves the acceptor\'s chain linked (before fec1e0e it did not, and the next start read it as tampered)', () => {
    // The acceptor holds a0..a3 under <1,4>. P2 (authenticated, lying) enters <2,2> with blocks
    // x0, x1 (a valid chain of its own) and names a2, a3 as the hashes after the cut. Every block
    // the accept carries is verified; the kept ones are not checked against them: a2 points at a1.
    const Told = Ballot.of(1, 4, 0);
    const chain: ReturnType<typeof mineBlock>['block'][] = [];
    let head = GENESIS_POINTER;
    for (let i = 0; i < 4; i++) {
      const b = mineBlock(Operation.of('put', 'k', `"a${i}"`, 'C1', i + 1), head, random).block;
      chain.push(b);
      head = blockHash(b);
    }
    const x0 = mineBlock(Operation.of('put', 'k', '"x0"', 'C9', 1), GENESIS_POINTER, random).block;
    const x1 = mineBlock(Operation.of('put', 'k', '"x1"', 'C9', 2), blockHash(x0), random).block;
    const records: DurableRecord[] = [{ t: 'promise', ballot: Told }, { t: 'accept', ballot: Told, from: 0, blocks: chain }];
    const a = new Replica(cfg(1), DurableState.replay(records), random);
    const out = a.step({ type: 'message', from: 'P2', msg: make(Accept, { ballot: Ballot.of(2, 2, 0), blocks: [x0, x1], commit: 0, commitHash: '', end: 4, tail: blockHash(chain[2]) + blockHash(chain[3]) }) }, 0);
    records.push(...out.persist);
    const check = verifyChain(a.durable.log);
    // And what the node makes of it on its next start: its own chain.log reads as tampered.
    const rec = recover(records, [], 0);
    assert.ok(check.ok, `the acceptor's chain links (it does not: ${!check.ok ? `block ${check.depth}: ${check.reason}` : ''}; on restart: ${rec.findings.join(' / ')})`);
  });

  it('the same with "end": null and a valid-looking tail does not throw (a null optional field takes its default: uncut)', () => {
    const { chain, a } = acceptor();
    const d = decode(JSON.stringify({ from: 'P2', body: { kind: 'accept', ballot: { seq: 2, pid: 2, depth: 0 }, blocks: [JSON.parse(JSON.stringify(chain[0]))], commit: 0, commitHash: '', end: null, tail: blockHash(chain[1]) } }));
    assert.ok(d.ok);
    assert.doesNotThrow(() => a.step({ type: 'message', from: 'P2', msg: (d as { msg: Accept }).msg }, 0));
  });
});
