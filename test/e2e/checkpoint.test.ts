/**
 * Checkpoints on real processes (issue 15): a node killed with SIGKILL restarts from its newest
 * checkpoint, replays only what follows it, catches up and agrees; with that checkpoint damaged
 * it says so in one line and starts from the previous one.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { assertAllAgree, Cluster, describeAll, forgetProcs, stopAll } from './harness';

describe('e2e: restart from a checkpoint on real processes', function () {
  this.timeout(60_000);

  afterEach(async function () {
    const t = this.currentTest;
    if (t?.state === 'failed') process.stderr.write(`\n==== process output for failed test "${t.title}" ====\n${describeAll(25)}\n`);
    forgetProcs();
    await stopAll();
  });
  after(stopAll);

  it('a killed follower restarts from its newest checkpoint (then, that one damaged, from the previous one) and agrees', async () => {
    const c = await Cluster.start({ nodeArgs: ['--checkpoint-blocks', '4', '--quiet'] });
    const c1 = c.startClient(1, { leader: 1 });
    const put = async (i: number) => {
      const r = await c1.op(`put key${i % 3} {"v":${i}}`);
      assert.equal(r.error, undefined, r.error);
      return r;
    };
    const first = await put(0);
    const victim = first.leader === 'P5' ? 4 : 5;
    for (let i = 1; i < 12; i++) await put(i);
    await c.node(victim).waitForLine(/\[store\] checkpoint at depth (8|9|1\d)\b/, { what: `P${victim} to checkpoint past depth 8`, timeoutMs: 10_000 });
    await c.sigkill(victim);
    for (let i = 12; i < 15; i++) await put(i);

    let p = await c.startNode(victim);
    const { line } = await p.waitForLine(/\[store\] loaded from checkpoint (\d+) \+ (\d+) records/, { what: `P${victim} to load from a checkpoint` });
    const [, depth, replayed] = /from checkpoint (\d+) \+ (\d+) records/.exec(line)!.map(Number);
    assert.ok(depth >= 8, line);
    assert.ok(replayed < depth, `replayed ${replayed} records, not the whole chain: ${line}`);
    let agreed = await assertAllAgree(c, { minDepth: 15 });
    assert.deepEqual(agreed.kv, { key0: '{"v":12}', key1: '{"v":13}', key2: '{"v":14}' });

    // Damage its newest checkpoint while it is down: one line, and the previous one is used.
    await c.sigkill(victim);
    const dir = c.dataDir(victim);
    const files = fs.readdirSync(dir).filter((f) => /^checkpoint-\d+\.ckpt$/.test(f)).sort();
    assert.equal(files.length, 2, `two checkpoints kept: ${files.join(', ')}`);
    const newest = path.join(dir, files[1]);
    const buf = fs.readFileSync(newest);
    buf[buf.length - 3] ^= 0x01;
    fs.writeFileSync(newest, buf);
    await put(15);
    p = await c.startNode(victim);
    await p.waitForLine(new RegExp(`\\[store\\] checkpoint ${files[1].replace('.', '\\.')} cannot be used \\(checksum mismatch\\)`), { what: 'the damaged checkpoint reported' });
    const older = Number(/checkpoint-(\d+)/.exec(files[0])![1]);
    await p.waitForLine(new RegExp(`\\[store\\] loaded from checkpoint ${older} \\+`), { what: `P${victim} to load from checkpoint ${older}` });
    agreed = await assertAllAgree(c, { minDepth: 16 });
    assert.equal(agreed.kv.key0, '{"v":15}');

    // Verify on demand: the console's verifyChain (in the background) and npm run verify on a running node's folder.
    p.send('verifyChain');
    await p.waitForLine(/^verifyChain: ok: \d+ decided block\(s\)/, { what: 'verifyChain to finish ok' });
    const cli = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'src', 'cli', 'verify-main.js'), '--data-dir', c.dataDir(victim)], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /^ok: (1[6-9]|[2-9]\d) decided block\(s\)/m);
  });
});
