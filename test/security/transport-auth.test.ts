/**
 * The secure transport in one process (src/net/transport.ts with a key ring): who gets in, and
 * which frames are acted on. Raw ZeroMQ sockets play the attackers, each with the keys it has.
 */
import { strict as assert } from 'node:assert';
import * as zmq from 'zeromq';
import { AnyMessage, Ballot, ClientReply, ClientRequest, Decide, encode, LeaderRequest, make, Operation, PendingOp, Prepare } from '../../messages';
import { Transport } from '../../src/net/transport';
import { KeyRing } from '../../src/security/keys';

type KeyPair = { publicKey: string; secretKey: string };
const NAMES = ['P1', 'P2', 'P3', 'C1', 'C2'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(5)) if (Date.now() > end) throw new Error('timed out waiting');
}

describe('security: the transport admits and acts only on what keys prove', function () {
  this.timeout(20_000);
  const keys = new Map<string, KeyPair>(NAMES.map((n) => [n, zmq.curveKeyPair()]));
  const got: { at: string; from: string; msg: AnyMessage }[] = [];
  const warnings: string[] = [];
  const t = new Map<string, Transport>();
  const sockets: zmq.Dealer[] = [];

  before(async () => {
    // Every name known from the start (the config's role), the real endpoints filled in once bound.
    const peers = new Map<string, string>(NAMES.map((n) => [n, 'tcp://127.0.0.1:1']));
    for (const name of ['P1', 'C1']) {
      const tr = new Transport({
        self: name, bind: 'tcp://127.0.0.1:0', peers, delayMs: 0,
        security: { mode: 'curve', ring: KeyRing.inMemory(name, keys) },
        isNode: (n) => n.startsWith('P'),
        onMessage: (from, msg) => got.push({ at: name, from, msg }),
        warn: (l) => warnings.push(`${name}: ${l}`),
      });
      peers.set(name, await tr.bind());
      await tr.start();
      t.set(name, tr);
    }
  });
  after(() => {
    for (const s of sockets) s.close();
    for (const tr of t.values()) tr.close();
  });
  beforeEach(() => {
    got.length = 0;
    warnings.length = 0;
  });

  /** A raw socket to `to`'s ROUTER, with key pair `kp` (null: plain TCP), that says it is `name`. */
  async function attacker(to: string, kp: KeyPair | null): Promise<zmq.Dealer> {
    const curve = kp ? { curveServerKey: keys.get(to)!.publicKey, curvePublicKey: kp.publicKey, curveSecretKey: kp.secretKey } : {};
    const d = new zmq.Dealer({ linger: 0, sendTimeout: 500, ...curve });
    sockets.push(d);
    d.connect(t.get(to)!.endpoint);
    return d;
  }
  /** Sends [claimed, MAC under (macKeyOf -> to), encode(claimed, msg)]. */
  async function sendAs(d: zmq.Dealer, to: string, claimed: string, macKeyOf: string, msg: AnyMessage, bodyFrom = claimed): Promise<void> {
    const payload = encode(bodyFrom, msg);
    const mac = KeyRing.inMemory(macKeyOf, keys).mac(to, payload)!;
    await d.send([claimed, mac, payload]).catch(() => { /* never connected: nothing sent */ });
  }
  const settle = () => sleep(300);
  const prepare = (seq: number, pid: number) => make(Prepare, { ballot: Ballot.of(seq, pid, 0) });
  const request = (client: string) => make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', '"forged"', client, 2 ** 53 - 1), t.get('C1')!.endpoint) });

  it('acts on a frame whose MAC proves its sender (the control: the other cases could pass)', async () => {
    const p2 = await attacker('P1', keys.get('P2')!);
    await sendAs(p2, 'P1', 'P2', 'P2', prepare(3, 2));
    const c1 = await attacker('P1', keys.get('C1')!);
    await sendAs(c1, 'P1', 'C1', 'C1', make(LeaderRequest, {}));
    await settle();
    assert.deepEqual(got.map((g) => `${g.from} ${g.msg.kind}`).sort(), ['C1 leader', 'P2 prepare']);
  });

  it('a peer without CURVE, or with a key not in the set, gets nothing acted on (and the unknown key is logged)', async () => {
    const plain = await attacker('P1', null);
    await plain.send(encode('P2', prepare(2 ** 53 - 1, 2))).catch(() => {});
    const stranger = zmq.curveKeyPair();
    const s = await attacker('P1', stranger);
    const payload = encode('P2', prepare(2 ** 53 - 1, 2));
    await s.send(['P2', Buffer.alloc(32), payload]).catch(() => {});
    await settle();
    assert.deepEqual(got, []);
    assert.ok(warnings.some((w) => /P1: refused a connection from .*: its key is not in the key set/.test(w)), warnings.join('\n'));
  });

  it("a client's key cannot send node kinds, pass as another client, or request in another's name", async () => {
    const c1 = await attacker('P1', keys.get('C1')!);
    await sendAs(c1, 'P1', 'C1', 'C1', make(Decide, { ballot: Ballot.of(9, 1, 0), commit: 5, commitHash: 'x' }));
    await sendAs(c1, 'P1', 'C1', 'C1', prepare(2 ** 40, 1));
    await sendAs(c1, 'P1', 'C2', 'C1', request('C2')); // claims C2, MAC under C1's key
    await sendAs(c1, 'P1', 'C1', 'C1', request('C2')); // honest sender, request in C2's name
    await sendAs(c1, 'P1', 'C1', 'C1', request('C1'), 'C2'); // envelope C1, message says C2
    await settle();
    assert.deepEqual(got, []);
    const w = warnings.join('\n');
    assert.match(w, /dropped decide from C1: a client may not send decide/);
    assert.match(w, /dropped prepare from C1: a client may not send prepare/);
    assert.match(w, /claiming to come from C2: its MAC does not verify/);
    assert.match(w, /dropped request from C1: a client may only send requests in its own name/);
    assert.match(w, /from C1 that names C2 as its sender/);
  });

  it("a node's key cannot pass as another node", async () => {
    const p2 = await attacker('P1', keys.get('P2')!);
    await sendAs(p2, 'P1', 'P3', 'P2', prepare(7, 3));
    await settle();
    assert.deepEqual(got, []);
    assert.match(warnings.join('\n'), /claiming to come from P3: its MAC does not verify/);
  });

  it("a client's socket admits only node keys: another client cannot even connect to it", async () => {
    const c2 = await attacker('C1', keys.get('C2')!);
    await sendAs(c2, 'C1', 'C2', 'C2', make(LeaderRequest, {}));
    await settle();
    assert.deepEqual(got, []);
    assert.match(warnings.join('\n'), /C1: refused a connection from .* with the key of C2: a client takes connections from nodes only/);
  });

  it('a frame that is not [sender, MAC, message] is dropped with one line', async () => {
    const p2 = await attacker('P1', keys.get('P2')!);
    await p2.send(encode('P2', prepare(3, 2))).catch(() => {});
    await settle();
    assert.deepEqual(got, []);
    assert.match(warnings.join('\n'), /dropped a frame of 1 part\(s\) that is not \[sender, MAC, message\]/);
  });

  it('two real transports talk through all of it: an answer reaches the client, a node kind does not', async () => {
    const p1 = t.get('P1')!;
    (p1 as unknown as { o: { peers: Map<string, string> } }).o.peers.set('C1', t.get('C1')!.endpoint);
    p1.send('C1', make(ClientReply, { client: 'C1', req: 1, result: 'ack', leader: 'P1', depth: 1 }));
    p1.send('C1', make(LeaderRequest, {})); // a kind a client does not take
    await until(() => got.length > 0 && warnings.length > 0);
    assert.deepEqual(got.map((g) => `${g.at} <- ${g.from} ${g.msg.kind}`), ['C1 <- P1 reply']);
    assert.match(warnings.join('\n'), /C1: dropped leader from P1: a client takes only answers from nodes/);
  });
});

