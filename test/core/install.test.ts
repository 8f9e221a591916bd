/**
 * Fast catch-up in the core (issue 15 item 6): a node far behind fetches a peer's checkpoint in
 * chunks and installs it (keeping its promise, and only tentative blocks that link to the anchor);
 * every byte of the transfer is checked; the backfill places only blocks that hash back from the
 * anchor, at the depth they belong.
 */
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import {
  Accept, BackfillRequest, BackfillResponse, Ballot, Block, decode, encode, InstallChunk, InstallRequest, make, MAX_INSTALL_CHUNK_BYTES, MAX_INSTALL_CHUNK_CHARS, Operation, RepairResponse,
} from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Output, Replica } from '../../src/core/replica';
import { StateMachine } from '../../src/core/state-machine';
import { catchUpText } from '../../src/node/catch-up';
import { MemCheckpointDir } from '../../src/sim/mem-checkpoints';
import { Prng } from '../../src/sim/prng';
import { BlockFile } from '../../src/store/block-file';
import { Checkpoint, DEFAULT_CHECKPOINT_POLICY, encodeCheckpoint, StoreUpkeep } from '../../src/store/checkpoint';
import { MemDisk } from '../../src/store/disk';

const cfg = (id: number, threshold = 10): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100,
  batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24, installThresholdBlocks: threshold,
});
let r = 7;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);

function chain(n: number, tag: string, head = GENESIS_POINTER, from = 0): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < n; i++) {
    const { block } = mineBlock(Operation.of('put', `k${(from + i) % 3}`, `"${tag}${from + i}"`, 'C1', from + i + 1), head, random);
    head = blockHash(block);
    out.push(block);
  }
  return out;
}

const decided = chain(40, 'a');

