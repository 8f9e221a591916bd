/**
 * attack-install: two installs in one turn. The host loop feeds a turn's inputs to the core at
 * once (stepBatch); an install completes, and later inputs of the same turn start a new fetch and
 * complete it too (a late single-chunk answer of an earlier, abandoned fetch from that peer).
 * `Output.install` has room for one install: the host writes one checkpoint, but chain.log gets
 * both install records.
 */
import { strict as assert } from 'node:assert';
import { InstallChunk, make, RepairResponse } from '../../messages';
import { decided, FolderNode, image, Policy, sha, tmpDir, wire } from './support';

const POLICY: Policy = { everyBlocks: 1_000_000, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

const chunk = (from: string, depth: number) => {
  const img = image(depth);
  return wire(from, make(InstallChunk, { depth, sha256: sha(img), total: img.length, offset: 0, data: img.toString('base64') }));
};
const push = (from: string, at: number, commit: number) => wire(from, make(RepairResponse, { from: at, blocks: decided.slice(at, at + 4), commit }));

/** P3 at 5: a fetch from P4 is abandoned (P4 silent), a fetch from P2 is under way. */
function schedule(dir: string): FolderNode {
  const n = new FolderNode(dir, POLICY);
  n.repair(0, 5, 5);
  n.step(push('P4', 5, 34), 1000); // fetch from P4
  assert.equal(n.replica.catchUp.fetch?.peer, 'P4');
  n.step({ type: 'tick' }, 1700); // P4 silent for an election timeout: abandoned
  assert.equal(n.replica.catchUp.fetch, null);
  n.step(push('P2', 5, 34), 2400); // fetch from P2
  assert.equal((n.replica.catchUp.fetch as { peer: string } | null)?.peer, 'P2');
  return n;
}

/**
 * One turn: P2's chunk completes the install at 30; P4's push says 60 (30 behind: a new fetch
 * from P4); P4's late answer to the abandoned fetch (its checkpoint at 50, one chunk) arrives.
 */
const turn = () => [chunk('P2', 30), push('P4', 30, 60), chunk('P4', 50)];

describe('attack-install: two installs in one turn', () => {
  it('one install per output: a chunk completing a second install in the same turn waits for the next turn (before, one output carried two install records and one install action)', () => {
    const n = schedule(tmpDir());
    const out = n.replica.stepBatch(turn(), 3000);
    const records = out.persist.filter((r) => r.t === 'install').map((r) => (r as { depth: number }).depth);
    assert.ok(records.length <= 1 || out.install?.at === out.persist.findIndex((r) => r.t === 'install'),
      `install records ${JSON.stringify(records)} in one output, one install action (at ${out.install?.at}, depth ${out.install?.base.depth}): the checkpoint at ${records[0]} is never written, its record is`);
    assert.deepEqual(records, [30]);
    const next = n.replica.stepBatch([{ type: 'tick' }], 3001);
    assert.deepEqual(next.persist.filter((r) => r.t === 'install').map((r) => (r as { depth: number }).depth), [50], 'the held chunk installs on the next turn');
    assert.equal(next.install?.base.depth, 50);
    assert.equal(n.replica.commit, 50);
  });

  it('a crash inside the checkpoint write of the second install (the next turn) leaves a folder that starts (before, the first install\'s record became durable with no checkpoint, and the folder refused to start)', () => {
    const dir = tmpDir();
    const n = schedule(dir);
    const real = n.opened.checkpoints.writeAtomic.bind(n.opened.checkpoints);
    n.opened.checkpoints.writeAtomic = (name, data) => {
      if (name.includes('000000000050')) throw new Error('SIGKILL inside the checkpoint write');
      real(name, data);
    };
    n.batch(turn(), 3000);
    assert.throws(() => n.batch([{ type: 'tick' }], 3001), /SIGKILL/);
    n.die();
    let refused = '';
    try {
      new FolderNode(dir, POLICY);
    } catch (e) {
      refused = (e as Error).message;
    }
    assert.equal(refused, '', 'refuses to start');
  });
});
