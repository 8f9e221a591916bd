/**
 * End-to-end recovery tests: the spec's scenarios on real processes (5 node CLIs, client
 * CLIs), real ZeroMQ sockets on loopback and real files. See harness.ts.
 */
import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { checkLinearizable, HistoryOp } from '../../src/check/linearizability';
import { Client } from '../../src/client/client';
import { Completed } from '../../src/client/client-core';
import {
  assertAllAgree, BlockJson, ClientResult, Cluster, describeAll, eventually, forgetProcs, loadPersisted, resultsFromChain,
  settledWithin, sleep, sortKeys, stopAll, within,
} from './harness';

/** Runs programmatic-client operations and records them as a history for the linearizability checker. */
class Recorder {
  readonly history: HistoryOp[] = [];
  readonly done: { client: string; c: Completed }[] = [];

  async run(client: Client, id: string, op: 'put' | 'get', key: string, value?: string, timeoutMs = 30_000): Promise<Completed> {
    const call = performance.now();
    const c = await within(op === 'put' ? client.put(key, value!) : client.get(key), timeoutMs, `${id} ${op} ${key}`);
    const ret = performance.now();
    this.history.push({ client: id, op, key, value: op === 'put' ? value : undefined, result: op === 'get' ? c.result : undefined, call, ret });
    this.done.push({ client: id, c });
    return c;
  }

  /** Every answer is what the decided chain gives for that request, at the depth the reply named. */
  assertMatchesChain(blocks: BlockJson[]): void {
    const answers = resultsFromChain(blocks);
    for (const { client, c } of this.done) {
      const a = answers.get(`${client}#${c.req}`);
      assert.ok(a, `${client}#${c.req} (${c.op} ${c.key}) was answered but is not in the decided chain`);
      assert.equal(a.result, c.result, `${client}#${c.req} ${c.op} ${c.key}: answered ${c.result}, the chain gives ${a.result}`);
      assert.equal(a.depth, c.depth, `${client}#${c.req}: answered at depth ${c.depth}, decided at ${a.depth}`);
    }
  }

  assertLinearizable(): void {
    const v = checkLinearizable(this.history);
    assert.ok(v.ok, v.ok ? '' : `not linearizable on key ${v.key}: ${v.reason}\n${JSON.stringify(v.ops, null, 1)}`);
  }
}

describe('e2e: recovery scenarios on real processes', function () {
  this.timeout(60_000);

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(`\n==== process output for failed test "${this.currentTest.title}" ====\n${describeAll()}\n`);
    forgetProcs();
    await stopAll();
  });
  after(stopAll);

  it('1. sequential operations from three client consoles through different nodes agree everywhere', async () => {
    const c = await Cluster.start();
    const c1 = c.startClient(1, { leader: 1 });
    const c2 = c.startClient(2, { leader: 3 });
    const c3 = c.startClient(3, { leader: 5 });
    const done: { client: string; r: ClientResult }[] = [];
    const run = async (cl: typeof c1, line: string, expect: string) => {
      const r = await cl.op(line);
      assert.equal(r.error, undefined, `${cl.id} "${line}" failed: ${r.error}`);
      assert.equal(r.result, expect, `${cl.id} "${line}" returned ${r.result}, expected ${expect}`);
      done.push({ client: cl.id, r });
      return r;
    };
    // The first operation elects a leader (P1 knows none yet: C1 times out and sends Leader elsewhere).
    await run(c1, 'Operation(get, alice_netid)', 'NO_KEY');
    await run(c1, 'Operation(put, alice_netid, {"phone_number":"111-222-3333"})', 'ack');
    const first2 = await run(c2, 'Operation(get, alice_netid)', '{"phone_number":"111-222-3333"}');
    const first3 = await run(c3, 'put alice_netid {"phone_number":"444-555-6666"}', 'ack');
    // C2 (hint P3) and C3 (hint P5) reached the leader without timing out: forwarded, or the hint was right.
    assert.equal(first2.attempts, 1, 'C2 needed a Leader request although a leader existed');
    assert.equal(first3.attempts, 1, 'C3 needed a Leader request although a leader existed');
    const leader = first2.leader!;
    assert.ok(leader !== 'P3' || first3.leader !== 'P5', 'one of C2/C3 must have gone through a follower');
    await run(c1, 'get alice_netid', '{"phone_number":"444-555-6666"}');
    await run(c2, 'put bob_netid {"phone_number":"999"}', 'ack');
    await run(c3, 'get bob_netid', '{"phone_number":"999"}');
    await run(c3, 'get carol_netid', 'NO_KEY');
    await run(c2, 'Operation(put, bob_netid, {"phone_number":"888","note":"a, b"})', 'ack');
    await run(c1, 'Operation(get, bob_netid)', '{"phone_number":"888","note":"a, b"}');
    await run(c2, 'get alice_netid', '{"phone_number":"444-555-6666"}');
    for (const { r } of done.slice(2)) assert.equal(r.leader, leader, 'the leader changed without any failure');

    const { blocks, kv, chains } = await assertAllAgree(c, { minDepth: done.length });
    assert.deepEqual(kv, sortKeys({ alice_netid: '{"phone_number":"444-555-6666"}', bob_netid: '{"phone_number":"888","note":"a, b"}' }));
    // Each answer is the one its block gives, at the depth the reply named; one block per request.
    const answers = resultsFromChain(blocks);
    for (const { client, r } of done) {
      const a = answers.get(`${client}#${r.req}`);
      assert.ok(a, `${client}#${r.req} is not in the decided chain`);
      assert.equal(a.result, r.result);
      assert.equal(a.depth, r.depth);
    }
    assert.equal(answers.size, done.length, 'requests decided that no client sent');
    assert.equal(chains.length, 5);

    // On disk: every node's chain.log reloads to the same decided chain, and kv.json catches up with it.
    for (const p of c.live()) {
      const disk = loadPersisted(c.dataDir(p.id));
      assert.equal(disk.report.tampered, false, `${p.name}: ${disk.report.warnings.join('; ')}`);
      assert.deepEqual(disk.decidedHashes, blocks.map((b) => b.hash), `${p.name}'s chain.log`);
    }
    await eventually('kv.json of every node matches the decided dictionary', () => {
      for (const p of c.live()) {
        const k = loadPersisted(c.dataDir(p.id)).kvJson;
        if (!k || k.depth !== blocks.length || JSON.stringify(sortKeys(k.data)) !== JSON.stringify(kv)) return `${p.name}: ${JSON.stringify(k)}`;
      }
      return null;
    }, 5000);
  });
});
