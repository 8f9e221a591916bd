/**
 * End-to-end recovery tests: the spec's scenarios on real processes (5 node CLIs, client
 * CLIs), real ZeroMQ sockets on loopback and real files. See harness.ts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkLinearizable, HistoryOp } from '../../src/check/linearizability';
import { Client } from '../../src/client/client';
import { Completed } from '../../src/client/client-core';
import { powAccepts, powHash, verifyChain } from '../../src/chain';
import { Operation } from '../../messages';
import { dataEnd } from '../../src/store/disk';
import { encodeRecord } from '../../src/store/record-log';
import {
  assertAllAgree, assertChainVerifies, BlockJson, CLIENT_MAIN, ClientResult, Cluster, describeAll, NODE_MAIN, Proc, tempConfig, eventually, forgetProcs, loadPersisted, resultsFromChain,
  decided, settledWithin, sleep, sortKeys, stopAll, toBlocks, within,
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

/**
 * Edits one character of the put value containing `target` in a chain.log text (same length).
 * With `recompute`, the record's checksum is recomputed and the character chosen so the block's
 * proof of work still holds with its nonce: only the hash pointer of the block above can tell.
 */
function tamper(text: string, target: string, recompute: boolean): { text: string; evil: string } {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(target));
  assert.ok(i >= 0, `no record in chain.log mentions ${target}`);
  assert.ok(lines.slice(i + 1).some((l) => l.length > 0), 'the record to edit is the last one (that would be a torn write, not tampering)');
  if (!recompute) {
    const evil = 'X' + target.slice(1);
    lines[i] = lines[i].replace(target, evil);
    return { text: lines.join('\n'), evil };
  }
  const m = /^(\d+) ([0-9a-f]{8}) (.*)$/.exec(lines[i]);
  assert.ok(m, `not a record line: ${lines[i]}`);
  const rec = JSON.parse(m[3]) as { blocks: { operation: { op: 'put' | 'get'; key: string; value: string; client: string; req: number }; nonce: string }[] };
  const block = rec.blocks.find((b) => b.operation.value?.includes(target));
  assert.ok(block, `no block value mentions ${target}`);
  for (const ch of 'XYZQWKJVBNMPRSTUHGFDCALOEI') {
    const evil = ch + target.slice(1);
    const o = block.operation;
    const value = o.value.replace(target, evil);
    if (!powAccepts(powHash(Operation.of(o.op, o.key, value, o.client, o.req), block.nonce))) continue;
    o.value = value;
    lines[i] = encodeRecord(rec).toString('utf8').replace(/\n$/, '');
    assert.equal(lines[i].length, m[0].length, 'the edit changed the record length');
    return { text: lines.join('\n'), evil };
  }
  throw new Error('no one-character edit keeps the proof of work valid');
}

