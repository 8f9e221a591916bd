/**
 * The two client bugs of issue #14, reproduced on real processes:
 * - an answer arriving before the client's core exists crashed the client
 *   (`TypeError: Cannot read properties of undefined (reading 'onReply')`);
 * - a fresh client's first answer was lost: the node's connection back to a client that has
 *   just started was not up yet, the answer was dropped, and the client waited out a timeout
 *   and forced a needless election.
 */
import { strict as assert } from 'node:assert';
import * as zmq from 'zeromq';
import { Client } from '../../src/client/client';
import { Cluster, describeAll, forgetProcs, sleep, stopAll, tempConfig } from '../e2e/harness';

describe('hostile: client bugs (real processes)', function () {
  this.timeout(60_000);

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(describeAll() + '\n');
    forgetProcs();
    await stopAll();
  });

  it('an answer that arrives before the client is ready does not crash it', async () => {
    // Nodes are down, so the client waits ~1 s for its connections: answers sent to its port
    // during that time used to reach a core that did not exist yet.
    const { config } = await tempConfig(5, 3);
    const c1 = config.clients[0];
    const forger = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
    forger.connect(`tcp://127.0.0.1:${c1.port}`);
    let stop = false;
    const spam = (async () => {
      for (let req = 1; !stop; req++) {
        try {
          await forger.send(JSON.stringify({ from: 'P1', body: { kind: 'reply', client: 'C1', req, result: 'ack', leader: 'P1', depth: 0 } }));
        } catch { /* not connected yet */ }
        await sleep(5);
      }
    })();
    // (The command-line client now exits 4 at once when no node is reachable, so this drives the
    // programmatic client, where the bug was: an uncaught TypeError here fails the test run.)
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError); // (the transport's receive loop rethrows what a handler threw)
    try {
      // Plain links: with CurveZMQ the forger would not get a frame in at all (test/security).
      const client = await Client.connect({ id: 'C1', config, delayMs: 0, timeoutMs: 60_000, security: { mode: 'plain' } });
      await sleep(500); // answers keep arriving after it is ready too
      client.close();
      assert.deepEqual(errors.map(String), [], 'no exception while early answers arrived');
    } finally {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
      stop = true;
      await spam;
      forger.close();
    }
  });

  it('the programmatic client refuses a key with ESC or NUL, or an oversize value, before sending anything', async () => {
    const { config } = await tempConfig(5, 3);
    const sent: string[] = [];
    const client = await Client.connect({ id: 'C1', config, delayMs: 0, timeoutMs: 60_000, trace: (l) => sent.push(l) });
    try {
      await assert.rejects(client.put('a\x1b[2J', '1'), /not sent: the key contains a control character/);
      await assert.rejects(client.get('a\0'), /not sent: the key contains a control character/);
      await assert.rejects(client.put('k', 'x'.repeat(60_001)), /not sent: the value is 60,001 characters long \(60,000 at most\)/);
      await assert.rejects(client.get('k'.repeat(257)), /not sent: the key is 257 characters long/);
      assert.deepEqual(sent.filter((l) => / -> /.test(l)), [], 'nothing was sent');
    } finally {
      client.close();
    }
  });

  it('a fresh client\'s first request is answered at once (no timeout, no second attempt), 3 of 3 clients', async () => {
    const cluster = await Cluster.start();
    // A leader first, elected by a client outside nodes.ini, so C1..C3 have never run: each
    // node's connection to them has been failing and retrying since the node started.
    const warm = await cluster.connect('warmup', { timeoutMs: 5000 });
    await warm.put('warm', '1');
    const leader = await cluster.waitForLeader();
    for (const n of [1, 2, 3]) {
      // The request is typed before the client even starts: it goes out the moment it is ready.
      const c = cluster.startClient(n, { leader, timeoutMs: 5000 });
      const r = await c.op(`put fresh${n} ${n}`, 20_000);
      assert.equal(r.result, 'ack', JSON.stringify(r));
      assert.equal(r.attempts, 1, `C${n} needed ${r.attempts} attempts (first answer lost?): ${JSON.stringify(r)}`);
      assert.ok((r.ms as number) < 4000, `C${n} waited ${r.ms} ms`);
    }
  });
});
