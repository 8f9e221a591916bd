/**
 * attack-install: a damaged blocks.dat record where the backfill resumes from (the lowest block
 * above the hole) at a restart.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackfillRequest, BackfillResponse, make } from '../../messages';
import { decided, FolderNode, Policy, tmpDir, wire } from './support';

const POLICY: Policy = { everyBlocks: 1_000_000, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

describe('attack-install: blocks.dat damaged above the hole', () => {
  it('[FAILS: the backfill silently never resumes when the block it would resume from is unreadable] a restart mid-backfill with one flipped byte in block upperFrom', () => {
    const dir = tmpDir();
    const n = new FolderNode(dir, POLICY);
    n.repair(0, 5, 5);
    n.repair(5, 9, 34);
    n.installFrom(30);
    // One backfill batch (26..29) is stored; then the node stops.
    let out = n.step(n.inbox.shift()!);
    const req = out.send.find((s) => s.msg.kind === 'backfill-request')!;
    const r = req.msg as BackfillRequest;
    out = n.step(wire(req.to, make(BackfillResponse, { from: r.from, blocks: decided.slice(r.from, r.to) })));
    n.repair(30, 34, 34);
    assert.deepEqual(n.opened.blocks.hole, { from: 5, to: 26 });
    n.die();
    // Block 26's record (the lowest above the hole) gets one flipped byte in its body.
    const file = path.join(dir, 'blocks.dat');
    const buf = fs.readFileSync(file);
    const at = buf.toString('latin1').indexOf('{"d":26,');
    assert.ok(at > 0);
    buf[at + 60] ^= 0x01;
    fs.writeFileSync(file, buf);
    const again = new FolderNode(dir, POLICY);
    assert.equal(again.replica.commit, 34);
    assert.ok(again.opened.blocks.hole, 'still a hole');
    // A correct start goes on backfilling (from 26, or from the top again): something must ask.
    const asked = again.inbox.length > 0 || again.replica.backfilling;
    assert.ok(asked, `no backfill resumes; hole ${JSON.stringify(again.opened.blocks.hole)} stays for good; lines: ${again.lines.join(' | ')}`);
  });
});
