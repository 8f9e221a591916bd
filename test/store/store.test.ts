import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ballot, Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { ChainStore, loadState } from '../../src/store/chain-store';
import { FileDisk, MemDisk } from '../../src/store/disk';
import { encodeRecord, loadRecords } from '../../src/store/record-log';

let seed = 99;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);

/** A realistic record sequence: promise, accepted blocks, decide tags, a later term. */
function history(n: number): { records: DurableRecord[]; blocks: Block[] } {
  const blocks: Block[] = [];
  let head = GENESIS_POINTER;
  for (let i = 0; i < n; i++) {
    const { block } = mineBlock(Operation.of(i % 3 === 2 ? 'get' : 'put', `k${i % 4}`, i % 3 === 2 ? undefined : `{"v":${i}}`, 'C1', i + 1), head, random);
    head = blockHash(block);
    blocks.push(block);
  }
  const b1 = Ballot.of(1, 1, 0);
  const records: DurableRecord[] = [{ t: 'promise', ballot: b1 }];
  for (let i = 0; i < n; i++) {
    records.push({ t: 'accept', ballot: b1.at(i), from: i, blocks: [blocks[i]] });
    if (i % 2 === 1) records.push({ t: 'decide', commit: i });
  }
  records.push({ t: 'promise', ballot: Ballot.of(2, 3, n - 1) });
  return { records, blocks };
}

function diskWith(records: DurableRecord[]): MemDisk {
  const d = new MemDisk();
  new ChainStore(d).write(records, true);
  return d;
}

