/**
 * Issue #14's first finding: 400 puts of 59 KB values, then a node restarted with an empty data
 * folder must catch up (a repair of 23 MB used to go out as one frame over the 16 MiB limit,
 * refused by the receiver 61 times in 15 s, the leader spinning). Repair batches are now capped
 * in bytes (src/core/sizes.ts).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { Cluster, describeAll, forgetProcs, stopAll } from '../e2e/harness';

describe('hostile: big values replicate to a node restarted empty (real processes)', function () {
  this.timeout(180_000);
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(describeAll(15) + '\n');
    forgetProcs();
    await stopAll();
  });

  it('400 puts of 59 KB values, then an empty node catches up within 20 s while new puts are acked', async function () {
    const c = await Cluster.start();
    const client = await c.connect('bigv', { timeoutMs: 10_000 });
    const value = JSON.stringify('v'.repeat(59_000));
    for (let i = 0; i < 400; i++) assert.equal((await client.put(`big${i}`, value)).result, 'ack');
    const leader = await c.waitForLeader();
    const victim = (leader % 5) + 1;
    await c.node(victim).kill();
    fs.rmSync(c.dataDir(victim), { recursive: true, force: true });
    const p = await c.startNode(victim);
    const t0 = Date.now();
    const during = (async () => {
      for (let i = 0; i < 5; i++) assert.equal((await client.put(`during${i}`, value)).result, 'ack');
    })();
    try {
      // (status, not printBlockchain: a 400 x 59 KB chain printed as JSON is 23 MB per node)
      let depths: number[] = [];
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
        depths = (await c.statuses()).map((st) => st.depth);
        if (depths.length === 5 && depths.every((d) => d >= 405)) break;
      }
      await during;
      assert.ok(depths.length === 5 && depths.every((d) => d >= 405), `decided depths after 20 s: ${depths.join(', ')}`);
    } finally {
      const net = [...c.nodes.values()].flatMap((n) => n.lines.filter((l) => /\[net\]/.test(l)).map((l) => `P${n.id}: ${l.slice(0, 200)}`));
      process.stdout.write(`      (after ${Date.now() - t0} ms: ${net.length} [net] lines${net.length ? ':\n        ' + net.slice(0, 8).join('\n        ') : ''})\n`);
    }
    assert.ok(p.alive);
  });
});
