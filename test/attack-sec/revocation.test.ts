/**
 * ATTACK (a client key that was withdrawn): the nodes re-read keys/public/ when they meet an
 * unknown key (so `npm run keys -- add` works without a restart), but KeyRing.scan() only adds
 * or replaces entries: a key whose file was removed stays trusted by every running node, for
 * new connections (ZAP) and for its MACs, until each node restarts. Removing a leaked or
 * retired client's public key therefore does not lock it out.
 *
 * FAILS while the weakness exists.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { Client } from '../../src/client/client';
import { KeyRing, publicPath } from '../../src/security/keys';
import { Cluster, describeAll, forgetProcs, sleep, stopAll } from '../e2e/harness';

describe('attack-sec: withdrawing a client key', function () {
  this.timeout(120_000);
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(describeAll(8) + '\n');
  });
  after(async () => { forgetProcs(); await stopAll(); });

  it('after X1.pub is deleted (and the nodes have re-read public/), X1 can no longer get a put acted on', async () => {
    const c = await Cluster.start();
    try {
      const x1 = await c.connect('X1', { timeoutMs: 2000 }); // adds X1 to the key set, as `npm run keys -- add X1` does
      assert.equal((await x1.put('by-x1', '"before"')).result, 'ack');
      x1.close();
      const ring = KeyRing.load(c.config.keysDir, 'X1'); // what the holder of X1's secret keeps
      fs.rmSync(publicPath(c.config.keysDir, 'X1')); // the operator withdraws X1
      await sleep(1200);
      // A new identity makes every node re-read public/ (the folder changed), as it would in use.
      const y1 = await c.connect('Y1', { timeoutMs: 2000 });
      assert.equal((await y1.put('by-y1', '"fresh"')).result, 'ack');
      y1.close();
      await sleep(300);
      const again = await Client.connect({ id: 'X1', config: c.config, timeoutMs: 1000, delayMs: 0, security: { mode: 'curve', ring } });
      const r = await Promise.race([again.put('by-x1', '"after withdrawal"').then((x) => x.result).catch((e) => `error: ${e}`), sleep(6000).then(() => 'no answer')]);
      again.close();
      const kv = await c.node(1).kv();
      assert.notEqual(r, 'ack', `X1's key was withdrawn yet its put was acted on (by-x1 = ${kv.kv['by-x1']})`);
    } finally {
      forgetProcs();
      await stopAll();
    }
  });
});
