/**
 * Fast catch-up on real processes (issue 15 item 6): a node killed while the others decide more
 * than the install threshold restarts, installs a peer's checkpoint instead of repairing block by
 * block, serves at the decided depth, backfills the blocks below the checkpoint, and ends with a
 * complete chain that verifies and equals the others'.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { assertAllAgree, Cluster, describeAll, forgetProcs, stopAll } from './harness';

describe('e2e: a node far behind installs a checkpoint and backfills', function () {
  this.timeout(120_000);

  afterEach(async function () {
    const t = this.currentTest;
    if (t?.state === 'failed') process.stderr.write(`\n==== process output for failed test "${t.title}" ====\n${describeAll(40)}\n`);
    forgetProcs();
    await stopAll();
  });
  after(stopAll);

  it('installs, serves at the decided depth, backfills to a complete chain equal to the others', async () => {
    // (Behind by more than two batches (1,000 blocks each): a node that died holding an undecided
    // block first repairs one batch to learn it (votes first), and is then still more than a batch
    // behind, so the leader sends it decided blocks, not its log, and past the threshold it asks
    // for a checkpoint.)
    const threshold = 400;
    const c = await Cluster.start({ nodeArgs: ['--checkpoint-blocks', '25', '--install-threshold', String(threshold), '--quiet'] });
    const c1 = c.startClient(1, { leader: 1 });
    const put = async (i: number) => {
      const r = await c1.op(`put key${i % 7} {"v":${i}}`);
      assert.equal(r.error, undefined, r.error);
      return r;
    };
    const first = await put(0);
    const victim = first.leader === 'P5' ? 4 : 5;
    for (let i = 1; i < 10; i++) await put(i);
    await c.sigkill(victim);
    const behind = 2500;
    const writers = [c1, c.startClient(2, { leader: 1 }), c.startClient(3, { leader: 1 })];
    await Promise.all(writers.map(async (w, k) => {
      for (let i = 10 + k; i < 10 + behind; i += writers.length) {
        const r = await w.op(`put key${i % 7} {"v":${i}}`);
        assert.equal(r.error, undefined, r.error);
      }
    }));
    const leaderDepth = (await c.node(Number(first.leader!.slice(1))).status()).depth;

    const p = await c.startNode(victim);
    const { line } = await p.waitForLine(/installed P\d's checkpoint at depth (\d+)/, { what: `P${victim} to install a checkpoint`, timeoutMs: 20_000 });
    const installedAt = Number(/at depth (\d+)/.exec(line)![1]);
    assert.ok(installedAt > 10 + threshold, `installed at ${installedAt}: far above where it stopped`);
    // It serves at the decided depth: its status reaches the leader's, and a client talking to it is answered.
    for (let t = Date.now(); ; ) {
      const s = await p.status();
      if (s.depth >= leaderDepth) break;
      assert.ok(Date.now() - t < 10_000, `P${victim} still at depth ${s.depth}, the leader decided ${leaderDepth}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const via = await c.connect('X1', { hint: victim }); // (a client that asks the far-behind node first)
    const r = await via.get('key3');
    assert.equal(r.result, (await c.node(Number(first.leader!.slice(1))).kv()).kv.key3, 'the value the leader holds');
    await p.waitForLine(/backfill complete: blocks \d+\.\.\d+ verified back from the anchor and stored/, { what: `P${victim} to finish its backfill`, timeoutMs: 20_000 });
    const s = await p.status() as unknown as { catchUp: { installs: number; backfills: number; backfill: unknown } };
    assert.ok(s.catchUp.installs >= 1 && s.catchUp.backfills >= 1 && s.catchUp.backfill === null, JSON.stringify(s.catchUp));
    await put(2000);
    const agreed = await assertAllAgree(c, { minDepth: 11 + behind });
    assert.equal(agreed.kv.key5, '{"v":2000}');
    // Its files verify and are complete again (no range still being backfilled).
    const cli = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'src', 'cli', 'verify-main.js'), '--data-dir', c.dataDir(victim)], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /installed a peer's checkpoint at depth/);
    assert.doesNotMatch(cli.stdout, /being backfilled/);
    assert.match(cli.stdout, /^ok: \d+ decided block\(s\)/m);
    // And it restarts from what it installed and stored.
    await c.sigkill(victim);
    const again = await c.startNode(victim);
    await again.waitForLine(/\[store\] loaded from checkpoint \d+ \+/, { what: `P${victim} to load from a checkpoint` });
    await put(2001);
    await assertAllAgree(c, { minDepth: 13 + behind });
  });
});
