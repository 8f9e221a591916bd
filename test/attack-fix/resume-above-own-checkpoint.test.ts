/**
 * attack-fix: the unreadable-resume-block fix (9fe2e49, d467789) when the start is from an OWN
 * checkpoint taken above the installed one while its backfill was open (base 50, installed 30):
 * reconcile drops 30..54 above the hole and re-appends only from the in-memory base; the
 * backfill must still close the whole hole, and the folder must restart cleanly afterwards.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackfillRequest, BackfillResponse, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { StateMachine } from '../../src/core/state-machine';
import { decided, FolderNode, Policy, tmpDir, wire } from '../attack-install/support';

const POLICY: Policy = { everyBlocks: 10, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

function dictAt(depth: number): string {
  const sm = new StateMachine();
  for (let d = 0; d < depth; d++) sm.apply(decided[d]);
  return JSON.stringify([...sm.dict].sort());
}

/** Answers the node's backfill requests with the decided blocks until none is asked. */
function backfillAll(n: FolderNode): void {
  let outs = n.drainInbox();
  for (let i = 0; i < 200; i++) {
    const req = outs.flatMap((o) => o.send).find((s) => s.msg.kind === 'backfill-request');
    if (!req) return;
    const r = req.msg as BackfillRequest;
    outs = [n.step(wire(req.to, make(BackfillResponse, { from: r.from, blocks: decided.slice(r.from, r.to) })))];
  }
}

describe('attack-fix: unreadable resume block under an own checkpoint above the install', () => {
  it('guard: block 30 (lowest above the hole) damaged, start from own checkpoint 50 (installedAt 30): the backfill closes 5..49 and a second start is clean', () => {
    const dir = tmpDir();
    const n = new FolderNode(dir, POLICY);
    n.repair(0, 5, 5);
    n.repair(5, 9, 34);
    assert.ok(n.installFrom(30).install);
    n.inbox.length = 0; // (the backfill does not run before the stop)
    for (let at = 30; at < 55; at += 5) n.repair(at, at + 5, at + 5);
    assert.equal(n.replica.commit, 55);
    const ckpts = fs.readdirSync(dir).filter((f) => f.endsWith('.ckpt')).sort();
    assert.ok(ckpts.includes('checkpoint-000000000000050.ckpt') || ckpts.some((f) => /50\.ckpt$/.test(f)), ckpts.join(','));
    n.die();
    const file = path.join(dir, 'blocks.dat');
    const buf = fs.readFileSync(file);
    const at = buf.toString('latin1').indexOf('{"d":30,');
    assert.ok(at > 0);
    buf[at + 60] ^= 0x01;
    fs.writeFileSync(file, buf);
    const a = new FolderNode(dir, POLICY);
    assert.equal(a.replica.commit, 55, a.lines.join(' | '));
    backfillAll(a);
    assert.equal(a.replica.backfilling, false, `backfill still open: ${JSON.stringify(a.replica.catchUp.backfill)}; ${a.lines.join(' | ')}`);
    assert.equal(a.opened.blocks.hole, null, `hole left: ${JSON.stringify(a.opened.blocks.hole)}`);
    for (let d = 0; d < 55; d++) assert.equal(blockHash(a.opened.blocks.block(d)!), blockHash(decided[d]), `block ${d}`);
    a.die();
    const b = new FolderNode(dir, POLICY);
    assert.equal(b.replica.commit, 55, b.lines.join(' | '));
    assert.equal(JSON.stringify([...b.replica.sm.dict].sort()), dictAt(55));
    assert.equal(b.inbox.length, 0, 'no backfill at the second start');
    b.die();
  });
});