describe('security: a key removed while a socket to it is open', () => {
  it('nothing more is sent to that identity (one line), rather than a frame without a MAC', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { createKeySet, publicPath } = await import('../../src/security/keys');
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-revoke-')), 'keys');
    createKeySet(dir, ['P1', 'C1']);
    const ring = KeyRing.load(dir, 'P1');
    const warnings: string[] = [];
    const sent: string[] = [];
    const tr = new Transport({
      self: 'P1', bind: 'tcp://127.0.0.1:0', peers: new Map([['P1', 'tcp://127.0.0.1:1'], ['C1', 'tcp://127.0.0.1:2']]), delayMs: 0,
      security: { mode: 'curve', ring }, isNode: (n) => n.startsWith('P'), onMessage: () => {}, warn: (l) => warnings.push(l),
      observe: { sent: (to) => sent.push(to), dropped: () => {} },
    });
    await tr.start();
    try {
      tr.send('C1', make(ClientReply, { client: 'C1', req: 1, result: 'ack', leader: 'P1', depth: 1 }));
      assert.deepEqual(sent, ['C1'], 'sent while C1 has a key');
      fs.rmSync(publicPath(dir, 'C1'));
      ring.refresh();
      tr.send('C1', make(ClientReply, { client: 'C1', req: 2, result: 'ack', leader: 'P1', depth: 1 }));
      assert.deepEqual(sent, ['C1'], 'nothing sent once the key is gone');
      assert.match(warnings.join('\n'), /not sending to C1: no public key of that name in the key set/);
    } finally {
      tr.close();
    }
  });
});