describe('store: checksummed record log', () => {
  it('round-trips records and rebuilds the same state', () => {
    const { records, blocks } = history(8);
    const r = loadState(diskWith(records));
    assert.deepEqual(r.warnings, []);
    assert.equal(r.tampered, false);
    assert.equal(r.state.end, 8);
    assert.equal(r.state.commit, 7);
    assert.equal(r.state.promised!.toString(), '<2,3,7>');
    assert.deepEqual(r.state.hashes, blocks.map(blockHash));
  });

  it('survives a crash at every byte of the last record: the torn tail is dropped, nothing before it is lost', () => {
    const { records } = history(6);
    const full = diskWith(records).readAll();
    const lastLen = encodeRecord(records[records.length - 1]).length;
    const before = loadState(diskWith(records.slice(0, -1))).state;
    for (let cut = full.length - lastLen; cut < full.length; cut++) {
      const d = new MemDisk();
      d.append(full.subarray(0, cut));
      d.sync();
      const r = loadState(d);
      assert.equal(r.tampered, false, `cut at ${cut}`);
      assert.equal(r.state.commit, before.commit);
      assert.deepEqual(r.state.hashes, before.hashes);
      assert.equal(r.state.promised!.toString(), before.promised!.toString());
      if (cut > full.length - lastLen) assert.match(r.warnings.join('\n'), /torn last record/);
      assert.equal(d.readAll().length, full.length - lastLen, 'the torn bytes are cut off the file');
    }
  });

  it('MemDisk loses unsynced writes on a crash, possibly mid-record', () => {
    const { records } = history(4);
    const d = diskWith(records.slice(0, 3));
    new ChainStore(d).write(records.slice(3), false);
    d.crash(5);
    const r = loadState(d);
    assert.equal(r.state.end, loadState(diskWith(records.slice(0, 3))).state.end);
    assert.match(r.warnings.join('\n'), /torn/);
  });

  it('a crash that lost a page in the middle of unsynced records (zeros, then intact records) is a torn write, not tampering', () => {
    const { records } = history(8);
    const synced = records.slice(0, 5);
    const d = diskWith(synced);
    new ChainStore(d).write(records.slice(5), false);
    const unsynced = d.unsyncedBytes;
    d.crash(unsynced, [[20, 40]]); // everything reached the disk but 40 bytes near the start
    const r = loadState(d);
    assert.equal(r.tampered, false, r.warnings.join('; '));
    assert.equal(r.voteFloor, 0);
    assert.match(r.warnings.join('\n'), /torn.*never wrote/);
    const before = loadState(diskWith(synced)).state;
    assert.equal(r.state.end, before.end);
    assert.deepEqual(r.state.hashes, before.hashes);
    assert.equal(d.readAll().length, diskWith(synced).readAll().length, 'cut back to the synced prefix');
  });

  it('detects a value edited in the middle of the file (checksum) and keeps the promise', () => {
    const { records } = history(8);
    const bytes = diskWith(records).readAll().toString('utf8');
    const tampered = bytes.replace('{\\"v\\":3}', '{\\"v\\":9}');
    assert.notEqual(tampered, bytes);
    const d = new MemDisk();
    d.append(Buffer.from(tampered));
    d.sync();
    const r = loadState(d);
    assert.equal(r.tampered, true);
    assert.match(r.warnings.join('\n'), /TAMPERED.*checksum/);
    assert.ok(r.state.commit <= 3, 'nothing from the damaged record on is trusted');
    for (const b of r.state.log) assert.notEqual(b.operation.value, '{"v":9}', 'the tampered value is never loaded');
    assert.equal(r.state.promised!.toString(), '<2,3,7>', 'a later promise is still honoured');
    assert.ok(r.voteFloor >= 8, 'no voting until the lost blocks are re-learned');
  });

  it('detects a tampered value whose checksum was recomputed (hash pointer / nonce check)', () => {
    const { records } = history(8);
    const evil = records.map((r) => (r.t === 'accept' && r.from === 2 ? { ...r, blocks: [Block.of(Operation.of('put', 'k2', '{"v":666}', 'C1', 3), r.blocks[0].nonce, r.blocks[0].hashPointer)] } : r));
    const r = loadState(diskWith(evil));
    assert.equal(r.tampered, true);
    assert.match(r.warnings.join('\n'), /TAMPERED: block [23] fails verification.*from depth 2/);
    assert.ok(r.state.end <= 3);
    for (const b of r.state.log) assert.notEqual(b.operation.value, '{"v":666}');
  });

  it('loadRecords distinguishes a torn tail from a damaged middle', () => {
    const recs = [1, 2, 3].map((n) => encodeRecord({ t: 'decide', commit: n }));
    const isAny = (v: unknown): v is unknown => true;
    const torn = loadRecords(Buffer.concat([recs[0], recs[1], recs[2].subarray(0, 5)]), isAny);
    assert.ok(torn.tornTail && !torn.corrupt);
    const bad = Buffer.concat([recs[0], Buffer.from('garbage line\n'), recs[2]]);
    const mid = loadRecords(bad, isAny);
    assert.ok(mid.corrupt && !mid.tornTail);
    assert.equal(mid.corrupt!.index, 1);
    assert.equal(mid.corrupt!.recordsAfter.length, 1);
  });

  it('FileDisk persists across reopen and truncates a torn tail on disk', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-store-'));
    try {
      const file = path.join(dir, 'chain.log');
      const { records } = history(5);
      const s = new ChainStore(new FileDisk(file));
      s.write(records, true);
      s.close();
      fs.appendFileSync(file, '12 0000');
      const disk = new FileDisk(file);
      const r = loadState(disk);
      disk.close();
      assert.equal(r.state.end, 5);
      assert.match(r.warnings.join('\n'), /torn/);
      assert.equal(fs.statSync(file).size, diskWith(records).readAll().length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('FileDisk writes into zero fill ahead of its data; after a crash it finds the data end, cuts a torn record and appends there', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-store-'));
    try {
      const file = path.join(dir, 'chain.log');
      const { records } = history(6);
      const bytes = diskWith(records.slice(0, 7)).readAll().length;
      new ChainStore(new FileDisk(file)).write(records.slice(0, 7), true); // never closed: a crash
      assert.ok(fs.statSync(file).size > bytes, 'the file is zero-filled ahead of the data');
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, '120 0000', bytes); // a torn record inside the zero fill
      fs.closeSync(fd);
      const disk = new FileDisk(file);
      const r = loadState(disk);
      assert.equal(r.state.end, 4);
      assert.match(r.warnings.join('\n'), /torn/);
      assert.equal(disk.readAll().length, bytes);
      new ChainStore(disk).write(records.slice(7), true);
      disk.close();
      assert.equal(fs.statSync(file).size, diskWith(records).readAll().length, 'a clean close leaves no zero fill');
      const again = loadState(new FileDisk(file));
      assert.deepEqual(again.warnings, []);
      assert.equal(again.state.end, 6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
