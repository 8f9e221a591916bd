/**
 * blocks.idx: the index of blocks.dat kept on disk, so a start reads only what was written since
 * the last sync (checkpoint) instead of all of blocks.dat. A torn or damaged index must never
 * give a wrong block: the start falls back to what blocks.dat itself says.
 */
import { strict as assert } from 'node:assert';
import { Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { BlockFile } from '../../src/store/block-file';
import { Disk, MemDisk } from '../../src/store/disk';

let r = 23;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);
const chain: Block[] = [];
for (let i = 0, head = GENESIS_POINTER; i < 400; i++) {
  const { block } = mineBlock(Operation.of('put', `k${i}`, `"v${i}"`, 'C1', i + 1), head, random);
  head = blockHash(block);
  chain.push(block);
}

/** A disk that counts the bytes read from it. */
class CountingDisk implements Disk {
  bytesRead = 0;
  constructor(readonly inner: MemDisk) {}
  readAll(): Buffer { return this.inner.readAll(); }
  size(): number { return this.inner.size(); }
  read(offset: number, length: number): Buffer {
    const b = this.inner.read(offset, length);
    this.bytesRead += b.length;
    return b;
  }
  append(data: Buffer): void { this.inner.append(data); }
  sync(): void { this.inner.sync(); }
  truncate(length: number): void { this.inner.truncate(length); }
  close(): void {}
}

function assertBlocks(f: BlockFile, to: number): void {
  assert.equal(f.count, to);
  for (let d = 0; d < to; d++) assert.equal(blockHash(f.block(d)!), blockHash(chain[d]), `block ${d}`);
}

describe('blocks.idx: the index of blocks.dat on disk', () => {
  it('a start reads the index and only the records written after the last sync mark', () => {
    const data = new MemDisk();
    const idx = new MemDisk();
    const f = new BlockFile(data, { index: idx });
    f.append(0, chain.slice(0, 300));
    f.sync();
    const marked = data.size();
    f.append(300, chain.slice(300, 320)); // since the last sync: no mark covers these
    const counted = new CountingDisk(data);
    const g = new BlockFile(counted, { index: idx });
    assert.deepEqual(g.findings, []);
    assert.ok(counted.bytesRead <= data.size() - marked + 8, `read ${counted.bytesRead} bytes of blocks.dat; ${data.size() - marked} were written after the mark`);
    assertBlocks(g, 320);
    // Without the index the whole file is read.
    const full = new CountingDisk(data);
    assertBlocks(new BlockFile(full), 320);
    assert.ok(full.bytesRead >= data.size());
  });

  it('a crash that tears or loses a page of both files after the mark: the start cuts what is torn and reads every block right', () => {
    for (let seed = 0; seed < 60; seed++) {
      const data = new MemDisk();
      const idx = new MemDisk();
      const f = new BlockFile(data, { index: idx });
      f.append(0, chain.slice(0, 200));
      f.sync();
      for (let at = 200; at < 260; at += 10) f.append(at, chain.slice(at, at + 10));
      const keepData = (seed * 7919) % (data.unsyncedBytes + 1);
      const keepIdx = (seed * 104729) % (idx.unsyncedBytes + 1);
      data.crash(keepData, seed % 2 && keepData > 2 ? [[seed % keepData, 30]] : []);
      idx.crash(keepIdx, seed % 3 === 0 && keepIdx > 2 ? [[seed % keepIdx, 16]] : []);
      const g = new BlockFile(data, { index: idx });
      assert.ok(g.count >= 200 && g.count <= 260, `seed ${seed}: ${g.count}`);
      assertBlocks(g, g.count);
      // And the index it leaves serves the next start the same blocks.
      g.sync();
      assertBlocks(new BlockFile(data, { index: idx }), g.count);
    }
  });

  it('an index damaged before its mark, or one naming more of blocks.dat than there is, is reported in one line and not used', () => {
    const data = new MemDisk();
    const idx = new MemDisk();
    const f = new BlockFile(data, { index: idx });
    f.append(0, chain.slice(0, 100));
    f.sync();
    const bytes = idx.readAll();
    const damaged = new MemDisk();
    const copy = Buffer.from(bytes);
    copy.writeDoubleLE(7 + 1, 50 * 16); // entry 50 names block 7
    damaged.append(copy);
    damaged.sync();
    const g = new BlockFile(data, { index: damaged });
    assert.equal(g.findings.length, 1);
    assert.match(g.findings[0], /blocks\.idx: entry 50 .* does not fit .*; indexing blocks\.dat from its records instead/);
    assertBlocks(g, 100);
    // blocks.dat cut shorter than the mark says (replaced, or cut by hand).
    const short = new MemDisk();
    short.append(data.readAll().subarray(0, Math.floor(data.size() / 2)));
    short.sync();
    const idx2 = new MemDisk();
    idx2.append(bytes);
    idx2.sync();
    const h = new BlockFile(short, { index: idx2 });
    assert.ok(h.findings.some((l) => /its mark names \d+ bytes of blocks\.dat, which holds/.test(l)), h.findings.join('\n'));
    assertBlocks(h, h.count);
    assert.ok(h.count >= 49 && h.count < 100);
  });

  it('keeps the hole of an install: backfilled blocks and those above it come back from the index', () => {
    const data = new MemDisk();
    const idx = new MemDisk();
    const f = new BlockFile(data, { index: idx });
    f.append(0, chain.slice(0, 50));
    f.append(200, chain.slice(200, 230));
    f.appendBelow(150, chain.slice(150, 200));
    f.sync();
    const counted = new CountingDisk(data);
    const g = new BlockFile(counted, { index: idx });
    assert.equal(counted.bytesRead, 0, 'nothing after the mark: blocks.dat is not read at start');
    assert.deepEqual(g.hole, { from: 50, to: 150 });
    assert.equal(g.end, 230);
    for (const d of [0, 49, 150, 199, 200, 229]) assert.equal(blockHash(g.block(d)!), blockHash(chain[d]), `block ${d}`);
    assert.equal(g.block(100), null);
  });

  it('a truncate rewrites the index, marked, so the next start neither scans nor serves a dropped block', () => {
    const data = new MemDisk();
    const idx = new MemDisk();
    const f = new BlockFile(data, { index: idx });
    f.append(0, chain.slice(0, 120));
    f.sync();
    f.truncate(80);
    f.append(80, chain.slice(80, 90));
    f.sync();
    const counted = new CountingDisk(data);
    const g = new BlockFile(counted, { index: idx });
    assert.equal(counted.bytesRead, 0);
    assertBlocks(g, 90);
    assert.equal(g.block(100), null);
  });
});
