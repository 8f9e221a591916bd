/**
 * Store side of fast catch-up after the attack-install fixes: a chain.log rewritten after an
 * install starts clean again with the right dictionary, keeps the vote floor, and the served
 * image is cached, rate bounded and released when idle.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Accept, Ballot, InstallRequest, make, Prepare } from '../../messages';
import { blockHash } from '../../src/chain';
import { StateMachine } from '../../src/core/state-machine';
import { IMAGE_IDLE_MS, IMAGE_REFRESH_MIN_MS } from '../../src/store/checkpoint';
import { decided, FolderNode, Policy, tmpDir, wire } from '../attack-install/support';

const POLICY: Policy = { everyBlocks: 10, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

function flipAfterInstall(dir: string): void {
  const file = path.join(dir, 'chain.log');
  const buf = fs.readFileSync(file);
  const text = buf.toString('latin1');
  const next = text.indexOf('\n', text.indexOf('{"t":"install"')) + 1;
  buf[next + 40] ^= 0x01;
  fs.writeFileSync(file, buf);
}

function dictAt(depth: number): string {
  const sm = new StateMachine();
  for (let d = 0; d < depth; d++) sm.apply(decided[d]);
  return JSON.stringify([...sm.dict].sort());
}

/** A node installs at 30, learns up to 39 and dies; then a byte of chain.log after the install flips. */
function installedThenDamaged(dir: string): void {
  const n = new FolderNode(dir, POLICY);
  n.repair(0, 5, 5);
  n.repair(5, 9, 34);
  assert.ok(n.installFrom(30).install);
  n.inbox.length = 0;
  n.repair(30, 36, 36);
  n.repair(36, 39, 39);
  n.die();
  flipAfterInstall(dir);
}

describe('store: restarts after an install', () => {
  it('chain.log damaged after an install: rewritten from the install on; the next start is clean, from the installed checkpoint, with the right dictionary', () => {
    const dir = tmpDir();
    installedThenDamaged(dir);
    const a = new FolderNode(dir, POLICY);
    assert.ok(a.opened.report.tampered);
    assert.ok(a.replica.commit >= 30);
    assert.equal(JSON.stringify([...a.replica.sm.dict].sort()), dictAt(a.replica.commit));
    assert.ok(a.inbox.some((i) => i.type === 'backfill'), 'the backfill resumes');
    a.die();
    const b = new FolderNode(dir, POLICY);
    assert.equal(b.opened.report.tampered, false, b.lines.join(' | '));
    assert.equal(b.opened.report.checkpoint?.depth, 30);
    assert.equal(b.replica.commit, a.replica.commit);
    assert.equal(JSON.stringify([...b.replica.sm.dict].sort()), dictAt(b.replica.commit));
    // It goes on: learns the rest, and its own checkpoint is taken.
    for (let at = b.replica.commit; at < 50; at += 5) b.repair(at, Math.min(50, at + 5), Math.min(50, at + 5));
    assert.equal(b.replica.commit, 50);
    assert.equal(JSON.stringify([...b.replica.sm.dict].sort()), dictAt(50));
  });

  it('a crash after the installed checkpoint was written again, before the rewritten chain.log replaced the damaged one, starts again', () => {
    const dir = tmpDir();
    installedThenDamaged(dir);
    const damaged = fs.readFileSync(path.join(dir, 'chain.log'));
    const a = new FolderNode(dir, POLICY);
    a.die();
    // (As if the rename of the rewritten chain.log never became durable: the damaged one is back.)
    fs.writeFileSync(path.join(dir, 'chain.log'), damaged);
    const b = new FolderNode(dir, POLICY);
    assert.ok(b.opened.report.tampered);
    assert.equal(b.replica.commit, a.replica.commit);
    assert.equal(JSON.stringify([...b.replica.sm.dict].sort()), dictAt(b.replica.commit));
  });

  it('the vote floor above an installed depth survives a chain.log rewrite after the install', () => {
    const dir = tmpDir();
    const n = new FolderNode(dir, { ...POLICY, everyBlocks: 1_000_000 });
    n.repair(0, 5, 5);
    const T = Ballot.of(2, 2, 5);
    n.step(wire('P2', make(Accept, { ballot: T, blocks: decided.slice(5, 40), commit: 5, commitHash: blockHash(decided[4]) })));
    n.step(wire('P2', make(Accept, { ballot: T.at(40), blocks: decided.slice(40, 42), commit: 5, commitHash: blockHash(decided[4]) })));
    n.step(wire('P1', make(Prepare, { ballot: Ballot.of(3, 1, 5) })));
    n.die();
    const file = path.join(dir, 'chain.log');
    const buf = fs.readFileSync(file);
    buf[buf.toString('latin1').indexOf('{"t":"accept"') + 200] ^= 0x01;
    fs.writeFileSync(file, buf);
    const a = new FolderNode(dir, { ...POLICY, everyBlocks: 1_000_000 });
    assert.equal(a.opened.report.voteFloor, 42);
    a.repair(5, 9, 34);
    assert.ok(a.installFrom(30).install);
    a.repair(30, 32, 32);
    a.repair(32, 33, 33);
    a.die();
    flipAfterInstall(dir);
    for (let i = 0; i < 2; i++) {
      const b = new FolderNode(dir, POLICY);
      assert.equal(b.opened.report.voteFloor, 42, `start ${i + 1}: ${b.lines.join(' | ')}`);
      const out = b.step(wire('P4', make(Prepare, { ballot: Ballot.of(9 + i, 4, b.replica.commit) })));
      assert.equal(out.send.some((s) => s.msg.kind === 'promise'), false, 'no vote below the floor');
      b.die();
    }
  });
});

describe('store: the served checkpoint image', () => {
  it('a stale image is looked for again at most once per IMAGE_REFRESH_MIN_MS, and dropped when idle', () => {
    const n = new FolderNode(tmpDir(), { ...POLICY, everyBlocks: 1_000_000 }, 10);
    for (let d = 0; d < 30; d += 10) n.repair(d, d + 10, d + 10);
    n.step(wire('P4', make(InstallRequest, { commit: 3, sha256: '', offset: 0 })));
    assert.equal(n.served.at(-1)!.msg.depth, 30);
    let reads = 0;
    const dir = n.opened.checkpoints;
    const read = dir.read.bind(dir);
    dir.read = (name, max) => { reads++; return read(name, max); };
    n.repair(30, 40, 40); // (the image is now 10 behind: more than half the threshold)
    const t = 1_000_000;
    n.step(wire('P4', make(InstallRequest, { commit: 3, sha256: 'f'.repeat(64), offset: 0 })), t);
    assert.equal(n.served.at(-1)!.msg.depth, 40, 'a new checkpoint taken and served');
    const after = reads;
    n.repair(40, 50, 50);
    for (let i = 1; i <= 20; i++) n.step(wire('P4', make(InstallRequest, { commit: 3, sha256: 'f'.repeat(64), offset: 0 })), t + i);
    assert.equal(reads, after, 'no look within the rate bound');
    assert.equal(n.served.at(-1)!.msg.depth, 40);
    n.step(wire('P4', make(InstallRequest, { commit: 3, sha256: 'f'.repeat(64), offset: 0 })), t + 21 + IMAGE_REFRESH_MIN_MS);
    assert.equal(n.served.at(-1)!.msg.depth, 50, 'looked again after the bound');
    // Idle: dropped, then read once again.
    n.step({ type: 'tick' }, t + 30 + IMAGE_REFRESH_MIN_MS + IMAGE_IDLE_MS);
    assert.equal((n.upkeep as unknown as { image: unknown }).image, null, 'released when idle');
  });
});