describe('e2e: recovery scenarios on real processes', function () {
  this.timeout(60_000);

  afterEach(async function () {
    const t = this.currentTest;
    if (t?.state === 'failed' || process.env.CHAINKV_E2E_DUMP) {
      process.stderr.write(`\n==== process output for ${t?.state ?? ''} test "${t?.title ?? ''}" ====\n${describeAll(Number(process.env.CHAINKV_E2E_DUMP) || 25)}\n`);
    }
    forgetProcs();
    await stopAll();
  });
  after(stopAll);

  it('1. sequential operations from three client consoles through different nodes agree everywhere', async () => {
    const c = await Cluster.start();
    const c1 = c.startClient(1, { leader: 1 });
    // C2 and C3 join once a leader exists; a longer timeout keeps a slow machine from turning their forwarded requests into Leader requests.
    const c2 = c.startClient(2, { leader: 3, timeoutMs: 4000 });
    const c3 = c.startClient(3, { leader: 5, timeoutMs: 4000 });
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
    // Whichever of P3 (C2's hint) and P5 (C3's hint) is not the leader forwarded the request to it.
    let forwarded = 0;
    for (const [hint, cid, r] of [[3, 'C2', first2], [5, 'C3', first3]] as const) {
      if (`P${hint}` === leader) continue;
      const fwd = new RegExp(`^P${hint} -> ${leader} FORWARD .*${cid}#${r.req}`);
      await c.node(hint).waitForLine(fwd, { what: `P${hint} forwarding ${cid}#${r.req} to ${leader}`, timeoutMs: 2000 });
      forwarded++;
    }
    assert.ok(forwarded >= 1);
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

  it('2. concurrent operations through different nodes, with racing Leader requests, stay linearizable', async () => {
    const c = await Cluster.start();
    const leaderAsks: string[] = [];
    const rec = new Recorder();
    // Tiny timeouts: with no leader yet, all three time out together and ask (random) nodes to lead at once.
    const clients = await Promise.all([1, 2, 3].map((n) => c.connect(`C${n}`, {
      hint: n, timeoutMs: 250, onEvent: (l) => { if (/become leader/.test(l)) leaderAsks.push(`C${n}: ${l}`); },
    })));
    const N = 20;
    await Promise.all(clients.map(async (cl, idx) => {
      const id = `C${idx + 1}`;
      for (let i = 0; i < N; i++) {
        const key = `k${(i * 7 + idx) % 3}`; // three keys shared by all clients
        if ((i + idx) % 3 === 0) await rec.run(cl, id, 'get', key);
        else await rec.run(cl, id, 'put', key, JSON.stringify({ by: id, i }));
      }
    }));
    assert.equal(rec.done.length, 3 * N, 'every operation is answered');
    assert.ok(leaderAsks.length >= 1, 'no client sent Leader');
    const elections = c.live().reduce((n, p) => n + p.lines.filter((l) => /starting election/.test(l)).length, 0);
    assert.ok(elections >= 1, 'no node started an election');
    const { blocks } = await assertAllAgree(c, { minDepth: 3 * N });
    rec.assertMatchesChain(blocks);
    rec.assertLinearizable();
  });

  it('3. failProcess on the leader mid-stream: clients fail over, no acked put is lost, the node reloads and catches up', async () => {
    const c = await Cluster.start();
    const clients = [1, 2, 3].map((n) => c.startClient(n, { leader: n, timeoutMs: 1500 }));
    const latest = new Map<string, string>(); // key -> value of its last acknowledged put
    const results: { client: string; r: ClientResult }[] = [];
    let acked = 0;
    const PER_CLIENT = 30;
    const streams = Promise.all(clients.map(async (cl, idx) => {
      for (let i = 0; i < PER_CLIENT; i++) {
        const key = `s3_c${idx + 1}_k${i % 3}`;
        const value = JSON.stringify({ c: idx + 1, i });
        const r = await cl.op(`put ${key} ${value}`, 30_000);
        assert.equal(r.result, 'ack', `${cl.id} put ${key}: ${JSON.stringify(r)}`);
        latest.set(key, value);
        results.push({ client: cl.id, r });
        acked++;
      }
    }));
    streams.catch(() => { /* awaited below */ });
    // Mid-stream: find the leader via status and fail it.
    await eventually('a dozen puts acknowledged', () => (acked >= 12 ? null : `${acked} acked`), 30_000, 5);
    const leader = await c.waitForLeader();
    const depthAtKill = (await c.node(leader).status()).depth;
    const exit = await c.failProcess(leader);
    const exitAt = Date.now();
    assert.equal(exit.code, 1, 'failProcess exits at once with code 1');
    assert.ok(acked < 3 * PER_CLIENT - 6, 'the streams ended before the leader failed: the test proves nothing');
    await streams;

    // Clients timed out, sent Leader, and a new leader answered everything issued after the failure.
    assert.ok(results.some(({ r }) => (r.attempts ?? 0) > 1), 'no client ever timed out');
    for (const { client, r } of results) {
      if (r.call > exitAt) assert.notEqual(r.leader, `P${leader}`, `${client}#${r.req} answered by the dead leader`);
    }
    const newLeader = await c.waitForLeader();
    assert.notEqual(newLeader, leader);

    // Restart with the same command: it reloads its chain from disk and catches up.
    const p = await c.startNode(leader);
    const { line } = await p.waitForLine(/\[store\] loaded \d+ records in \d+ ms: \d+ decided block/);
    const loaded = Number(/: (\d+) decided block/.exec(line)![1]);
    assert.ok(loaded >= depthAtKill, `P${leader} reloaded ${loaded} decided blocks; it had ${depthAtKill} when it failed`);
    assert.ok(!p.lines.some((l) => /TAMPERED/.test(l)), 'a clean crash was reported as tampering');
    const { blocks, kv } = await assertAllAgree(c, { minDepth: 3 * PER_CLIENT });
    assert.equal(c.live().length, 5);
    const answers = resultsFromChain(blocks);
    for (const { client, r } of results) assert.equal(answers.get(`${client}#${r.req}`)?.depth, r.depth, `${client}#${r.req}`);

    // No acknowledged put lost: every key reads back its latest acknowledged value, through a client console and on every node.
    for (const [key, value] of latest) {
      assert.equal(kv[key], value, `decided dictionary: ${key}`);
      const writer = Number(/^s3_c(\d)_/.exec(key)![1]);
      const r = await clients[writer % 3].op(`get ${key}`); // read through another client than the writer
      assert.equal(r.result, value, `get ${key}`);
    }
    const disk = loadPersisted(c.dataDir(leader));
    assert.equal(disk.report.tampered, false);
    assert.deepEqual(disk.decidedHashes.slice(0, blocks.length), blocks.map((b) => b.hash), `P${leader}'s chain.log after catching up`);
  });

  it('4. two followers fail and return; with three down nothing is decided until one returns', async () => {
    const c = await Cluster.start();
    const cl = c.startClient(1, { leader: 2, timeoutMs: 2000 });
    const ok = async (line: string, expect: string) => {
      const r = await cl.op(line, 30_000);
      assert.equal(r.result, expect, `${line}: ${JSON.stringify(r)}`);
      return r;
    };
    await ok('put a {"n":1}', 'ack');
    const leader = await c.waitForLeader();
    const [f1, f2, f3, f4] = [1, 2, 3, 4, 5].filter((i) => i !== leader);

    // Two followers down: three of five is still a majority.
    await c.failProcess(f1);
    await c.failProcess(f2);
    const b = await ok('put b {"n":2}', 'ack');
    assert.equal(b.attempts, 1, 'with a majority alive the leader answered at once');
    await ok('get b', '{"n":2}');
    await assertAllAgree(c, { minDepth: 3 });
    await c.startNode(f1);
    await c.startNode(f2);
    const back = await assertAllAgree(c, { minDepth: 3 });
    assert.equal(back.chains.length, 5);

    // Three down: no majority. The operation waits and nothing new is decided.
    await c.failProcess(f1);
    await c.failProcess(f2);
    await c.failProcess(f3);
    const live = c.live();
    assert.deepEqual(live.map((p) => p.id).sort(), [leader, f4].sort());
    const before = await Promise.all(live.map((p) => p.blockchain()));
    const pending = cl.start('put c {"n":3}');
    const early = await settledWithin(cl.result(pending, 60_000), 4000);
    assert.equal(early, 'pending', `answered without a majority: ${JSON.stringify(early)}`);
    const after = await Promise.all(live.map((p) => p.blockchain()));
    for (let i = 0; i < live.length; i++) {
      const d0 = before[i].blocks.filter((x) => x.status === 'decided').map((x) => x.hash);
      const d1 = after[i].blocks.filter((x) => x.status === 'decided').map((x) => x.hash);
      assert.deepEqual(d1, d0, `${live[i].name} decided something without a majority`);
      assert.ok(!after[i].blocks.some((x) => x.status === 'decided' && x.key === 'c'));
    }
    for (const k of await Promise.all(live.map((p) => p.kv()))) assert.equal(k.kv.c, undefined, `${k.node} applied c without a majority`);

    // One comes back: a majority again, the pending operation completes.
    await c.startNode(f1);
    const done = await cl.result(pending, 30_000);
    assert.equal(done.result, 'ack', JSON.stringify(done));
    assert.ok((done.attempts ?? 0) > 1);
    await ok('get c', '{"n":3}');
    await c.startNode(f2);
    await c.startNode(f3);
    const { kv, chains } = await assertAllAgree(c, { minDepth: 5 });
    assert.equal(chains.length, 5);
    assert.deepEqual(kv, { a: '{"n":1}', b: '{"n":2}', c: '{"n":3}' });
  });

  it('4b. a follower down for 200 blocks restarts from disk and catches up by repair', async () => {
    const c = await Cluster.start();
    const client = await c.connect('C1', { hint: 1, timeoutMs: 2000 });
    try {
      await client.put('warm', '{"n":0}');
      await c.waitConverged({ minDepth: 1 }); // followers learn a decision on the next accept or tick, just after the ack
      const leader = await c.waitForLeader();
      const follower = [1, 2, 3, 4, 5].find((i) => i !== leader)!;
      await c.failProcess(follower);
      const before = (await c.node(leader).status()).depth;
      for (let i = 0; i < 200; i++) {
        const r = await client.put(`k${i % 20}`, `{"n":${i}}`);
        assert.equal(r.result, 'ack');
      }
      const leaderDepth = (await c.node(leader).status()).depth;
      assert.ok(leaderDepth >= before + 200, `leader depth ${leaderDepth}`);
      const restarted = await c.startNode(follower);
      const { line } = await restarted.waitForLine(/\[store\] loaded \d+ records in \d+ ms: \d+ decided block/);
      const loaded = Number(/: (\d+) decided block/.exec(line)![1]);
      assert.ok(loaded <= before && loaded >= 1, `reloaded ${loaded} decided blocks from disk (the cluster was at ${before} when it stopped)`);
      // No new operation is needed: the leader's heartbeat shows the gap and repair closes it.
      const chains = await c.waitConverged({ minDepth: leaderDepth, timeoutMs: 20_000 });
      assert.equal(chains.length, 5);
      const mine = chains.find((x) => x.node === `P${follower}`)!;
      assertChainVerifies(mine);
      const kv = await restarted.kv();
      assert.equal(kv.kv.k19, '{"n":199}');
    } finally {
      client.close();
    }
  });

  it('5. partition {P1,P2} | {P3,P4,P5}: the majority goes on, the minority waits, all agree after fixLink', async () => {
    const c = await Cluster.start();
    const rec = new Recorder();
    // Clients that only know P1 and P2: they stay on the minority side of the partition.
    const minorityCfg = { ...c.config, nodes: c.config.nodes.slice(0, 2) };
    const m1 = await c.connect('C1', { hint: 1, timeoutMs: 800, config: minorityCfg });
    const m3 = await c.connect('C3', { hint: 2, timeoutMs: 800, config: minorityCfg });
    const maj = await c.connect('C2', { hint: 3, timeoutMs: 800 });
    // No node leads yet: P1 says so and C1 asks it to lead (or, if that is lost, C1 times out and
    // asks P2, the only other node it knows). Either way the leader is on the minority side.
    await rec.run(m1, 'C1', 'put', 'shared', '{"v":0}');
    assert.ok([1, 2].includes(await c.waitForLeader()), 'the first leader is P1 or P2');
    assert.equal((await rec.run(maj, 'C2', 'get', 'shared')).result, '{"v":0}');
    await c.waitConverged({ minDepth: 2 }); // every node knows both decisions before the partition

    const crossing = [[1, 3], [1, 4], [1, 5], [2, 3], [2, 4], [2, 5]];
    for (const [a, b] of crossing) {
      const p = c.node(a);
      const since = p.mark();
      p.send(`failLink(P${a},P${b})`);
      await p.waitForLine(new RegExp(`^link P${a}<->P${b} failed$`), { since });
    }
    const st = await c.statuses();
    assert.deepEqual(st.map((s) => s.failedLinks), [['P3', 'P4', 'P5'], ['P3', 'P4', 'P5'], [], [], []]);
    const minorityDepth = [st[0].depth, st[1].depth];

    // The majority elects a leader of its own and goes on.
    assert.equal((await rec.run(maj, 'C2', 'put', 'shared', '{"v":1}')).result, 'ack');
    // Minority operations (a read of the value just overwritten, a put) cannot complete now.
    const mGet = rec.run(m1, 'C1', 'get', 'shared', undefined, 45_000);
    const mPut = rec.run(m3, 'C3', 'put', 'minority_key', '{"from":"minority"}', 45_000);
    mGet.catch(() => { /* awaited below */ });
    mPut.catch(() => { /* awaited below */ });
    for (let i = 0; i < 4; i++) {
      assert.equal((await rec.run(maj, 'C2', 'put', `maj_${i}`, `{"i":${i}}`)).result, 'ack');
      assert.equal((await rec.run(maj, 'C2', 'get', `maj_${i}`)).result, `{"i":${i}}`);
    }
    await sleep(1500); // several minority client timeouts and minority elections
    assert.equal(await settledWithin(mGet, 0), 'pending', 'the minority answered a read during the partition');
    assert.equal(await settledWithin(mPut, 0), 'pending', 'the minority answered a put during the partition');
    const majority = [3, 4, 5].map((i) => c.node(i));
    const side = await assertAllAgree(c, { nodes: majority, minDepth: minorityDepth[0] + 9 });
    assert.ok((await c.statuses(majority)).some((s) => s.role === 'leader'), 'no leader on the majority side');
    for (const [i, s] of (await c.statuses([c.node(1), c.node(2)])).entries()) {
      assert.equal(s.depth, minorityDepth[i], `${s.node} decided something inside the minority`);
    }

    // Heal: fixLink at the same ends. The minority's operations complete and everybody agrees.
    for (const [a, b] of crossing) {
      const p = c.node(a);
      const since = p.mark();
      p.send(`fixLink(P${a},P${b})`);
      await p.waitForLine(new RegExp(`^link P${a}<->P${b} fixed$`), { since });
    }
    const [g, put] = await Promise.all([mGet, mPut]);
    assert.equal(g.result, '{"v":1}', 'a read issued after {"v":1} was acknowledged must see it (no stale read from the old leader)');
    assert.equal(put.result, 'ack');
    const { blocks, kv } = await assertAllAgree(c, { minDepth: side.blocks.length + 2 });
    assert.ok((await c.statuses()).every((s) => s.failedLinks.length === 0));
    assert.equal(kv.minority_key, '{"from":"minority"}');
    assert.equal(kv.shared, '{"v":1}');
    rec.assertMatchesChain(blocks);
    rec.assertLinearizable();
  });

  it('6. SIGKILL under load: restarted nodes verify their chains and match the others', async () => {
    const c = await Cluster.start();
    const rec = new Recorder();
    const loaders = await Promise.all([1, 2].map((n) => c.connect(`C${n}`, { hint: n === 1 ? 1 : 4, timeoutMs: 1000 })));
    let stop = false;
    let answered = 0;
    const load = Promise.all(loaders.map(async (cl, idx) => {
      const id = `C${idx + 1}`;
      for (let i = 0; !stop; i++) {
        const key = `load_${id}_${i % 5}`;
        if (i % 4 === 3) await rec.run(cl, id, 'get', key);
        else await rec.run(cl, id, 'put', key, JSON.stringify({ id, i }));
        answered++;
      }
    }));
    load.catch(() => { /* awaited below */ });
    const more = async (n: number) => {
      const target = answered + n;
      await eventually(`${target} operations answered`, () => (answered >= target ? null : `${answered} answered`), 30_000, 10);
    };
    await more(20);
    const leader = await c.waitForLeader();
    const k1 = await c.sigkill(leader);
    assert.equal(k1.signal, 'SIGKILL');
    await more(15); // the clients fail over to a new leader
    await c.startNode(leader);
    await more(15);
    const leader2 = await c.waitForLeader();
    const follower = [1, 2, 3, 4, 5].find((i) => i !== leader && i !== leader2)!;
    await c.sigkill(follower);
    await more(15);
    await c.startNode(follower);
    await more(15);
    stop = true;
    await load;

    const { blocks, chains } = await assertAllAgree(c, { minDepth: answered });
    assert.equal(chains.length, 5);
    for (const id of [leader, follower]) {
      const mine = chains.find((ch) => ch.node === `P${id}`)!;
      const check = verifyChain(toBlocks(mine.blocks));
      assert.ok(check.ok, `P${id}: ${JSON.stringify(check)}`);
      assert.deepEqual(decided(mine).map((b) => b.hash), blocks.map((b) => b.hash));
      const disk = loadPersisted(c.dataDir(id));
      assert.equal(disk.report.tampered, false, `P${id}: ${disk.report.warnings.join('; ')}`);
      assert.deepEqual(disk.decidedHashes.slice(0, blocks.length), blocks.map((b) => b.hash), `P${id}'s chain.log`);
    }
    rec.assertMatchesChain(blocks);
    rec.assertLinearizable();
  });

  for (const variant of ['checksum left stale', 'checksum recomputed and proof of work still valid'] as const) {
    it(`7. a value edited in a stopped follower's chain.log (${variant}) is detected, never served, and repaired from peers`, async () => {
      const c = await Cluster.start();
      const cl = await c.connect('C1', { hint: 1, timeoutMs: 1000 });
      const rec = new Recorder();
      for (let i = 0; i < 6; i++) await rec.run(cl, 'C1', 'put', `t${i}`, JSON.stringify({ secret: `original-${i}` }));
      const leader = await c.waitForLeader();
      await assertAllAgree(c, { minDepth: 6 });
      const victim = [1, 2, 3, 4, 5].find((i) => i !== leader)!;
      await c.failProcess(victim);

      const file = path.join(c.dataDir(victim), 'chain.log');
      const { text, evil } = tamper(fs.readFileSync(file, 'utf8'), 'original-2', variant === 'checksum recomputed and proof of work still valid');
      fs.writeFileSync(file, text);
      // Progress while it is down, so it has more to re-learn.
      for (let i = 6; i < 9; i++) await rec.run(cl, 'C1', 'put', `t${i}`, JSON.stringify({ secret: `original-${i}` }));

      const p = await c.startNode(victim);
      await p.waitForLine(/TAMPERED/, { what: 'a TAMPERED report' });
      const shows = (x: unknown) => JSON.stringify(x).includes(evil);
      // From the first answer on, it never shows the edited value, and it catches up.
      await eventually(`P${victim} repairs from its peers`, async () => {
        const [ch, kv] = [await p.blockchain(), await p.kv()];
        assert.ok(!shows(ch), `P${victim} printBlockchain shows the tampered value: ${JSON.stringify(ch)}`);
        assert.ok(!shows(kv), `P${victim} printKVStore shows the tampered value: ${JSON.stringify(kv)}`);
        return kv.kv.t2 === '{"secret":"original-2"}' && kv.depth >= 9 ? null : `depth ${kv.depth}, t2=${kv.kv.t2}`;
      }, 20_000);
      const { blocks, kv } = await assertAllAgree(c, { minDepth: 9 });
      assert.equal(kv.t2, '{"secret":"original-2"}');
      assert.ok(!shows(blocks));
      assert.equal((await rec.run(cl, 'C1', 'get', 't2')).result, '{"secret":"original-2"}');
      // What it would reload now does not contain the edited value as decided either.
      const disk = loadPersisted(c.dataDir(victim));
      assert.ok(!shows(disk.decidedBlocks), 'the tampered block is still decided on disk');
    });
  }

  it('7c. a torn last record in a stopped follower\'s chain.log (a crash mid-write) is cut off quietly and the node catches up', async () => {
    const c = await Cluster.start();
    const cl = await c.connect('C1', { hint: 1, timeoutMs: 1000 });
    for (let i = 0; i < 5; i++) assert.equal((await cl.put(`t${i}`, `{"i":${i}}`)).result, 'ack');
    const leader = await c.waitForLeader();
    await assertAllAgree(c, { minDepth: 5 });
    const victim = [1, 2, 3, 4, 5].find((i) => i !== leader)!;
    await c.failProcess(victim);
    const file = path.join(c.dataDir(victim), 'chain.log');
    // The last record loses its end (and its newline): in the zero fill ahead of the data that
    // reads as zeros, as when the write's last page never reached the disk.
    const buf = fs.readFileSync(file);
    const end = dataEnd(buf);
    fs.writeFileSync(file, buf.fill(0, end - 7, end));
    const p = await c.startNode(victim);
    await p.waitForLine(/\[store\] discarded a torn last record/, { what: 'the torn-record report' });
    assert.ok(!p.lines.some((l) => /TAMPERED/.test(l)), 'a torn tail was reported as tampering');
    for (let i = 5; i < 8; i++) assert.equal((await cl.put(`t${i}`, `{"i":${i}}`)).result, 'ack');
    const { kv } = await assertAllAgree(c, { minDepth: 8 });
    for (let i = 0; i < 8; i++) assert.equal(kv[`t${i}`], `{"i":${i}}`);
    const disk = loadPersisted(c.dataDir(victim));
    assert.equal(disk.report.warnings.length, 0, `after the restart the file is clean again: ${disk.report.warnings.join('; ')}`);
  });

  it('8. bad input on node and client consoles: a clear error, and the process keeps working', async () => {
    const c = await Cluster.start();
    const p1 = c.node(1);
    const nodeError = async (line: string, expect: RegExp) => {
      const since = p1.mark();
      p1.send(line);
      const { line: out } = await p1.waitForLine(/^error: /, { since, what: `an error for "${line}"` });
      assert.match(out, expect, `node console, "${line}"`);
    };
    await nodeError('frobnicate', /unknown command "frobnicate"/);
    await nodeError('failLink(P1)', /failLink needs two nodes/);
    await nodeError('failLink(P1,P9)', /there is no node P9/);
    await nodeError('fixLink(P1,P9)', /there is no node P9/);
    await nodeError('failLink(P1,banana)', /not a process name/);
    await nodeError('failLink(P2,P3)', /must name this node \(P1\)/);
    await nodeError('failLink(P1,P1)', /two different processes/);
    await nodeError('status now', /status takes no arguments/);
    await nodeError('Operation(put, k, {"a":1})', /client console/);
    assert.ok(p1.alive);
    const s = await p1.status();
    assert.equal(s.node, 'P1');
    assert.deepEqual(s.failedLinks, [], 'a rejected failLink changed the link table');

    const cl = c.startClient(1, { leader: 1, timeoutMs: 1500 });
    const clientError = async (line: string, expect: RegExp) => {
      const r = await cl.op(line, 5000);
      assert.ok(r.error, `client console, "${line}": expected an error, got ${JSON.stringify(r)}`);
      assert.match(r.error, expect, `client console, "${line}"`);
    };
    await clientError('hello', /unknown command "hello"/);
    await clientError('Operation(put alice_netid)', /Operation needs at least an op and a key/);
    await clientError('Operation put, alice_netid, {}', /malformed Operation/);
    await clientError('Operation(delete, alice_netid)', /unknown operation "delete"/);
    await clientError('put alice_netid {"phone_number": 111', /not valid JSON/);
    await clientError('Operation(put, alice_netid, {phone_number: "111"})', /not valid JSON/);
    await clientError('put alice_netid', /put needs a JSON value/);
    await clientError('Operation(put, alice_netid)', /put needs a JSON value/);
    await clientError('get alice_netid extra', /get takes only a key/);
    await clientError('put a,b {"x":1}', /invalid key/);
    assert.ok(cl.alive);
    assert.equal((await cl.op('Operation(put, alice_netid, {"phone_number":"111-222-3333"})', 30_000)).result, 'ack');
    assert.equal((await cl.op('get alice_netid', 30_000)).result, '{"phone_number":"111-222-3333"}');
    // Nothing a bad line did reached the chain: one block per valid operation.
    const { blocks } = await assertAllAgree(c, { minDepth: 2 });
    assert.deepEqual(blocks.map((b) => `${b.op} ${b.key}`), ['put alice_netid', 'get alice_netid']);
    for (const p of c.live()) assert.ok(p.alive, `${p.name} died`);
  });

  /** Runs a CLI with `args` and stdin closed; it must exit on its own within 5 s. */
  async function runCli(script: 'node' | 'client', args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
    const p = new Proc(`${script}-cli`, [script === 'node' ? NODE_MAIN : CLIENT_MAIN, ...args]);
    p.expectExit = true;
    p.child.stdin!.end();
    const exit = await Promise.race([p.exited, sleep(5000).then(() => null)]);
    if (!exit) {
      await p.kill();
      throw new Error(`${script} ${args.join(' ')}: still running after 5 s (the arguments were accepted)\n${p.tail()}`);
    }
    await sleep(50);
    return { code: exit.code, stderr: p.errLines.join('\n'), stdout: p.lines.join('\n') };
  }

  async function expectUsageError(script: 'node' | 'client', args: string[], expect: RegExp): Promise<void> {
    const r = await runCli(script, args);
    const what = `${script} ${args.join(' ')}`;
    assert.equal(r.code, 2, `${what}: exit code ${r.code}, expected 2 (stdout: ${r.stdout.slice(0, 300)} stderr: ${r.stderr})`);
    assert.match(r.stderr, new RegExp(`^${script}: .*\\(see --help\\)$`), `${what}: one usage line on stderr`);
    assert.match(r.stderr, expect, what);
    assert.ok(!/\n\s+at /.test(r.stderr), `${what}: printed a stack trace`);
  }

  it('8b. bad command lines: one usage line on stderr, exit code 2', async () => {
    const { iniPath, dir } = await tempConfig();
    const data = ['--data-dir', path.join(dir, 'P1')];
    await expectUsageError('node', ['9', '--config', iniPath, ...data], /node number must be 1\.\.5, got "9"/);
    await expectUsageError('node', ['--config', iniPath, ...data], /give exactly one node number/);
    await expectUsageError('node', ['1', '--config', path.join(dir, 'missing.ini'), ...data], /cannot read config .*missing\.ini/);
    await expectUsageError('node', ['1', '--config', iniPath, '--delay-ms', '-1', ...data], /--delay-ms must be >= 0/);
    await expectUsageError('node', ['1', '--config', iniPath, '--delay-ms', 'abc', ...data], /--delay-ms must be an integer/);
    await expectUsageError('node', ['1', '--config', iniPath, '--bogus', ...data], /unknown option --bogus/);
    await expectUsageError('client', ['4', '--config', iniPath], /has no \[C4\] section/);
    await expectUsageError('client', ['1', '--config', iniPath, '--leader', '7'], /--leader must be 1\.\.5/);
    await expectUsageError('client', ['1', '--config', iniPath, '--timeout-ms', 'x'], /--timeout-ms must be an integer/);
  });

  // Fails today (product bug, see the e2e report): the client accepts negative times. With
  // --timeout-ms -5 it "times out" on every 20 ms tick and floods the cluster with Leader
  // requests (13 attempts and a dozen elections for one put); the node refuses --delay-ms -1.
  it('8c. the client refuses negative --timeout-ms and --delay-ms, as the node refuses a negative --delay-ms', async () => {
    const { iniPath } = await tempConfig();
    await expectUsageError('client', ['1', '--config', iniPath, '--timeout-ms', '-5'], /--timeout-ms must be/);
    await expectUsageError('client', ['1', '--config', iniPath, '--delay-ms', '-1'], /--delay-ms must be >= 0/);
  });

  it('9. the whole cluster is killed (SIGKILL) and restarted: nothing acknowledged is lost, service resumes', async () => {
    const c = await Cluster.start();
    const cl = c.startClient(1, { leader: 1, timeoutMs: 1500 });
    const latest = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      const key = `w${i % 4}`;
      const value = JSON.stringify({ i });
      const r = await cl.op(`put ${key} ${value}`, 30_000);
      assert.equal(r.result, 'ack', JSON.stringify(r));
      latest.set(key, value);
    }
    const before = await c.waitConverged({ minDepth: 10 });
    await Promise.all([1, 2, 3, 4, 5].map((i) => c.sigkill(i)));
    assert.equal(c.live().length, 0);
    await Promise.all([1, 2, 3, 4, 5].map((i) => c.startNode(i)));
    for (const p of c.live()) {
      const { line } = await p.waitForLine(/\[store\] loaded \d+ records/);
      const n = Number(/: (\d+) decided block/.exec(line)![1]);
      const had = before.find((ch) => ch.node === p.name)!.commit;
      assert.ok(n >= had, `${p.name} reloaded ${n} decided blocks, it had ${had}`);
      assert.ok(!p.lines.some((l) => /TAMPERED/.test(l)), `${p.name} reported tampering after a plain crash`);
    }
    // The same client console goes on: its hint names a node that is no longer leader; it times out and asks for one.
    for (const [key, value] of latest) assert.equal((await cl.op(`get ${key}`, 30_000)).result, value, `get ${key}`);
    assert.equal((await cl.op('put after_restart {"ok":true}', 30_000)).result, 'ack');
    const { kv, blocks } = await assertAllAgree(c, { minDepth: 10 + latest.size + 1 });
    assert.deepEqual(decided(before[0]).map((b) => b.hash), blocks.slice(0, decided(before[0]).length).map((b) => b.hash), 'the decided prefix changed across the restart');
    for (const [key, value] of latest) assert.equal(kv[key], value);
    assert.equal(kv.after_restart, '{"ok":true}');
  });
});
