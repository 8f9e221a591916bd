import { strict as assert } from 'node:assert';
import { AnyMessage, make, RepairRequest } from '../../messages';
import { LinkTable } from '../../src/net/links';
import { Transport } from '../../src/net/transport';

interface Got { from: string; n: number; at: number }

/** Two or three in-process transports on free loopback ports. */
async function mesh(names: string[], delayMs: number): Promise<{ t: Map<string, Transport>; got: Map<string, Got[]>; close: () => void }> {
  const t = new Map<string, Transport>();
  const got = new Map<string, Got[]>();
  for (const name of names) {
    got.set(name, []);
    const tr = new Transport({
      self: name, bind: 'tcp://127.0.0.1:0', peers: new Map(), delayMs, security: { mode: 'plain' },
      onMessage: (from: string, msg: AnyMessage) => got.get(name)!.push({ from, n: (msg as RepairRequest).from, at: Date.now() }),
      warn: () => {},
    });
    await tr.start();
    t.set(name, tr);
  }
  // Every transport learns the others' real endpoints.
  for (const [name, tr] of t) for (const [other, o] of t) if (other !== name) (tr as unknown as { o: { peers: Map<string, string> } }).o.peers.set(other, o.endpoint);
  for (const tr of t.values()) tr.connectAll();
  await new Promise((r) => setTimeout(r, 150));
  return { t, got, close: () => { for (const tr of t.values()) tr.close(); } };
}

const msg = (n: number) => make(RepairRequest, { from: n });
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('net: link table', () => {
  it('fails and fixes links, idempotently', () => {
    const l = new LinkTable();
    assert.ok(l.isUp('P2'));
    assert.equal(l.fail('P2'), true);
    assert.equal(l.fail('P2'), false);
    assert.equal(l.isUp('P2'), false);
    assert.deepEqual(l.failed(), ['P2']);
    assert.equal(l.fix('P2'), true);
    assert.equal(l.fix('P2'), false);
    assert.ok(l.isUp('P2'));
  });
});

describe('net: ZeroMQ transport', function () {
  this.timeout(20_000);

  it('delivers every message after the constant delay, in FIFO order per link, without blocking other links', async () => {
    const m = await mesh(['A', 'B', 'C'], 150);
    try {
      const t0 = Date.now();
      for (let i = 0; i < 50; i++) m.t.get('A')!.send('B', msg(i));
      m.t.get('C')!.send('B', msg(1000));
      const sendMs = Date.now() - t0;
      assert.ok(sendMs < 100, `sending must not wait for the delay (took ${sendMs} ms)`);
      await until(() => m.got.get('B')!.length === 51);
      const fromA = m.got.get('B')!.filter((g) => g.from === 'A');
      assert.deepEqual(fromA.map((g) => g.n), [...Array(50).keys()], 'FIFO per link');
      for (const g of m.got.get('B')!) assert.ok(g.at - t0 >= 145, `delivered after ${g.at - t0} ms, before the 150 ms delay`);
      const fromC = m.got.get('B')!.find((g) => g.from === 'C')!;
      assert.ok(fromC.at - t0 < 400, 'the C->B link was not held up by A->B traffic');
    } finally {
      m.close();
    }
  });

  it('a failed link carries nothing either way, and works again once fixed', async () => {
    const m = await mesh(['A', 'B'], 0);
    try {
      m.t.get('A')!.links.fail('B');
      m.t.get('A')!.send('B', msg(1)); // not sent
      m.t.get('B')!.send('A', msg(2)); // sent by B, refused on receipt by A
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(m.got.get('B')!.length, 0);
      assert.equal(m.got.get('A')!.length, 0);
      m.t.get('A')!.links.fix('B');
      m.t.get('A')!.send('B', msg(3));
      m.t.get('B')!.send('A', msg(4));
      await until(() => m.got.get('B')!.length === 1 && m.got.get('A')!.length === 1);
      assert.equal(m.got.get('B')![0].n, 3);
      assert.equal(m.got.get('A')![0].n, 4);
    } finally {
      m.close();
    }
  });

  it('a link failed during the delay drops what was still in flight', async () => {
    const m = await mesh(['A', 'B'], 200);
    try {
      m.t.get('A')!.send('B', msg(1));
      m.t.get('A')!.links.fail('B');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(m.got.get('B')!.length, 0);
    } finally {
      m.close();
    }
  });

  it('sending to a peer that is down neither blocks nor throws', async () => {
    const m = await mesh(['A'], 0);
    try {
      (m.t.get('A') as unknown as { o: { peers: Map<string, string> } }).o.peers.set('Z', 'tcp://127.0.0.1:1');
      const t0 = Date.now();
      for (let i = 0; i < 1000; i++) m.t.get('A')!.send('Z', msg(i));
      assert.ok(Date.now() - t0 < 500);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      m.close();
    }
  });

  it('drops undecodable frames with one line naming the sender', async () => {
    const warnings: string[] = [];
    const a = new Transport({ self: 'A', bind: 'tcp://127.0.0.1:0', peers: new Map(), delayMs: 0, security: { mode: 'plain' }, onMessage: () => assert.fail('must not deliver'), warn: (l) => warnings.push(l) });
    await a.start();
    const zmq = await import('zeromq');
    const d = new zmq.Dealer({ linger: 0 });
    d.connect(a.endpoint);
    try {
      await d.send('{"from":"P9","body":{"kind":"accept","ballot":5}}');
      await d.send('not json at all');
      await until(() => warnings.length === 2);
      assert.match(warnings[0], /from P9: bad accept/);
      assert.match(warnings[1], /invalid JSON/);
    } finally {
      d.close();
      a.close();
    }
  });
});
