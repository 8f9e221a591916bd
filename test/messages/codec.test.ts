import { strict as assert } from 'node:assert';
import {
  Accept, Accepted, AnyMessage, Ballot, Block, ClientReply, ClientRequest, decode, Decide, encode, Forward,
  LeaderRequest, make, MAX_FRAME_BYTES, MESSAGE_CLASSES, Nack, NoLeader, Operation, PendingOp, Prepare, PromiseMsg, Redirect, Refused,
  RepairRequest, RepairResponse, InstallRequest, InstallChunk, BackfillRequest, BackfillResponse,
} from '../../messages';

const op = Operation.of('put', 'alice_netid', '{"phone_number":"111-222-3333"}', 'C1', 3);
const block = Block.of(op, '0a1b2c3d', 'f'.repeat(64));
const b = Ballot.of(4, 2, 17);

const samples: AnyMessage[] = [
  make(ClientRequest, { pending: PendingOp.of(op, 'tcp://127.0.0.1:7101') }),
  make(ClientReply, { client: 'C1', req: 3, result: 'ack', leader: 'P2', depth: 7, digest: '0123456789abcdef' }),
  make(LeaderRequest, {}),
  make(NoLeader, { client: 'C2', req: 9 }),
  make(Redirect, { client: 'C2', req: 9, leader: 'P3' }),
  make(Refused, { client: 'C2', req: 9, reason: 'stale', lastReq: 12, digest: '0123456789abcdef' }),
  make(Forward, { ops: [PendingOp.of(op, 'tcp://x:1')] }),
  make(Prepare, { ballot: b }),
  make(PromiseMsg, { ballot: b, commit: 3, suffixBallot: Ballot.of(3, 1, 3), suffix: [block], queue: [] }),
  make(PromiseMsg, { ballot: b, commit: 3, suffix: [], queue: [] }),
  make(Nack, { reason: 'gap', ballot: b, promised: b, commit: 1, commitHash: 'ab', resume: 2, blocks: [] }),
  make(Accept, { ballot: b, blocks: [block, block], commit: 16, commitHash: 'cd' }),
  make(Accept, { ballot: b, blocks: [block], commit: 16, commitHash: 'cd', end: 19, tail: 'ab'.repeat(64) }),
  make(Accepted, { ballot: b, end: 18, commit: 16, commitHash: 'cd' }),
  make(Decide, { ballot: b, commit: 18, commitHash: 'ef' }),
  make(RepairRequest, { from: 5 }),
  make(RepairResponse, { from: 5, blocks: [block], commit: 6 }),
  make(InstallRequest, { commit: 5, sha256: '', offset: 0 }),
  make(InstallChunk, { depth: 100, sha256: 'a'.repeat(64), total: 9, offset: 0, data: Buffer.from('checkpoint').toString('base64') }),
  make(BackfillRequest, { from: 0, to: 100 }),
  make(BackfillResponse, { from: 99, blocks: [block] }),
];

