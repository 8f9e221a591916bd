// Probe (not a test, not run by mocha): the RSS of a node flooded with 15 MB frames (just under
// the 16 MiB frame limit) from one connection for SECS seconds. See the README's known limits.
// node dist/test/hostile/flood-probe.js
import * as fs from 'node:fs';
import * as zmq from 'zeromq';
import { Cluster, sleep, stopAll } from '../e2e/harness';
const rssMB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
(async () => {
  const c = await Cluster.start();
  const p = c.node(1);
  const d = new zmq.Dealer({ linger: 0, sendTimeout: 100, sendHighWaterMark: 1000 });
  d.connect(`tcp://127.0.0.1:${c.config.nodes[0].port}`);
  await sleep(200);
  const big = JSON.stringify({ from: 'P2', body: { kind: 'nonsense', pad: 'x'.repeat(15 * 1024 * 1024) } });
  const base = rssMB(p.pid);
  let peak = base;
  const end = Date.now() + Number(process.env.SECS ?? 5) * 1000;
  let sent = 0;
  while (Date.now() < end) {
    try { await d.send(big); sent++; } catch { /* */ }
    peak = Math.max(peak, rssMB(p.pid));
  }
  await sleep(500);
  peak = Math.max(peak, rssMB(p.pid));
  await sleep(5000);
  console.log(`sent ${sent} frames of 15 MB; P1 RSS ${base.toFixed(0)} -> peak ${peak.toFixed(0)} MB, ${rssMB(p.pid).toFixed(0)} MB 5 s later, alive ${p.alive}`);
  d.close();
  await stopAll();
  process.exit(0);
})();
