/** The transport's own bounds, in one process: reply connections, addresses, queues. */
import { strict as assert } from 'node:assert';
import { make, RepairRequest } from '../../messages';
import { LEADER_REQUEST_MIN_INTERVAL_MS, MAX_LEADER_REQUESTERS, MAX_REPLY_SOCKETS } from '../../src/limits';
import { Transport } from '../../src/net/transport';

const msg = (n: number) => make(RepairRequest, { from: n });

describe('hostile: transport bounds (in process)', function () {
  this.timeout(20_000);
  let t: Transport;
  const warnings: string[] = [];
  const delivered: string[] = [];
  beforeEach(async () => {
    warnings.length = 0;
    delivered.length = 0;
    t = new Transport({
      self: 'P1', bind: 'tcp://127.0.0.1:0', delayMs: 0, security: { mode: 'plain' }, onMessage: (from, m) => delivered.push(`${from} ${m.kind}`), warn: (l) => warnings.push(l),
      peers: new Map([['P2', 'tcp://127.0.0.1:1'], ['C1', 'tcp://127.0.0.1:2']]),
    });
    await t.start();
  });
  afterEach(() => t.close());

  it(`keeps at most ${MAX_REPLY_SOCKETS} reply connections, closing the least recently used`, () => {
    for (let i = 0; i < MAX_REPLY_SOCKETS + 200; i++) t.send(`x${i}`, msg(i), `tcp://127.0.0.1:${40_000 + (i % 50)}`);
    assert.equal(t.onDemandSockets, MAX_REPLY_SOCKETS);
  });

  it('closes reply connections idle for a minute', async () => {
    for (let i = 0; i < 10; i++) t.send(`idle${i}`, msg(i), `tcp://127.0.0.1:${41_000 + i}`);
    await new Promise((r) => setTimeout(r, 100)); // their frames are handed to ZeroMQ (queued until connected)
    const inner = t as unknown as { onDemand: Map<string, { lastUsed: number }>; closeIdle: () => void };
    for (const [name, p] of inner.onDemand) if (name < 'idle5') p.lastUsed -= 61_000; // idle0..idle4 unused for 61 s
    // LRU order follows use: make the aged ones the least recently used, as they would be.
    const aged = [...inner.onDemand].filter(([n]) => n < 'idle5');
    for (const [n] of aged) inner.onDemand.delete(n);
    const rest = [...inner.onDemand];
    inner.onDemand.clear();
    for (const [n, p] of [...aged, ...rest]) inner.onDemand.set(n, p);
    inner.closeIdle();
    assert.equal(t.onDemandSockets, 5);
  });

  it(`acts on one Leader per client per ${LEADER_REQUEST_MIN_INTERVAL_MS} ms, and remembers at most ${MAX_LEADER_REQUESTERS} clients`, async () => {
    const zmq = await import('zeromq');
    const d = new zmq.Dealer({ linger: 0, sendTimeout: 1000, sendHighWaterMark: 100_000 });
    d.connect(t.endpoint);
    const leader = (from: string) => d.send(JSON.stringify({ from, body: { kind: 'leader' } }));
    try {
      await leader('c0');
      await leader('c0'); // the same client at once: dropped
      for (let i = 1; i <= MAX_LEADER_REQUESTERS + 10; i++) await leader(`c${i}`);
      const end = Date.now() + 10_000;
      while (delivered.length < MAX_LEADER_REQUESTERS + 11 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(delivered.filter((x) => x === 'c0 leader').length, 1, 'the second Leader from c0 within the interval is dropped');
      assert.equal(delivered.length, MAX_LEADER_REQUESTERS + 11, 'every other client\'s first Leader is acted on');
      assert.match(warnings.join('\n'), /dropped a Leader request from c0: its previous one was \d+ ms ago/);
      const remembered = (t as unknown as { leaderAt: Map<string, number> }).leaderAt;
      assert.equal(remembered.size, MAX_LEADER_REQUESTERS, 'the table is bounded');
      assert.ok(!remembered.has('c0') && remembered.has(`c${MAX_LEADER_REQUESTERS + 10}`), 'the least recently seen are forgotten first');
    } finally {
      d.close();
    }
  });

  it('never throws on a bad address: one rate-limited line instead, and no socket', () => {
    const bad = ['bogus://nowhere', 'ipc:///tmp/x', 'tcp://*:1', 'tcp://127.0.0.1:0', '', 'tcp://\x1b[2J:5'];
    for (let round = 0; round < 100; round++) for (const a of bad) t.send('ghost', msg(1), a);
    t.send('C1', msg(1), 'tcp://127.0.0.1:3'); // not C1's nodes.ini address
    t.send('P9', msg(1), 'tcp://127.0.0.1:3'); // a node that is not configured
    t.send('y', msg(1), 'tcp://127.0.0.1:1'); // P2's address, for another name
    assert.equal(t.onDemandSockets, 0);
    assert.ok(warnings.length >= 1 && warnings.length <= 6, `${warnings.length} warnings:\n${warnings.join('\n')}`);
    // eslint-disable-next-line no-control-regex
    assert.ok(!warnings.some((w) => /[\u0000-\u001f]/.test(w)), 'escaped');
  });

  it('decodes at most 64 MiB of large frames per second; the rest are dropped undecoded with a rate-limited line', async () => {
    // The budget's clock stands still, so however slowly a busy machine moves the 150 MiB, the
    // bucket is not refilled meanwhile: exactly the first 64 frames fit it.
    const frozen = Date.now();
    t.close();
    t = new Transport({
      self: 'P1', bind: 'tcp://127.0.0.1:0', delayMs: 0, security: { mode: 'plain' }, onMessage: (from, m) => delivered.push(`${from} ${m.kind}`), warn: (l) => warnings.push(l),
      peers: new Map([['P2', 'tcp://127.0.0.1:1'], ['C1', 'tcp://127.0.0.1:2']]), budgetClock: () => frozen,
    });
    await t.start();
    const zmq = await import('zeromq');
    const d = new zmq.Dealer({ linger: 0, sendTimeout: 1000 });
    d.connect(t.endpoint);
    try {
      const big = JSON.stringify({ from: 'P2', body: { kind: 'nonsense', pad: 'x'.repeat(1024 * 1024) } });
      for (let i = 0; i < 150; i++) await d.send(big);
      const end = Date.now() + 5000;
      while (!warnings.some((w) => /undecoded/.test(w)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      const decoded = warnings.filter((w) => /unknown message kind/.test(w)).length;
      const dropped = warnings.filter((w) => /dropped a frame of \d+ bytes undecoded/.test(w)).length;
      assert.ok(dropped >= 1 && dropped <= 3, warnings.join('\n'));
      assert.ok(decoded <= 3, 'the decoded ones are rate-limited too');
    } finally {
      d.close();
    }
  });

  it('bounds the queue to a client that is down (10,000 frames) with a rate-limited line', () => {
    // Nobody listens at C1's address: its DEALER queues (a client's first answer must not be lost)
    // up to its high-water mark; the queue ahead of it stays bounded.
    for (let i = 0; i < 30_000; i++) t.send('C1', msg(i));
    const full = warnings.filter((w) => /send queue to C1 is full \(10000 frames/.test(w));
    assert.ok(full.length >= 1 && full.length <= 3, warnings.join('\n'));
    const queued = (t as unknown as { sockets: Map<string, { ready: string[] }> }).sockets.get('C1')!.ready.length;
    assert.ok(queued <= 10_000, `${queued} frames queued`);
  });
});
