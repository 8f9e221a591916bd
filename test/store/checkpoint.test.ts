/**
 * Checkpoints and blocks.dat (issue 15): the file format (torn, corrupt, mismatching ->
 * the previous checkpoint or a full replay, one line each), and a restart from a checkpoint on
 * real files giving exactly what a full replay gives.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ballot, Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { defaultCoreConfig, Replica } from '../../src/core/replica';
import { StateMachine } from '../../src/core/state-machine';
import { BlockFile, MAX_BLOCK_RECORD_BYTES } from '../../src/store/block-file';
import { loadState } from '../../src/store/chain-store';
import {
  Checkpoint, checkpointName, checkpointStateMachine, CHECKPOINTS_KEPT, decodeCheckpoint, encodeCheckpoint, FsCheckpointDir, StoreUpkeep,
} from '../../src/store/checkpoint';
import { FileDisk, MemDisk } from '../../src/store/disk';
import { openChainStore } from '../../src/store/open';
import { encodeRecord } from '../../src/store/record-log';
import { verifyDataDir } from '../../src/store/verify-files';

let seed = 7;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
const ID = { cluster: 'c0ffee', node: 'P1' };

/** Records of a node that accepted and decided `n` blocks from depth `from` under one term; a client repeats its keys. */
function records(from: number, head: string, n: number, term: number): { recs: DurableRecord[]; head: string } {
  const b = Ballot.of(term, 1, from);
  const recs: DurableRecord[] = [{ t: 'promise', ballot: b }];
  for (let i = from; i < from + n; i++) {
    const { block } = mineBlock(Operation.of(i % 3 === 2 ? 'get' : 'put', `k${i % 5}`, i % 3 === 2 ? undefined : `{"v":${i}}`, `C${1 + (i % 2)}`, i + 1), head, random);
    head = blockHash(block);
    recs.push({ t: 'accept', ballot: b.at(i), from: i, blocks: [block] });
    recs.push({ t: 'decide', commit: i + 1 });
  }
  return { recs, head };
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-ckpt-'));
}

/** A node folder: runs `batches` of decided blocks, taking a checkpoint after each (a real StoreUpkeep), then a tentative block. */
function runFolder(dir: string, batches: number[]): { head: string } {
  const opened = openChainStore({ dir, identity: ID });
  let head = GENESIS_POINTER;
  let depth = 0;
  let term = 1;
  for (const n of batches) {
    const r = records(depth, head, n, term++);
    opened.store.write(r.recs, true);
    head = r.head;
    depth += n;
    const replica = new Replica(defaultCoreConfig(1, 0), loadState(opened.disk).state, random);
    const upkeep = new StoreUpkeep({
      chain: opened.disk, syncChain: () => opened.store.write([], true), blocks: opened.blocks, dir: opened.checkpoints,
      policy: { everyBlocks: 1, everyBytes: 1, windowBlocks: 3, appendPerTurn: 1_000_000 }, identity: ID, startedFrom: null, now: () => 0,
    });
    const u = upkeep.afterTurn(replica, 0);
    assert.equal(u.checkpoint?.depth, depth, 'a checkpoint at the decided depth');
  }
  // A tentative block after the last checkpoint, and a higher promise: both must survive the restart.
  const { block } = mineBlock(Operation.of('put', 'kt', '"tentative"', 'C9', 1), head, random);
  opened.store.write([{ t: 'accept', ballot: Ballot.of(term, 2, depth), from: depth, blocks: [block] }, { t: 'promise', ballot: Ballot.of(term + 5, 3, depth) }], true);
  opened.store.close();
  opened.blocks.close();
  return { head };
}

/** The state a full replay of the folder's chain.log gives, with the dictionary and sessions of its decided prefix. */
function fullReplay(dir: string) {
  const mem = new MemDisk();
  mem.append(fs.readFileSync(path.join(dir, 'chain.log')));
  const report = loadState(mem);
  const sm = new StateMachine();
  for (let d = 0; d < report.state.commit; d++) sm.apply(report.state.held(d));
  return { report, sm };
}

/** Opens the folder as a node would; returns the report and the dictionary the core would start with. */
function reopen(dir: string) {
  const opened = openChainStore({ dir, identity: ID });
  const sm = opened.report.checkpoint ? checkpointStateMachine(opened.report.checkpoint) : undefined;
  const replica = new Replica(defaultCoreConfig(1, 0), opened.report.state, random, { sm });
  opened.store.close();
  return { report: opened.report, replica, close: () => opened.blocks.close() };
}

