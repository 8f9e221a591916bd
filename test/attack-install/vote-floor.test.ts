/**
 * attack-install: a node below a vote floor (its chain.log was damaged: it may have forgotten
 * votes up to that depth, so it must not vote until it has decided up to there) installs a
 * checkpoint below the floor. The floor is a `floor` record in chain.log; an installed
 * checkpoint's position lies after it, and a restart from the checkpoint reads only the records
 * after its position.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Accept, Ballot, make, Prepare } from '../../messages';
import { blockHash } from '../../src/chain';
import { decided, FolderNode, Policy, tmpDir, wire } from './support';

const POLICY: Policy = { everyBlocks: 1_000_000, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

/** P3 decided 0..4, accepted 5..41 from leader P2 (two accepts) (term <2,2>), promised <3,1>; then its accept record is damaged on disk. */
function damagedFolder(): string {
  const dir = tmpDir();
  const n = new FolderNode(dir, POLICY);
  n.repair(0, 5, 5);
  const T = Ballot.of(2, 2, 5);
  n.step(wire('P2', make(Accept, { ballot: T, blocks: decided.slice(5, 40), commit: 5, commitHash: blockHash(decided[4]) })));
  n.step(wire('P2', make(Accept, { ballot: T.at(40), blocks: decided.slice(40, 42), commit: 5, commitHash: blockHash(decided[4]) })));
  assert.equal(n.replica.durable.end, 42, 'voted for 5..41 under <2,2>');
  n.step(wire('P1', make(Prepare, { ballot: Ballot.of(3, 1, 5) })));
  assert.equal(String(n.replica.durable.promised), String(Ballot.of(3, 1, 5)));
  n.die();
  // Damage inside the first accept record (records follow it: not a torn tail; the second accept tells how far its votes went).
  const file = path.join(dir, 'chain.log');
  const buf = fs.readFileSync(file);
  const at = buf.toString('latin1').indexOf('{"t":"accept"');
  assert.ok(at > 0);
  buf[at + 200] ^= 0x01;
  fs.writeFileSync(file, buf);
  return dir;
}

/** Whether node `n` answers a prepare for a fresh term at its decided depth with a promise. */
function promisesTo(n: FolderNode, seq: number): boolean {
  const out = n.step(wire('P4', make(Prepare, { ballot: Ballot.of(seq, 4, n.replica.commit) })));
  return out.send.some((s) => s.msg.kind === 'promise');
}

describe('attack-install: an install below a vote floor', () => {
  it('guard: the damaged folder starts with a vote floor at 42 and refuses to vote at its decided depth', () => {
    const dir = damagedFolder();
    const n = new FolderNode(dir, POLICY);
    assert.equal(n.opened.report.voteFloor, 42, n.lines.join(' | '));
    assert.equal(n.replica.commit, 5);
    assert.equal(promisesTo(n, 5), false, 'below its floor: no promise');
  });

  it('[FAILS: the vote floor is lost by a restart from the installed checkpoint] it installs at 30 (< floor 42), restarts, and must still refuse to vote below 42', () => {
    const dir = damagedFolder();
    const n = new FolderNode(dir, POLICY);
    assert.equal(n.opened.report.voteFloor, 42);
    n.repair(5, 9, 34); // P2 is at 34: 29 behind, fetch
    const out = n.installFrom(30);
    assert.ok(out.install, 'installed at 30');
    assert.equal(n.replica.commit, 30);
    assert.equal(promisesTo(n, 6), false, 'before a restart: still below its floor, no promise');
    n.die();
    const again = new FolderNode(dir, POLICY);
    assert.equal(again.opened.report.checkpoint?.depth, 30, 'restarts from the installed checkpoint');
    assert.equal(again.replica.commit, 30);
    const promised = promisesTo(again, 7);
    assert.equal(promised, false, `a node that may have forgotten votes at 30..41 promises a new term at 30 (vote floor after the restart: ${again.opened.report.voteFloor})`);
  });
});
