/**
 * `npm run verify` on the folder of a node that installed a checkpoint: mid-backfill it is not
 * corrupt, it says which range is still being backfilled; a backfilled block that does not hash
 * back from the anchor is named.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ballot, Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { StateMachine } from '../../src/core/state-machine';
import { BlockFile } from '../../src/store/block-file';
import { checkpointName, encodeCheckpoint } from '../../src/store/checkpoint';
import { ChainStore } from '../../src/store/chain-store';
import { FileDisk } from '../../src/store/disk';
import { verifyDataDir } from '../../src/store/verify-files';

let r = 3;
const random = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);
const chain: Block[] = [];
for (let i = 0, head = GENESIS_POINTER; i < 36; i++) {
  const { block } = mineBlock(Operation.of('put', `k${i % 4}`, `"v${i}"`, 'C1', i + 1), head, random);
  head = blockHash(block);
  chain.push(block);
}

/** A node's folder: it decided 0..9, installed a checkpoint at 30, decided 30..34, backfilled `backfilled` below 30. */
function folder(backfilled: Block[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-verify-hole-'));
  const log = new ChainStore(new FileDisk(path.join(dir, 'chain.log')));
  const b = Ballot.of(1, 1, 0);
  log.write([{ t: 'promise', ballot: b }, { t: 'accept', ballot: b, from: 0, blocks: chain.slice(0, 10) }, { t: 'decide', commit: 10 }], true);
  const logOffset = fs.statSync(path.join(dir, 'chain.log')).size;
  log.write([{ t: 'install', depth: 30, anchor: blockHash(chain[29]) }, { t: 'learn', from: 30, blocks: chain.slice(30, 35) }], true);
  log.close();
  const sm = new StateMachine();
  for (let d = 0; d < 30; d++) sm.apply(chain[d]);
  fs.writeFileSync(path.join(dir, checkpointName(30)), encodeCheckpoint({
    cluster: 'c', node: 'P1', depth: 30, anchor: blockHash(chain[29]), logOffset, logTail: '0'.repeat(64), promised: b, suffixBallot: b, suffix: [],
    dict: [...sm.dict], sessions: [...sm.sessions], installed: true,
  }));
  const f = new BlockFile(new FileDisk(path.join(dir, 'blocks.dat')));
  f.append(0, chain.slice(0, 10));
  f.append(30, chain.slice(30, 35));
  if (backfilled.length) f.appendBelow(30 - backfilled.length, backfilled);
  f.sync();
  f.close();
  return dir;
}

describe('verify: a folder mid-backfill', () => {
  it('is ok, and says which blocks are still being backfilled', () => {
    const dir = folder(chain.slice(25, 30));
    const rep = verifyDataDir(dir);
    assert.equal(rep.firstBad, null, JSON.stringify(rep));
    assert.ok(rep.notes.some((n) => /blocks 10\.\.24 are not held yet: being backfilled/.test(n)), rep.notes.join('\n'));
    assert.ok(rep.notes.some((n) => /installed a peer's checkpoint at depth 30/.test(n)), rep.notes.join('\n'));
    assert.equal(rep.decided, 35);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names a backfilled block that does not hash back from the anchor', () => {
    const forged = mineBlock(Operation.of('put', 'k9', '"x"', 'C1', 99), chain[26].hashPointer, random).block;
    const dir = folder([chain[25], forged, ...chain.slice(27, 30)]);
    const rep = verifyDataDir(dir);
    assert.ok(rep.firstBad && rep.firstBad.file === 'blocks.dat' && rep.firstBad.depth === 26, JSON.stringify(rep.firstBad));
    assert.match(rep.firstBad!.reason, /does not hash to the pointer of block 27/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('complete again after the backfill: no range reported', () => {
    const dir = folder(chain.slice(10, 30));
    const rep = verifyDataDir(dir);
    assert.equal(rep.firstBad, null, JSON.stringify(rep));
    assert.ok(!rep.notes.some((n) => /being backfilled/.test(n)));
    assert.equal(rep.blocksDat, 35);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