/** The checkpoint a correct peer holds at `depth` of `decided`, as file bytes. */
function image(depth: number, over: Partial<Checkpoint> = {}): Buffer {
  const sm = new StateMachine();
  for (let d = 0; d < depth; d++) sm.apply(decided[d]);
  return encodeCheckpoint({
    cluster: 'c', node: 'P2', depth, anchor: blockHash(decided[depth - 1]), logOffset: 0, logTail: '0'.repeat(64),
    promised: null, suffixBallot: null, suffix: [], dict: [...sm.dict], sessions: [...sm.sessions], ...over,
  });
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const msg = (from: string, m: Parameters<typeof encode>[1]) => ({ type: 'message' as const, from, msg: decode(encode(from, m)).ok ? (decode(encode(from, m)) as { msg: typeof m }).msg : m });

/** A node that decided the first `n` blocks of `decided` (and promised <3,1>). */
function behind(n: number, suffix: Block[] = [], threshold = 10): Replica {
  const s = new DurableState();
  s.apply({ t: 'promise', ballot: Ballot.of(3, 1, 0) });
  s.apply({ t: 'accept', ballot: Ballot.of(2, 1, 0), from: 0, blocks: [...decided.slice(0, n), ...suffix] });
  s.apply({ t: 'decide', commit: n });
  return new Replica(cfg(3, threshold), s, random);
}

function chunk(img: Buffer, offset: number, n: number, depth: number, over: Partial<InstallChunk> = {}): InstallChunk {
  return make(InstallChunk, { depth, sha256: sha(img), total: img.length, offset, data: img.subarray(offset, offset + n).toString('base64'), ...over });
}

/** A repair push from a leader at depth 34: far ahead of a node at 5. */
const farAhead = () => msg('P2', make(RepairResponse, { from: 5, blocks: decided.slice(5, 9), commit: 34 }));

describe('core: fast catch-up (install a checkpoint, backfill below it)', () => {
  it('a node more than the threshold behind asks for a checkpoint instead of repairing; one within it repairs', () => {
    const n = behind(5);
    const out = n.step(farAhead(), 0);
    assert.deepEqual(out.send.map((s) => s.msg.kind), ['install-request']);
    assert.equal((out.send[0].msg as InstallRequest).commit, 5);
    assert.equal(out.persist.length, 0, 'nothing learned from the push while a fetch is under way');
    const near = behind(25);
    const o2 = near.step(msg('P2', make(RepairResponse, { from: 25, blocks: decided.slice(25, 29), commit: 30 })), 0);
    assert.ok(o2.persist.some((p) => p.t === 'learn'), 'within the threshold: plain repair');
    assert.deepEqual(o2.send.map((s) => s.msg.kind), ['repair-request']);
  });

  it('assembles the chunks, installs at the depth (promise kept, one install record, dictionary of the image), then repairs above it', () => {
    const n = behind(5);
    n.step(farAhead(), 0);
    const img = image(30);
    const half = Math.ceil(img.length / 2);
    const o1 = n.step(msg('P2', chunk(img, 0, half, 30)), 10);
    assert.deepEqual(o1.send.map((s) => [s.msg.kind, (s.msg as InstallRequest).offset]), [['install-request', half]]);
    assert.equal(n.catchUp.fetch!.got, half);
    const o2 = n.step(msg('P2', chunk(img, half, img.length - half, 30)), 20);
    assert.deepEqual(o2.persist, [{ t: 'install', depth: 30, anchor: blockHash(decided[29]) }]);
    assert.ok(o2.sync, 'the install record is fsynced before anything depending on it is sent');
    assert.equal(o2.install!.at, 0);
    assert.equal(o2.install!.base.depth, 30);
    assert.equal(String(o2.install!.base.promised), String(Ballot.of(3, 1, 0)), 'its promise is kept');
    assert.equal(n.commit, 30);
    assert.equal(n.durable.promised!.seq, 3);
    const sm = new StateMachine();
    for (let d = 0; d < 30; d++) sm.apply(decided[d]);
    assert.deepEqual([...n.sm.dict].sort(), [...sm.dict].sort());
    assert.equal(n.sm.applied, 30);
    assert.deepEqual(o2.send.map((s) => [s.msg.kind, (s.msg as { from?: number }).from]), [["repair-request", 30]], "repairs above the installed depth");
    // Blocks decided above it link to the anchor and are applied on top.
    const o3 = n.step(msg('P2', make(RepairResponse, { from: 30, blocks: decided.slice(30, 34), commit: 34 })), 30);
    assert.ok(o3.persist.some((p) => p.t === 'learn'));
    assert.equal(n.commit, 34);
    assert.deepEqual(o3.decided.map((d) => d.depth), [30, 31, 32, 33]);
  });

  it('a node holding undecided blocks learns them by repair before it fetches (an install would drop votes a leader may have counted); a losing fork is dropped, then it fetches', () => {
    // Its tentative suffix holds the decided blocks 5..33: repair, not a fetch, until they are learned.
    const keeps = behind(5, decided.slice(5, 34));
    const out = keeps.step(farAhead(), 0);
    assert.ok(!out.send.some((s) => s.msg.kind === 'install-request'), 'no fetch while it holds undecided votes');
    assert.equal(keeps.commit, 9, 'it learned 5..8 from the push: its own votes, now decided');
    assert.equal(keeps.durable.end, 34, 'and it still holds the rest of its votes');
    // A suffix on a fork below 30 cannot be decided there: the push shows it lost, it is dropped, and the next push starts a fetch.
    const drops = behind(5, chain(30, 'x', blockHash(decided[4]), 5));
    drops.step(farAhead(), 0);
    assert.equal(drops.durable.end, 9, 'the fork is gone; 5..8 learned');
    const next = drops.step(msg('P2', make(RepairResponse, { from: 9, blocks: decided.slice(9, 13), commit: 34 })), 1);
    assert.deepEqual(next.send.map((s) => s.msg.kind), ['install-request'], 'no undecided votes left: it fetches');
    // An image that completes while undecided votes below it arrived meanwhile is not installed.
    const img = image(30);
    drops.step(msg('P2', make(Accept, { ballot: Ballot.of(3, 2, 9), blocks: decided.slice(9, 12), commit: 9, commitHash: blockHash(decided[8]) })), 2);
    const late = drops.step(msg('P2', chunk(img, 0, img.length, 30)), 3);
    assert.equal(late.install, undefined);
    assert.match(late.events.join('\n'), /not installing .* undecided blocks 9..11 below it/);
  });

  it('refuses a torn or forged transfer (sha256), a malformed image, an oversized offer, a bad chunk, each in one line and no state change', () => {
    const img = image(30);
    const cases: [string, (n: Replica) => Output, RegExp][] = [
      ['torn', (n) => n.step(msg('P2', chunk(img, 0, img.length, 30, { sha256: sha(Buffer.from('other')) })), 10), /does not match its sha256.*torn or forged/],
      ['forged body', (n) => { const bad = Buffer.from(img); bad[bad.length - 3] ^= 1; return n.step(msg('P2', make(InstallChunk, { depth: 30, sha256: sha(bad), total: bad.length, offset: 0, data: bad.toString('base64') })), 10); }, /cannot be used \(checksum mismatch\)/],
      ['oversized', (n) => n.step(msg('P2', chunk(img, 0, 10, 30, { total: 600 * 1024 * 1024 })), 10), /above the bound/],
      ['not base64', (n) => n.step(msg('P2', chunk(img, 0, 10, 30, { data: '!!!!' })), 10), /not base64/],
      ['overlong chunk', (n) => n.step(msg('P2', chunk(img, 0, img.length, 30, { total: 5 })), 10), /does not fit its image/],
      ['wrong depth', (n) => n.step(msg('P2', chunk(img, 0, img.length, 31)), 10), /holds depth 30, not the 31/],
    ];
    for (const [what, run, line] of cases) {
      const n = behind(5);
      n.step(farAhead(), 0);
      const out = run(n);
      assert.equal(out.persist.length, 0, what);
      assert.equal(n.commit, 5, what);
      assert.equal(out.events.filter((e) => line.test(e)).length, 1, `${what}: ${out.events.join(' | ')}`);
      assert.equal(n.catchUp.fetch, null, `${what}: the fetch is abandoned`);
    }
  });

  it('a chunk longer than MAX_INSTALL_CHUNK_BYTES does not decode; a chunk of exactly that size does', () => {
    const ok = make(InstallChunk, { depth: 1, sha256: 'a'.repeat(64), total: MAX_INSTALL_CHUNK_BYTES, offset: 0, data: Buffer.alloc(MAX_INSTALL_CHUNK_BYTES).toString('base64') });
    assert.equal(ok.data.length, MAX_INSTALL_CHUNK_CHARS);
    assert.ok(decode(encode('P1', ok)).ok);
    const big = make(InstallChunk, { ...ok, data: ok.data + 'AAAA' });
    const d = decode(encode('P1', big));
    assert.ok(!d.ok && /data is longer than/.test(d.reason), JSON.stringify(d));
  });

  it('a peer with nothing newer: the fetch is dropped and repair goes on', () => {
    const n = behind(5);
    n.step(farAhead(), 0);
    const out = n.step(msg('P2', make(InstallChunk, { depth: 0, sha256: '', total: 0, offset: 0, data: '' })), 10);
    assert.ok(out.events.some((e) => /has no checkpoint above my depth 5/.test(e)));
    assert.deepEqual(out.send.map((s) => s.msg.kind), ['repair-request']);
  });

  it('a silent peer: the request is resent, then the fetch is abandoned after an election timeout', () => {
    const n = behind(5);
    n.step(farAhead(), 0);
    assert.deepEqual(n.step({ type: 'tick' }, 150).send.map((s) => s.msg.kind), ['install-request']);
    const out = n.step({ type: 'tick' }, 700);
    assert.ok(out.events.some((e) => /sent nothing of its checkpoint/.test(e)));
    assert.equal(n.catchUp.fetch, null);
  });

  it('serves: an install request from a node behind is handed to the host; one from a node not behind is ignored', () => {
    const n = behind(20);
    const out = n.step(msg('P4', make(InstallRequest, { commit: 3, sha256: '', offset: 0 })), 0);
    assert.deepEqual(out.serve, [{ to: 'P4', commit: 3, sha256: '', offset: 0 }]);
    assert.deepEqual(n.step(msg('P4', make(InstallRequest, { commit: 20, sha256: '', offset: 0 })), 0).serve, []);
  });

  describe('backfill', () => {
    /** A node that installed at 30 with blocks 0..9 in its blocks.dat (`older`). */
    function installed(): Replica {
      const n = behind(5);
      n.durable.older = { block: (d) => (d < 10 ? decided[d] : null) };
      n.step(farAhead(), 0);
      const img = image(30);
      n.step(msg('P2', chunk(img, 0, img.length, 30)), 10);
      return n;
    }

    it('asks newest first, stores what hashes back from the anchor, and completes at the blocks it held', () => {
      const n = installed();
      const o1 = n.step({ type: 'backfill', from: 10, to: 30, topHash: blockHash(decided[29]) }, 20);
      const req = o1.send.find((s) => s.msg.kind === 'backfill-request')!;
      assert.deepEqual([(req.msg as BackfillRequest).from, (req.msg as BackfillRequest).to], [26, 30], 'one batch (batchMax 4) below the top');
      let top = 30;
      let t = 30;
      let peer = req.to;
      while (top > 10) {
        const out = n.step(msg(peer, make(BackfillResponse, { from: top - 4, blocks: decided.slice(top - 4, top) })), t++);
        assert.deepEqual(out.backfill.map((b) => b.from), [top - 4]);
        top -= 4;
        const next = out.send.find((s) => s.msg.kind === 'backfill-request');
        if (top > 10) peer = next!.to;
        else assert.ok(out.events.some((e) => /backfill complete: blocks 10..29/.test(e)));
      }
      assert.equal(n.backfilling, false);
      assert.equal(n.catchUp.backfills, 1);
    });

    it('refuses blocks that do not hash back from the anchor (one line, asks another peer) and ignores a late answer for another range', () => {
      const n = installed();
      const o1 = n.step({ type: 'backfill', from: 10, to: 30, topHash: blockHash(decided[29]) }, 20);
      const peer = o1.send.find((s) => s.msg.kind === 'backfill-request')!.to;
      const fork = chain(4, 'y', blockHash(decided[25]), 26);
      const bad = n.step(msg(peer, make(BackfillResponse, { from: 26, blocks: fork })), 21);
      assert.deepEqual(bad.backfill, []);
      assert.equal(bad.events.filter((e) => /rejecting backfill blocks.*does not hash to the pointer/.test(e)).length, 1);
      const again = bad.send.find((s) => s.msg.kind === 'backfill-request')!;
      assert.notEqual(again.to, peer, 'another peer is asked');
      // A late answer for a range below the one wanted (the right blocks, at the wrong place) changes nothing.
      const late = n.step(msg(again.to, make(BackfillResponse, { from: 20, blocks: decided.slice(20, 24) })), 22);
      assert.deepEqual(late.backfill, []);
      assert.deepEqual(late.send, []);
      const good = n.step(msg(again.to, make(BackfillResponse, { from: 26, blocks: decided.slice(26, 30) })), 23);
      assert.deepEqual(good.backfill.map((b) => b.from), [26]);
    });

    it('the last batch must link to the block below it that the node holds', () => {
      const n = behind(5);
      const other = chain(26, 'z');
      n.durable.older = { block: (d) => (d < 26 ? other[d] : null) }; // (a different chain below: cannot happen in a correct cluster)
      n.step(farAhead(), 0);
      const img = image(30);
      n.step(msg('P2', chunk(img, 0, img.length, 30)), 10);
      const o1 = n.step({ type: 'backfill', from: 26, to: 30, topHash: blockHash(decided[29]) }, 20);
      const peer = o1.send.find((s) => s.msg.kind === 'backfill-request')!.to;
      const out = n.step(msg(peer, make(BackfillResponse, { from: 26, blocks: decided.slice(26, 30) })), 21);
      assert.deepEqual(out.backfill, []);
      assert.ok(out.events.some((e) => /does not link to block 25, which I hold/.test(e)));
    });

    it('serves the highest blocks of the range asked for, at most one batch; none when it does not hold the top', () => {
      const n = behind(30);
      const out = n.step(msg('P4', make(BackfillRequest, { from: 0, to: 20 })), 0);
      const rep = out.send[0].msg as BackfillResponse;
      assert.equal(rep.from, 16);
      assert.deepEqual(rep.blocks.map(blockHash), decided.slice(16, 20).map(blockHash));
      const none = n.step(msg('P4', make(BackfillRequest, { from: 0, to: 31 })), 0).send[0].msg as BackfillResponse;
      assert.equal(none.blocks.length, 0, 'beyond its decided depth');
    });
  });

  it('installing steps a leader down; an accept of a stale term after it is refused (the promise holds)', () => {
    const n = behind(5);
    n.step(farAhead(), 0);
    const img = image(30);
    n.step(msg('P2', chunk(img, 0, img.length, 30)), 10);
    const stale = n.step(msg('P1', make(Accept, { ballot: Ballot.of(2, 1, 30), blocks: decided.slice(30, 31), commit: 30, commitHash: blockHash(decided[29]) })), 20);
    assert.deepEqual(stale.send.map((s) => s.msg.kind).filter((k) => k !== 'repair-request'), ['nack']);
    assert.equal(stale.persist.filter((p) => p.t === 'accept').length, 0);
  });
});

describe('host: serving a checkpoint image, installing one (StoreUpkeep)', () => {

  function host(n: Replica, threshold: number) {
    const dir = new MemCheckpointDir((why) => { throw new Error(why); }, new Prng(1));
    const blocks = new BlockFile(new MemDisk());
    const chain = new MemDisk();
    const upkeep = new StoreUpkeep({
      chain, syncChain: () => chain.sync(), blocks, dir, policy: { ...DEFAULT_CHECKPOINT_POLICY, everyBlocks: 1_000_000 },
      identity: { cluster: 'c', node: 'P2' }, startedFrom: null, now: () => 0, installThresholdBlocks: threshold,
    });
    upkeep.afterTurn(n, 0); // blocks.dat catches up with the decided chain
    return { dir, blocks, upkeep };
  }

  it('serves its newest checkpoint, taking one first when it has none (or it is more than half the threshold behind); nothing to a node not behind it', () => {
    const n = behind(30);
    const h = host(n, 10);
    assert.equal(h.dir.list().length, 0);
    const first = h.upkeep.serve(n, { to: 'P3', commit: 5, sha256: '', offset: 0 });
    assert.equal(first.depth, 30, 'a checkpoint taken now, at the decided depth');
    assert.equal(h.dir.list().length, 1);
    const file = h.dir.read(h.dir.list()[0], Infinity)!;
    assert.equal(first.total, file.length);
    assert.equal(first.sha256, sha(file));
    assert.ok(Buffer.from(first.data, 'base64').equals(file.subarray(0, MAX_INSTALL_CHUNK_BYTES)));
    const none = h.upkeep.serve(n, { to: 'P3', commit: 30, sha256: '', offset: 0 });
    assert.equal(none.total, 0, 'a node at its depth gets nothing');
  });

  it('sends a chunk of at most MAX_INSTALL_CHUNK_BYTES from the offset asked, of the image named', () => {
    const n = behind(30);
    const h = host(n, 10);
    // A dictionary large enough to need three chunks.
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 40; i++) n.sm.dict.set(`big${i}`, big);
    const c0 = h.upkeep.serve(n, { to: 'P3', commit: 5, sha256: '', offset: 0 });
    assert.ok(c0.total > 2 * MAX_INSTALL_CHUNK_BYTES, `image of ${c0.total} bytes`);
    const parts: Buffer[] = [Buffer.from(c0.data, 'base64')];
    assert.equal(parts[0].length, MAX_INSTALL_CHUNK_BYTES);
    while (parts.reduce((a, b) => a + b.length, 0) < c0.total) {
      const at = parts.reduce((a, b) => a + b.length, 0);
      const c = h.upkeep.serve(n, { to: 'P3', commit: 5, sha256: c0.sha256, offset: at });
      assert.equal(c.offset, at);
      const data = Buffer.from(c.data, 'base64');
      assert.ok(data.length > 0 && data.length <= MAX_INSTALL_CHUNK_BYTES);
      parts.push(data);
    }
    assert.equal(sha(Buffer.concat(parts)), c0.sha256);
    // And the far-behind node installs it: the core takes the chunks, the host writes the checkpoint.
    const far = behind(5);
    far.step(farAhead(), 0);
    let out: Output | null = null;
    for (let i = 0, at = 0; i < parts.length; at += parts[i].length, i++) {
      out = far.step(msg('P2', make(InstallChunk, { depth: 30, sha256: c0.sha256, total: c0.total, offset: at, data: parts[i].toString('base64') })), 10 + i);
    }
    assert.ok(out!.install);
    assert.equal(far.sm.dict.get('big7'), big);
    const mine = host(far, 10);
    const next = mine.upkeep.install(far, out!.install!);
    assert.deepEqual(next, { type: 'backfill', from: 0, to: 30, topHash: blockHash(decided[29]) });
    const written = mine.dir.read(mine.dir.list()[0], Infinity)!.toString();
    assert.match(written, /"installed":true/);
    assert.match(written, /"node":"P2"/);
  });

  it('status renders a catch-up in progress in one line', () => {
    assert.equal(catchUpText({ fetch: null, backfill: null, installs: 1, backfills: 1 }), null);
    assert.equal(
      catchUpText({ fetch: { peer: 'P2', depth: 1000, got: 3 * 1048576, total: 10 * 1048576 }, backfill: { from: 0, to: 1000, done: 250, of: 1000 }, installs: 1, backfills: 0 }),
      "installing P2's checkpoint at depth 1000: 3.0 of 10.0 MiB; backfilling blocks 0..999 (250 of 1000 done, 25%)",
    );
  });
});
