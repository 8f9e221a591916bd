/**
 * ATTACK (one client key + one bad public key in the set): KeyRing accepts any 40-character Z85
 * line as a public key. If one identity's public key is a low-order X25519 point (all zeros here;
 * e.g. a client operator hands in such a "public key" to be added to public/), deriving its link
 * key throws (OpenSSL refuses an all-zero shared secret). The transport calls ring.verify() for
 * the sender a frame CLAIMS, outside any try, in its receive loop: the loop dies, the promise
 * rejects unhandled, and the node process exits. So any admitted key holder (here C1's key) can
 * kill every node with one frame each, claiming that identity — and again after each restart.
 *
 * FAILS while the weakness exists.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { publicPath } from '../../src/security/keys';
import { z85Encode } from '../../src/security/z85';
import { Cluster, forgetProcs, sleep, stopAll } from '../e2e/harness';
import { KeyHolder } from './support';

describe('attack-sec: a low-order public key in the set', function () {
  this.timeout(120_000);
  after(async () => { forgetProcs(); await stopAll(); });

  it("C1's key sends one frame claiming Z (whose public key is all zeros) to each node: every node stays up", async () => {
    const c = await Cluster.start();
    const holder = new KeyHolder(c, 'C1');
    try {
      const warm = await c.connect('C2', { timeoutMs: 2000 });
      assert.equal((await warm.put('warm', '1')).result, 'ack');
      warm.close();
      fs.writeFileSync(publicPath(c.config.keysDir, 'Z'), `${z85Encode(Buffer.alloc(32))}\n`, { mode: 0o644 });
      await sleep(1100); // (the ring re-reads public/ when the folder changed anyway)
      for (const id of [1, 2, 3, 4, 5]) {
        holder.socket(id);
      }
      await sleep(300);
      for (const id of [1, 2, 3, 4, 5]) {
        await Promise.race([holder.socket(id).send(['Z', Buffer.alloc(32), '{}']).catch(() => {}), sleep(1000)]);
      }
      await sleep(1500);
      const dead = [...c.nodes.values()].filter((p) => !p.alive).map((p) => `P${p.id} (exit ${p.exitInfo?.code}: ${p.errLines.filter((l) => /Error|derivation|receiving stopped/.test(l) || /^\s+at /.test(l)).slice(0, 4).join(' | ').slice(0, 400)} ${p.lines.filter((l) => /receiving stopped/.test(l)).join(' ').slice(0, 200)})`);
      for (const p of c.nodes.values()) p.expectExit = true; // (reported below, not as an unexpected exit)
      assert.deepEqual(dead, [], 'nodes killed by one frame each');
    } finally {
      holder.close();
      forgetProcs();
      await stopAll();
    }
  });
});
