/**
 * Outsider (no key in the set): a flood of CURVE handshakes with unknown keys at the leader
 * (each goes through the ZAP handler on the node's event loop, and may re-read public/). This
 * measures whether another client is still served at its usual pace meanwhile. Passes if the
 * puts of C2 during the flood take at most 10x their time without it (and at most 3 s for 20).
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Cluster, describeAll, forgetProcs, sleep, stopAll } from '../e2e/harness';
import { keyOf } from './support';

describe('attack-sec: a flood of handshakes with unknown keys', function () {
  this.timeout(120_000);
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(describeAll(8) + '\n');
  });
  after(async () => { forgetProcs(); await stopAll(); });

  it('handshakes with unknown keys from another process (hundreds per second) at the leader: C2 keeps being served', async () => {
    const c = await Cluster.start();
    try {
      const c2 = await c.connect('C2', { timeoutMs: 2000 });
      assert.equal((await c2.put('warm', '1')).result, 'ack');
      const leader = await c.waitForLeader();
      const timePuts = async (n: number, tag: string) => {
        const t0 = Date.now();
        for (let i = 0; i < n; i++) assert.equal((await c2.put(`${tag}${i}`, `${i}`)).result, 'ack');
        return Date.now() - t0;
      };
      const base = await timePuts(20, 'base');
      const serverKey = keyOf(c, `P${leader}`).publicKey;
      // The flood runs in its own process, so it does not slow this one (where C2 runs).
      const script = `
        const zmq = require(${JSON.stringify(path.join(require.resolve('zeromq'), '..', '..'))});
        const keys = Array.from({ length: 32 }, () => zmq.curveKeyPair());
        let attempts = 0;
        process.on('SIGTERM', () => { process.stdout.write(String(attempts)); process.exit(0); });
        (async () => { for (;;) {
          const batch = keys.map((kp) => { const d = new zmq.Dealer({ linger: 0, curveServerKey: ${JSON.stringify(serverKey)}, curvePublicKey: kp.publicKey, curveSecretKey: kp.secretKey }); d.connect(${JSON.stringify(`tcp://127.0.0.1:${c.config.nodes[leader - 1].port}`)}); return d; });
          attempts += batch.length;
          await new Promise((r) => setTimeout(r, 15));
          for (const d of batch) d.close();
        } })();`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d) => { out += d; });
      const exited = new Promise((r) => child.on('exit', r));
      await sleep(1500);
      const during = await timePuts(20, 'flood');
      child.kill('SIGTERM');
      await exited;
      const attempts = Number(out);
      const refused = c.node(leader).lines.filter((l) => /its key is not in the key set/.test(l)).length;
      c2.close();
      process.stderr.write(`    [measured] 20 puts: ${base} ms before, ${during} ms during a flood of ${attempts} handshake attempts; refusal lines printed: ${refused}; leader alive: ${c.nodes.get(leader)!.alive}\n`);
      assert.ok(during <= Math.max(3000, 10 * base), `20 puts took ${during} ms during the flood, ${base} ms before`);
    } finally {
      forgetProcs();
      await stopAll();
    }
  });
});
