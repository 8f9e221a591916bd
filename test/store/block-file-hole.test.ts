/**
 * blocks.dat with a hole (fast catch-up): the blocks a node had, the blocks from an installed
 * depth on, and backfilled ones written below those, highest first. Every cut of the file's tail
 * (a torn write) must leave one hole and blocks that read back right.
 */
import { strict as assert } from 'node:assert';
import { Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { BlockFile } from '../../src/store/block-file';
import { MemDisk } from '../../src/store/disk';
import { encodeRecord } from '../../src/store/record-log';

let r = 11;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);
const chain: Block[] = [];
for (let i = 0, head = GENESIS_POINTER; i < 40; i++) {
  const { block } = mineBlock(Operation.of('put', `k${i}`, `"v${i}"`, 'C1', i + 1), head, random);
  head = blockHash(block);
  chain.push(block);
}

function held(f: BlockFile): number[] {
  const out: number[] = [];
  for (let d = 0; d < f.end; d++) if (f.has(d)) out.push(d);
  return out;
}

describe('blocks.dat with a hole (install and backfill)', () => {
  it('appends above a hole, backfills below the part above it, and is whole again when the hole closes', () => {
    const disk = new MemDisk();
    const f = new BlockFile(disk);
    f.append(0, chain.slice(0, 5));
    f.append(20, chain.slice(20, 23)); // an install at 20: blocks from it on
    assert.deepEqual(f.hole, { from: 5, to: 20 });
    assert.equal(f.block(10), null);
    assert.throws(() => f.append(30, chain.slice(30, 31)), /cannot append at 30/, 'a second hole is refused');
    assert.throws(() => f.appendBelow(10, chain.slice(10, 12)), /cannot backfill 10..12/, 'only right below the part above the hole');
    f.appendBelow(15, chain.slice(15, 20));
    f.append(23, chain.slice(23, 25));
    assert.deepEqual(f.hole, { from: 5, to: 15 });
    f.appendBelow(5, chain.slice(5, 15));
    assert.equal(f.hole, null);
    assert.equal(f.count, 25);
    for (let d = 0; d < 25; d++) assert.equal(blockHash(f.block(d)!), blockHash(chain[d]), `block ${d}`);
    // Indexed again from the file alone (a restart): the same blocks.
    const again = new BlockFile(disk);
    assert.equal(again.count, 25);
    assert.deepEqual(again.findings, []);
    for (let d = 0; d < 25; d++) assert.equal(blockHash(again.block(d)!), blockHash(chain[d]));
  });

  it('a backfill with nothing above the hole yet opens it at its top', () => {
    const f = new BlockFile(new MemDisk());
    f.append(0, chain.slice(0, 3));
    f.appendBelow(10, chain.slice(10, 14));
    assert.deepEqual(f.hole, { from: 3, to: 10 });
    assert.equal(f.end, 14);
    f.append(14, chain.slice(14, 15));
    assert.equal(f.end, 15);
  });

  it('every cut of the tail leaves one hole, with the newest blocks on top and the lowest backfilled ones gone', () => {
    const disk = new MemDisk();
    const f = new BlockFile(disk);
    f.append(0, chain.slice(0, 4));
    f.append(30, chain.slice(30, 32));
    f.appendBelow(26, chain.slice(26, 30));
    f.append(32, chain.slice(32, 34));
    f.appendBelow(20, chain.slice(20, 26));
    const bytes = disk.readAll();
    for (let cut = 0; cut <= bytes.length; cut += 7) {
      const torn = new MemDisk();
      torn.append(bytes.subarray(0, cut));
      const g = new BlockFile(torn);
      const h = held(g);
      // One hole at most: what is held is [0, count) and [upperFrom, end).
      const expect = [...Array.from({ length: g.count }, (_, i) => i), ...Array.from({ length: g.end - g.upperFrom }, (_, i) => g.upperFrom + i)];
      assert.deepEqual(h, g.hole ? expect : Array.from({ length: g.end }, (_, i) => i), `cut at ${cut}`);
      for (const d of h) assert.equal(blockHash(g.block(d)!), blockHash(chain[d]), `cut at ${cut}: block ${d}`);
      if (g.hole) assert.ok(g.end >= 30 && g.upperFrom <= 30, `cut at ${cut}: the part above the hole reaches the installed depth`);
    }
  });

  it('a record that would open a second hole, or names no depth, cuts the file there (one line)', () => {
    const disk = new MemDisk();
    const f = new BlockFile(disk);
    f.append(0, chain.slice(0, 2));
    f.append(10, chain.slice(10, 11));
    disk.append(encodeRecord({ d: 20, b: chain[20] }));
    const g = new BlockFile(disk);
    assert.equal(g.end, 11);
    assert.match(g.findings.join(), /block 20 does not fit the blocks before it/);
    disk.append(encodeRecord({ b: chain[11], d: 11 }));
    const h = new BlockFile(disk);
    assert.equal(h.end, 11);
    assert.match(h.findings.join(), /no depth in the record/);
    const ro = new MemDisk();
    ro.append(Buffer.concat([disk.readAll(), encodeRecord({ d: 30, b: chain[30] })]));
    const size = ro.size();
    const v = new BlockFile(ro, { readOnly: true });
    assert.equal(ro.size(), size, 'read only: nothing cut');
    assert.equal(v.findings.length, 1);
  });

  it('truncate drops the part above the hole (a second install) and keeps the blocks below it', () => {
    const disk = new MemDisk();
    const f = new BlockFile(disk);
    f.append(0, chain.slice(0, 4));
    f.append(20, chain.slice(20, 22));
    f.appendBelow(15, chain.slice(15, 20));
    f.truncate(f.count);
    assert.equal(f.hole, null);
    assert.equal(f.end, 4);
    f.append(30, chain.slice(30, 31));
    assert.deepEqual(f.hole, { from: 4, to: 30 });
    assert.equal(new BlockFile(disk).end, 31);
  });
});
