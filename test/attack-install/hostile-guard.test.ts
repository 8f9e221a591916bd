/**
 * attack-install guard (passes): hostile fast catch-up messages from an authenticated peer, drawn
 * at random (wrong depths, offsets, totals, shas, base64, block ranges, huge and negative counts),
 * fed to a core that is fetching, one that is backfilling, and one that serves. None may throw out
 * of the core; nothing may be installed but the genuine image; nothing may be stored by the
 * backfill but the decided blocks at their depths; the fetch buffer stays within the image bound.
 */
import { strict as assert } from 'node:assert';
import { AnyMessage, BackfillRequest, BackfillResponse, Ballot, Block, decode, encode, InstallChunk, InstallRequest, make, MAX_INSTALL_CHUNK_BYTES, RepairResponse } from '../../messages';
import { blockHash } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { Input, MAX_INSTALL_BYTES, Replica } from '../../src/core/replica';
import { Prng } from '../../src/sim/prng';
import { cfg, decided, image, mine, random, sha } from './support';

const img = image(30);
const fork = mine(10, 'evil', blockHash(decided[19]), 20);

function behind(n: number): Replica {
  const s = new DurableState();
  s.apply({ t: 'promise', ballot: Ballot.of(3, 1, 0) });
  s.apply({ t: 'accept', ballot: Ballot.of(2, 1, 0), from: 0, blocks: decided.slice(0, n) });
  s.apply({ t: 'decide', commit: n });
  return new Replica(cfg(3, 10), s, random);
}

function off(from: string, m: AnyMessage): Input | null {
  const d = decode(encode(from, m));
  return d.ok ? { type: 'message', from, msg: d.msg } : null; // (the codec refuses it: never reaches the core)
}

function hostile(rng: Prng): AnyMessage {
  const pick = <T>(xs: T[]): T => xs[rng.int(0, xs.length - 1)];
  const ints = [-1, 0, 1, 5, 9, 10, 26, 29, 30, 31, 34, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER];
  const at = rng.int(0, img.length - 1);
  switch (rng.int(0, 3)) {
    case 0: return make(InstallChunk, {
      depth: pick([...ints, 30, 30, 30]), sha256: pick([sha(img), sha(img), 'f'.repeat(64), '', 'zz', 'F'.repeat(64)]),
      total: pick([img.length, img.length, 0, 1, at, MAX_INSTALL_BYTES + 1, 2 ** 50, -1]), offset: pick([0, 0, at, -5, 2 ** 40]),
      data: pick(['', 'AAAA', '!!!!', 'AA=A', img.toString('base64'), img.subarray(0, at).toString('base64'), img.subarray(at).toString('base64'), Buffer.alloc(MAX_INSTALL_CHUNK_BYTES).toString('base64')]),
    });
    case 1: {
      const lo = pick([...ints, 26, 22, 10]);
      const src: Block[] = pick([decided, decided, fork]);
      const base = src === fork ? 20 : 0;
      const from = rng.int(0, 35);
      const blocks = src.slice(Math.max(0, from - base), Math.max(0, from - base) + rng.int(0, 8));
      return make(BackfillResponse, { from: pick([lo, from, from]), blocks });
    }
    case 2: return make(BackfillRequest, { from: pick(ints), to: pick(ints) });
    default: return make(InstallRequest, { commit: pick(ints), sha256: pick(['', sha(img), 'x']), offset: pick(ints) });
  }
}

describe('attack-install guard: hostile catch-up messages', () => {
  it('a fetching, an installed-and-backfilling and a serving core take 3,000 hostile messages each without a throw or a wrong state', () => {
    const rng = new Prng(20261128);
    for (let round = 0; round < 30; round++) {
      // A fetching core (P2 is the peer it fetches from).
      const f = behind(5);
      // Far ahead: a repair push with commit 34 starts the fetch.
      const rep = off('P2', make(RepairResponse, { from: 5, blocks: decided.slice(5, 9), commit: 34 }))!;
      f.step(rep, 1);
      for (let i = 0; i < 100; i++) {
        const m = off(rng.chance(0.8) ? 'P2' : 'P4', hostile(rng));
        if (!m) continue;
        const before = f.commit;
        const out = f.step(m, 2 + i);
        if (out.install) {
          assert.equal(out.install.base.depth, 30, 'only the genuine image installs');
          assert.equal(f.sm.applied, 30);
        } else if (f.commit !== before) {
          assert.ok(f.commit > before);
        }
        const fetch = f.catchUp.fetch;
        if (fetch) assert.ok(fetch.got <= Math.min(fetch.total, MAX_INSTALL_BYTES));
        for (const b of out.backfill) b.blocks.forEach((blk, k) => assert.equal(blockHash(blk), blockHash(decided[b.from + k]), `backfilled ${b.from + k}`));
      }
      // An installed, backfilling core (installed at 30 over 0..9 on disk).
      const g = behind(5);
      g.durable.older = { block: (d) => (d < 10 ? decided[d] : null) };
      g.step(rep, 0);
      g.step(off('P2', make(InstallChunk, { depth: 30, sha256: sha(img), total: img.length, offset: 0, data: img.toString('base64') }))!, 1);
      assert.equal(g.commit, 30);
      g.step({ type: 'backfill', from: 10, to: 30, topHash: blockHash(decided[29]) }, 2);
      let top = 30;
      for (let i = 0; i < 100; i++) {
        const peer = `P${[1, 2, 4, 5][rng.int(0, 3)]}`;
        const m = off(peer, hostile(rng));
        if (!m) continue;
        const out = g.step(m, 3 + i);
        for (const b of out.backfill) {
          assert.equal(b.from + b.blocks.length, top, 'placed right below what it holds');
          b.blocks.forEach((blk, k) => assert.equal(blockHash(blk), blockHash(decided[b.from + k]), `backfilled ${b.from + k}`));
          top = b.from;
        }
        assert.equal(g.commit, 30);
      }
      // A serving core (decided 30).
      const s = behind(30);
      for (let i = 0; i < 100; i++) {
        const m = off('P4', hostile(rng));
        if (!m) continue;
        const out = s.step(m, i);
        assert.equal(s.commit, 30);
        for (const o of out.send) {
          if (o.msg.kind !== 'backfill') continue;
          const r = o.msg as BackfillResponse;
          r.blocks.forEach((blk, k) => assert.equal(blockHash(blk), blockHash(decided[r.from + k])));
        }
      }
    }
  });
});