function assertSameAsFullReplay(dir: string, got: ReturnType<typeof reopen>): void {
  const full = fullReplay(dir);
  const a = got.report.state;
  const b = full.report.state;
  assert.equal(a.commit, b.commit);
  assert.equal(a.end, b.end);
  assert.equal(String(a.promised), String(b.promised));
  assert.equal(String(a.suffixBallot), String(b.suffixBallot));
  for (let d = 0; d < b.end; d++) assert.equal(a.hash(d), b.hash(d), `block ${d}`);
  assert.deepEqual([...got.replica.sm.dict], [...full.sm.dict]);
  assert.deepEqual([...got.replica.sm.sessions], [...full.sm.sessions]);
  got.close();
}

const ckpts = (dir: string) => fs.readdirSync(dir).filter((f) => /^checkpoint-\d+\.ckpt$/.test(f)).sort();

describe('store: checkpoints and blocks.dat', () => {
  it('a restart loads the newest checkpoint, replays only the records after it, and gets what a full replay gets', () => {
    const dir = tmpDir();
    runFolder(dir, [30, 20, 12]);
    assert.deepEqual(ckpts(dir), [checkpointName(50), checkpointName(62)], `the ${CHECKPOINTS_KEPT} newest are kept`);
    const got = reopen(dir);
    assert.equal(got.report.checkpoint?.depth, 62);
    assert.equal(got.report.records, 2, 'only the tentative accept and the promise after it are replayed');
    assert.equal(got.report.state.base, 62, 'blocks below the checkpoint stay on disk');
    assert.deepEqual(got.report.warnings, []);
    assert.equal(got.replica.sm.dict.get('kt'), undefined, 'the tentative put is not in the dictionary');
    // Older blocks are read from blocks.dat, checked: the whole chain still verifies through the state.
    assert.equal(got.report.state.block(0)!.hashPointer, GENESIS_POINTER);
    assert.equal(got.report.state.hash(61), got.report.checkpoint!.anchor);
    assertSameAsFullReplay(dir, got);
  });

  it('a torn newest checkpoint (cut at any point) is reported in one line and the previous one is used', () => {
    const dir = tmpDir();
    runFolder(dir, [10, 10]);
    const file = path.join(dir, checkpointName(20));
    const whole = fs.readFileSync(file);
    for (const cut of [0, 1, 40, 90, Math.floor(whole.length / 2), whole.length - 1]) {
      fs.writeFileSync(file, whole.subarray(0, cut));
      const got = reopen(dir);
      assert.equal(got.report.checkpoint?.depth, 10, `cut at ${cut}`);
      const lines = got.report.warnings.filter((w) => w.includes('cannot be used'));
      assert.equal(lines.length, 1, got.report.warnings.join('\n'));
      assert.match(lines[0], /checkpoint-000000000020\.ckpt cannot be used \((no header line|bad header line|body is \d+ bytes)/);
      assertSameAsFullReplay(dir, got);
    }
  });

  it('a flipped bit, a checkpoint of another node, and a mismatching anchor each fall back; with none usable the whole chain is replayed', () => {
    const dir = tmpDir();
    runFolder(dir, [10, 10]);
    const newest = path.join(dir, checkpointName(20));
    const older = path.join(dir, checkpointName(10));
    const buf = fs.readFileSync(newest);
    buf[buf.length - 5] ^= 0x04;
    fs.writeFileSync(newest, buf);
    let got = reopen(dir);
    assert.equal(got.report.checkpoint?.depth, 10);
    assert.match(got.report.warnings.join('\n'), /checkpoint-000000000020\.ckpt cannot be used \(checksum mismatch\)/);
    got.close();
    // Another node's checkpoint (checksum intact): refused by name.
    const c = decodeCheckpoint(fs.readFileSync(older)) as Checkpoint;
    fs.writeFileSync(older, encodeCheckpoint({ ...c, node: 'P2' }));
    got = reopen(dir);
    assert.equal(got.report.checkpoint, null);
    assert.match(got.report.warnings.join('\n'), /checkpoint-000000000010\.ckpt cannot be used \(it belongs to P2 of cluster c0ffee\)/);
    assertSameAsFullReplay(dir, got);
    // An anchor that is not block 9 of blocks.dat.
    fs.writeFileSync(older, encodeCheckpoint({ ...c, anchor: 'f'.repeat(64) }));
    got = reopen(dir);
    assert.equal(got.report.checkpoint, null);
    assert.match(got.report.warnings.join('\n'), /\(block 9 in blocks\.dat is not its anchor\)/);
    got.close();
    // A chain.log position whose bytes changed (the log was replaced).
    fs.writeFileSync(older, encodeCheckpoint({ ...c, logOffset: c.logOffset - 1 }));
    got = reopen(dir);
    assert.match(got.report.warnings.join('\n'), /chain\.log before byte \d+ is not what it was/);
    assertSameAsFullReplay(dir, got);
  });

  it('refuses checkpoint bodies that pass the checksum but are malformed, and files over the size bound', () => {
    const dir = tmpDir();
    runFolder(dir, [8]);
    const file = path.join(dir, checkpointName(8));
    const c = decodeCheckpoint(fs.readFileSync(file)) as Checkpoint;
    const bad: [Partial<Record<keyof Checkpoint, unknown>>, RegExp][] = [
      [{ dict: [['k', 1]] }, /bad dictionary/],
      [{ sessions: [['s', { req: -1 }]] }, /bad session table/],
      [{ depth: 0 }, /bad depth/],
      [{ promised: { seq: 'x' } }, /bad ballot/],
      [{ suffix: [{ nonce: 1 }] }, /bad tentative suffix/],
    ];
    for (const [change, why] of bad) {
      const r = decodeCheckpoint(encodeCheckpoint({ ...c, ...change } as Checkpoint));
      assert.equal(typeof r, 'string');
      assert.match(r as string, why);
    }
    assert.equal(new FsCheckpointDir(dir).read(checkpointName(8), 10), null, 'a file over the bound is not read');
    assert.notEqual(new FsCheckpointDir(dir).read(checkpointName(8), 1 << 20), null);
  });

  it('a leftover temp file of an interrupted checkpoint write is removed with one line', () => {
    const dir = tmpDir();
    runFolder(dir, [6]);
    fs.writeFileSync(path.join(dir, `${checkpointName(99)}.tmp`), 'chainkv-checkpoint 1 ');
    const got = reopen(dir);
    got.close();
    assert.equal(got.report.checkpoint?.depth, 6);
    assert.ok(got.report.warnings.some((w) => /removed checkpoint-000000000099\.ckpt\.tmp/.test(w)));
    assert.ok(!fs.existsSync(path.join(dir, `${checkpointName(99)}.tmp`)));
  });

  it('blocks.dat: a torn tail (cut at every byte of the last record) is cut back to whole blocks; a damaged block is not served', () => {
    const dir = tmpDir();
    runFolder(dir, [5]);
    const file = path.join(dir, 'blocks.dat');
    const whole = fs.readFileSync(file);
    const lastStart = whole.lastIndexOf(0x0a, whole.length - 2) + 1;
    for (let cut = lastStart; cut < whole.length; cut++) {
      fs.writeFileSync(file, whole.subarray(0, cut));
      const bf = new BlockFile(new FileDisk(file));
      assert.equal(bf.count, 4, `cut at ${cut}`);
      assert.equal(bf.findings.length, cut === lastStart ? 0 : 1);
      bf.close();
    }
    // A record whose length field is over the bound is not read past.
    fs.writeFileSync(file, Buffer.concat([whole, Buffer.from(`${MAX_BLOCK_RECORD_BYTES + 1} 00000000 {}\n`)]));
    let bf = new BlockFile(new FileDisk(file));
    assert.equal(bf.count, 5);
    assert.match(bf.findings.join(), /bad record header/);
    bf.close();
    // A bit flipped inside block 2 after indexing: the read fails its checksum, is reported once, serves nothing.
    fs.writeFileSync(file, whole);
    bf = new BlockFile(new FileDisk(file));
    const b = Buffer.from(whole);
    const at = whole.indexOf('"d":2') + 12;
    b[at] ^= 1;
    fs.writeFileSync(file, b);
    assert.equal(bf.block(2), null);
    assert.match(bf.takeReadFailure()!, /block 2 at byte \d+ is damaged \(checksum mismatch\)/);
    assert.equal(bf.takeReadFailure(), null);
    assert.notEqual(bf.block(3), null);
    bf.close();
  });

  it('keeps only a window of decided blocks in memory; older ones come from blocks.dat', () => {
    const dir = tmpDir();
    const opened = openChainStore({ dir, identity: ID });
    const r = records(0, GENESIS_POINTER, 40, 1);
    opened.store.write(r.recs, true);
    const replica = new Replica(defaultCoreConfig(1, 0), loadState(opened.disk).state, random);
    const hashes = Array.from({ length: 40 }, (_, d) => replica.durable.hash(d));
    const upkeep = new StoreUpkeep({
      chain: opened.disk, syncChain: () => opened.store.write([], true), blocks: opened.blocks, dir: opened.checkpoints,
      policy: { everyBlocks: 1000, everyBytes: 1 << 30, windowBlocks: 5, appendPerTurn: 16 }, identity: ID, startedFrom: null, now: () => 0,
    });
    upkeep.afterTurn(replica, 0);
    assert.equal(opened.blocks.count, 16, 'appendPerTurn bounds one turn');
    upkeep.afterTurn(replica, 0);
    upkeep.afterTurn(replica, 0);
    assert.equal(opened.blocks.count, 40);
    // (Compacted in steps of at least windowBlocks: between one and two windows stay in memory.)
    assert.ok(replica.durable.base >= 30 && replica.durable.base <= 35, `base ${replica.durable.base}`);
    for (let d = 0; d < 40; d++) assert.equal(replica.durable.hash(d), hashes[d]);
    assert.throws(() => replica.durable.log, /on disk, not in memory/);
    opened.store.close();
    opened.blocks.close();
  });
});

describe('store: verify on demand (npm run verify, the console\'s verifyChain)', () => {
  it('verifies a good folder with progress, and names the first bad record or block in chain.log and blocks.dat', () => {
    const dir = tmpDir();
    runFolder(dir, [25, 15]);
    const seen: string[] = [];
    const good = verifyDataDir(dir, { progress: (p) => seen.push(p.file), progressEveryMs: 0 });
    assert.equal(good.ok, true, JSON.stringify(good));
    assert.equal(good.decided, 40);
    assert.equal(good.tentative, 1);
    assert.equal(good.blocksDat, 40);
    assert.ok(seen.includes('chain.log') && seen.includes('blocks.dat'), 'progress was reported');

    // A flipped byte in the middle of chain.log: that record is named.
    const log = path.join(dir, 'chain.log');
    const text = fs.readFileSync(log);
    const bad = Buffer.from(text);
    const at = text.indexOf('"v":7}');
    bad[at + 4] = '9'.charCodeAt(0);
    fs.writeFileSync(log, bad);
    let r = verifyDataDir(dir);
    assert.equal(r.ok, false);
    assert.match(r.firstBad!.reason, /^record \d+ at byte \d+ is damaged \(checksum mismatch\)/);
    fs.writeFileSync(log, text);

    // A block of blocks.dat replaced by another valid-looking one (checksum recomputed): its depth is named.
    const dat = path.join(dir, 'blocks.dat');
    const lines = fs.readFileSync(dat, 'utf8').split('\n');
    const rec = JSON.parse(lines[12].replace(/^\d+ [0-9a-f]{8} /, '')) as { d: number; b: Block };
    rec.b.hashPointer = 'e'.repeat(64);
    lines[12] = encodeRecord(rec).toString('utf8').trimEnd();
    fs.writeFileSync(dat, lines.join('\n'));
    r = verifyDataDir(dir);
    assert.deepEqual([r.firstBad?.file, r.firstBad?.depth], ['blocks.dat', 12], JSON.stringify(r));
    assert.match(r.firstBad!.reason, /hash pointer/);
  });

  it("checks each checkpoint's dictionary and sessions against the chain's (a forged one with a valid checksum is named)", () => {
    const dir = tmpDir();
    runFolder(dir, [9, 7]);
    assert.equal(verifyDataDir(dir).ok, true);
    const file = path.join(dir, checkpointName(9));
    const c = decodeCheckpoint(fs.readFileSync(file)) as Checkpoint;
    fs.writeFileSync(file, encodeCheckpoint({ ...c, dict: [...c.dict, ['forged', '"1"']] }));
    let r = verifyDataDir(dir);
    assert.deepEqual([r.firstBad?.file, r.firstBad?.depth], [checkpointName(9), 9], JSON.stringify(r));
    assert.match(r.firstBad!.reason, /dictionary/);
    fs.writeFileSync(file, encodeCheckpoint({ ...c, sessions: c.sessions.slice(1) }));
    r = verifyDataDir(dir);
    assert.match(r.firstBad?.reason ?? '', /sessions/);
  });

  it('takes a torn last record (a crash, or a write in progress) as a note, not damage', () => {
    const dir = tmpDir();
    runFolder(dir, [6]);
    const log = path.join(dir, 'chain.log');
    fs.appendFileSync(log, '123 0badc0de {"t":"acc');
    const r = verifyDataDir(dir);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.match(r.notes.join('\n'), /chain\.log: a torn last record at byte \d+/);
  });
});
