/**
 * What HELD (these pass): replay and reflection by the holder of ONE client key (C1), which can
 * capture its own traffic. It listens on C1's address with C1's key, asks P1 for a put, and
 * captures P1's reply frame [P1, MAC, message] (MAC'd under the C1-P1 link key). Then:
 *  - reflects that frame back to P1 (claiming P1 to P1), and replays it to P2 (P1 -> P2);
 *  - replays its own request frame MAC'd for P1 to P2 (a frame for node X replayed to node Y);
 *  - sends its request with the sender frame C1 but the JSON naming C2;
 *  - sends frames whose sender frame is an odd name (path-like, NUL, __proto__, 64 bytes, bad UTF-8).
 * Every one is dropped with a line naming why, and no state changes.
 */
import { strict as assert } from 'node:assert';
import * as zmq from 'zeromq';
import { ClientRequest, encode, make, Operation, PendingOp } from '../../messages';
import { Cluster, describeAll, forgetProcs, sleep, stopAll } from '../e2e/harness';
import { registerZapDomain } from '../../src/security/zap';
import { keyOf, KeyHolder } from './support';

describe('attack-sec (held): replay and reflection with one client key', function () {
  this.timeout(120_000);
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(describeAll(10) + '\n');
  });
  after(async () => { forgetProcs(); await stopAll(); });

  it("C1 reflects P1's MAC'd reply to P1, replays it to P2, replays its P1 request to P2: all dropped, nothing acted on", async () => {
    const c = await Cluster.start();
    const holder = new KeyHolder(c, 'C1');
    const c1 = c.config.clients.find((e) => e.name === 'C1')!;
    const me = `tcp://127.0.0.1:${c1.port}`;
    const router = new zmq.Router({ linger: 0, curveServer: true, curveSecretKey: keyOf(c, 'C1').secretKey });
    // (this process hosts a ZAP handler once a programmatic client runs: give the capture its own domain, admitting all)
    const zap = await registerZapDomain('capture', () => ({ name: 'any' }));
    router.zapDomain = zap.domain;
    try {
      await router.bind(me);
      const warm = await c.connect('C2', { timeoutMs: 2000, hint: 1 });
      assert.equal((await warm.put('warm', '1')).result, 'ack');
      const leader = await c.waitForLeader();
      const req = Date.now() * 1000;
      const request = make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'replayed', '"once"', 'C1', req), me) });
      const reqPayload = encode('C1', request);
      const reqMacForLeader = holder.ring.mac(`P${leader}`, reqPayload)!;
      await holder.socket(leader).send(['C1', reqMacForLeader, reqPayload]);
      const captured = await Promise.race([(async () => { for await (const f of router) if (f.length === 4) return f; return null; })(), sleep(10_000).then(() => null)]);
      assert.ok(captured, 'captured the leader\'s answer to C1');
      const [, sender, mac, payload] = captured!;
      assert.equal(sender.toString(), `P${leader}`);
      assert.match(payload.toString(), /"kind":"reply"/);
      const other = leader === 1 ? 2 : 1;
      const before = JSON.stringify((await c.node(other).blockchain()).blocks);
      await holder.socket(leader).send([sender, mac, payload]); // reflection: P1's frame back to P1
      await holder.socket(other).send([sender, mac, payload]); // P1's frame to P2
      await holder.socket(other).send(['C1', reqMacForLeader, reqPayload]); // C1's frame for P1, to P2
      const asC2 = encode('C2', make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'replayed', '"as C2"', 'C2', req + 1), me) }));
      await holder.socket(other).send(['C1', holder.ring.mac(`P${other}`, asC2)!, asC2]); // envelope C1, JSON C2
      // Odd sender names in the envelope (path-like, NUL, prototype keys, 64 bytes, invalid UTF-8).
      for (const odd of ['../public/P2', 'P2\u0000', '__proto__', 'constructor', 'x'.repeat(64), Buffer.from([0xff, 0xfe, 0x50, 0x32])]) {
        await holder.socket(other).send([odd, Buffer.alloc(32), encode('C1', make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'odd', '"x"', 'C1', req + 2), me) }))]);
      }
      await sleep(1000);
      const lines = (id: number) => c.node(id).lines.join('\n');
      assert.match(lines(leader), new RegExp(`claiming to come from P${leader}: its MAC does not verify`));
      assert.match(lines(other), new RegExp(`claiming to come from P${leader}: its MAC does not verify`));
      assert.match(lines(other), /claiming to come from C1: its MAC does not verify/);
      assert.match(lines(other), /dropped a message from C1 that names C2 as its sender/);
      await sleep(500);
      const after = JSON.stringify((await c.node(other).blockchain()).blocks);
      // The one put C1 really sent is in the chain once; nothing else from these frames.
      assert.equal((before.match(/"key":"replayed"/g) ?? []).length, 1, 'C1\'s own put is in the chain once');
      assert.equal((after.match(/"key":"replayed"/g) ?? []).length, 1, 'and still once after the replays');
      assert.ok(!/as C2/.test(after), 'the C2-named request was not acted on');
      assert.ok(!/"key":"odd"/.test(after), 'no frame with an odd sender name was acted on');
      for (const p of c.nodes.values()) assert.ok(p.alive);
      warm.close();
    } finally {
      router.close();
      zap.release();
      holder.close();
      forgetProcs();
      await stopAll();
    }
  });
});
