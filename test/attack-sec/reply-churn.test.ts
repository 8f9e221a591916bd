/**
 * Probe (one client key outside nodes.ini): every request names a new reply address, so the
 * node closes its reply socket to that client and opens another (src/net/transport.ts peer()).
 * 20,000 requests at the leader as fast as they go, each answering to a different port where
 * nothing listens: the leader must stay up, keep its file descriptors and memory bounded, and
 * keep serving C2.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { ClientRequest, encode, make, Operation, PendingOp } from '../../messages';
import { ensureIdentity } from '../../src/security/keys';
import { Cluster, describeAll, forgetProcs, sleep, stopAll } from '../e2e/harness';
import { KeyHolder } from './support';

const fds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;
const rss = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);

describe('attack-sec: a new reply address on every request', function () {
  this.timeout(180_000);
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(describeAll(8) + '\n');
  });
  after(async () => { forgetProcs(); await stopAll(); });

  it('20,000 requests from X1, each with its own reply port: the leader stays up with bounded fds and keeps serving', async () => {
    const c = await Cluster.start();
    ensureIdentity(c.config.keysDir, 'X1');
    const holder = new KeyHolder(c, 'X1');
    try {
      const c2 = await c.connect('C2', { timeoutMs: 2000 });
      assert.equal((await c2.put('warm', '1')).result, 'ack');
      const leader = await c.waitForLeader();
      const pid = c.node(leader).pid;
      const fd0 = fds(pid);
      const rss0 = rss(pid);
      holder.socket(leader);
      await sleep(300);
      let maxFd = fd0;
      const base = Date.now() * 1000;
      for (let i = 0; i < 20_000; i++) {
        const payload = encode('X1', make(ClientRequest, { pending: PendingOp.of(Operation.of('get', 'warm', undefined, 'X1', base + i), `tcp://127.0.0.1:${40_000 + (i % 20_000)}`) }));
        await holder.send(leader, payload);
        if (i % 1000 === 0) { maxFd = Math.max(maxFd, fds(pid)); await sleep(1); }
      }
      await sleep(2000);
      maxFd = Math.max(maxFd, fds(pid));
      const alive = c.nodes.get(leader)!.alive;
      const depth = alive ? (await c.node(leader).status()).depth : -1;
      const served = alive ? await Promise.race([c2.put('after', '2').then((x) => x.result), sleep(10_000).then(() => 'no answer')]) : 'dead';
      process.stderr.write(`    [measured] P${leader}: fds ${fd0} -> max ${maxFd}, RSS ${rss0} -> ${alive ? rss(pid) : '?'} MiB, alive ${alive}, decided depth ${depth} (each X1 request that got in is a block), C2 afterwards: ${served}\n`);
      c2.close();
      assert.ok(alive, 'the leader died');
      assert.equal(served, 'ack');
      assert.ok(maxFd < fd0 + 600, `file descriptors grew from ${fd0} to ${maxFd}`);
    } finally {
      holder.close();
      forgetProcs();
      await stopAll();
    }
  });
});
