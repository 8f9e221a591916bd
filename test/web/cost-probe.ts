// Probe (not a test, not run by mocha): what --events costs a process, measured on the reporter
// alone: per message sent (the transport's only call), and per event line (at most 10 a second)
// with a changed status, a chain tail of 8 blocks and 30 messages. See the README's web view section.
// node dist/test/web/cost-probe.js
import { chainTail, EventReporter, kvSample } from '../../src/events/reporter';

const log = Array.from({ length: 1000 }, (_, i) => ({ operation: { op: 'put', key: `key${i}`, value: `{"v":${i}}`, client: `L${i % 64}`, req: i }, nonce: 'abcdef12', hashPointer: 'a'.repeat(64) }));
const hashes = log.map(() => 'b'.repeat(64));
const dict = new Map(log.map((b) => [b.operation.key, b.operation.value!]));
let v = 0;
const st = { node: 'P1', role: 'leader', leader: 'P1', ballot: '<1,1,0>', promised: '<1,1,0>', depth: 1000, tentative: 3, queue: 10, failedLinks: [] };
const r = new EventReporter('P1', { state: () => ({ ...st, depth: v }), chainVersion: () => String(v), chain: () => chainTail(log, hashes, 990), kv: () => kvSample(dict) }, () => undefined);
const peers = Array.from({ length: 68 }, (_, i) => (i < 4 ? `P${i + 2}` : `L${i}`));
const kinds = ['accept', 'reply', 'decide'];
let t0 = process.hrtime.bigint();
const N = 2_000_000;
for (let i = 0; i < N; i++) {
  r.sent(peers[i % 68], kinds[i % 3]);
  if (i % 10_000 === 0) r.take();
}
console.log(`sent(): ${(Number(process.hrtime.bigint() - t0) / N).toFixed(0)} ns per message (with a take() every 10,000, 68 peers)`);
const M = 5000;
t0 = process.hrtime.bigint();
for (let i = 0; i < M; i++) {
  v++;
  for (let j = 0; j < 30; j++) r.sent(peers[j], kinds[j % 3]);
  r.take();
}
console.log(`take(): ${(Number(process.hrtime.bigint() - t0) / M / 1000).toFixed(1)} us per event line (status and chain tail changed, 30 messages)`);