describe('messages: codec', () => {
  it('has a sample for every message kind', () => {
    assert.deepEqual(new Set(samples.map((m) => m.kind)), new Set(MESSAGE_CLASSES.map((c) => new c().kind)));
  });

  for (const m of samples) {
    it(`round-trips ${m.kind} to the same class and fields`, () => {
      const d = decode(encode('P2', m));
      assert.ok(d.ok, !d.ok ? d.reason : '');
      if (!d.ok) return;
      assert.equal(d.from, 'P2');
      assert.equal(d.msg.constructor, m.constructor);
      assert.deepEqual(JSON.parse(JSON.stringify(d.msg)), JSON.parse(JSON.stringify(m)));
      if ('ballot' in d.msg) assert.ok(d.msg.ballot instanceof Ballot, 'nested ballot is a Ballot');
    });
  }

  it('keeps nested classes (blocks, operations) as instances', () => {
    const d = decode(encode('P1', samples.find((m) => m.kind === 'accept')!));
    assert.ok(d.ok && d.msg.kind === 'accept');
    if (d.ok && d.msg.kind === 'accept') {
      assert.ok(d.msg.blocks[0] instanceof Block);
      assert.ok(d.msg.blocks[0].operation instanceof Operation);
    }
  });

  const rejects: [string, string | Buffer, RegExp][] = [
    ['garbage bytes', Buffer.from([0xff, 0x00, 0x13, 0x37]), /invalid JSON/],
    ['empty frame', '', /invalid JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['no sender', '{"body":{"kind":"leader"}}', /sender/],
    ['no body', '{"from":"P1"}', /body/],
    ['unknown kind', '{"from":"P1","body":{"kind":"hack"}}', /unknown message kind/],
    ['missing kind', '{"from":"P1","body":{}}', /unknown message kind/],
    ['missing nested field', '{"from":"P1","body":{"kind":"prepare","ballot":{"seq":1,"pid":2}}}', /missing field ballot.depth/],
    ['string for int', '{"from":"P1","body":{"kind":"repair-request","from":"5"}}', /from must be an integer/],
    ['negative int', '{"from":"P1","body":{"kind":"repair-request","from":-1}}', /from must be an integer/],
    ['fractional int', '{"from":"P1","body":{"kind":"repair-request","from":1.5}}', /integer/],
    ['bad enum', '{"from":"P1","body":{"kind":"nack","reason":"because","ballot":{"seq":1,"pid":1,"depth":0},"promised":{"seq":1,"pid":1,"depth":0},"commit":0,"commitHash":"","resume":0,"blocks":[]}}', /reason must be one of/],
    ['object for array', '{"from":"P1","body":{"kind":"forward","ops":{}}}', /ops must be an array/],
    ['an accept naming more than MAX_TAIL_HASHES hashes', JSON.stringify({ from: 'P1', body: { kind: 'accept', ballot: { seq: 1, pid: 1, depth: 0 }, blocks: [], commit: 0, commitHash: '', end: 5000, tail: 'a'.repeat(64 * 4097) } }), /tail is longer than 262144/],
    ['bad op in a block', '{"from":"P1","body":{"kind":"repair","from":0,"commit":1,"blocks":[{"operation":{"op":"delete","key":"k","client":"C1","req":1},"nonce":"a","hashPointer":"b"}]}}', /op must be one of/],
  ];
  for (const [name, frame, why] of rejects) {
    it(`rejects ${name} with a reason`, () => {
      const d = decode(frame);
      assert.equal(d.ok, false);
      if (!d.ok) assert.match(d.reason, why);
    });
  }

  it('rejects every truncation of a valid frame', () => {
    const full = Buffer.from(encode('P3', samples.find((m) => m.kind === 'accept')!));
    for (let n = 0; n < full.length; n++) assert.equal(decode(full.subarray(0, n)).ok, false, `prefix of ${n} bytes`);
  });

  it('rejects an oversized frame before parsing it', () => {
    const d = decode(Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20));
    assert.equal(d.ok, false);
    if (!d.ok) assert.match(d.reason, /exceeds/);
  });
});

describe('messages: ballot order', () => {
  it('compares the term (seq, then pid) before depth', () => {
    assert.ok(Ballot.compare(Ballot.of(5, 2, 9), Ballot.of(1, 1, 10)) > 0, 'a higher seq wins whatever the depth');
    assert.ok(Ballot.compare(Ballot.of(5, 3, 0), Ballot.of(5, 2, 99)) > 0, 'then the pid');
    assert.ok(Ballot.compare(Ballot.of(5, 3, 4), Ballot.of(5, 3, 2)) > 0, 'depth only breaks ties within a term');
    assert.equal(Ballot.compareTerm(Ballot.of(5, 3, 4), Ballot.of(5, 3, 2)), 0);
  });
  it('is a total order (antisymmetric and transitive on a grid)', () => {
    const all: Ballot[] = [];
    for (let s = 0; s < 3; s++) for (let p = 1; p < 4; p++) for (let d = 0; d < 3; d++) all.push(Ballot.of(s, p, d));
    for (const x of all) for (const y of all) {
      assert.equal(Math.sign(Ballot.compare(x, y)) + Math.sign(Ballot.compare(y, x)), 0);
      if (Ballot.compare(x, y) === 0) assert.deepEqual(x, y);
      for (const z of all) if (Ballot.compare(x, y) < 0 && Ballot.compare(y, z) < 0) assert.ok(Ballot.compare(x, z) < 0);
    }
  });
});
