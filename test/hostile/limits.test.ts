/** The limits and text helpers of src/limits.ts, and where the consoles use them. */
import { strict as assert } from 'node:assert';
import { parseClientCommand } from '../../src/cli/commands';
import { blockchainText, kvText, queueText } from '../../src/cli/format';
import {
  keyProblem, MAX_FRAME_BYTES, MAX_KEY_CHARS, MAX_MESSAGE_SIZE, MAX_VALUE_CHARS, operationProblem, printable, printableLines,
  RateLimitedLog, replyAddressProblem,
} from '../../src/limits';
import { Block, Operation, PendingOp } from '../../messages';
import { ChainNode } from '../../src/node/node';

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('hostile: limits and printing', () => {
  it('names the limits consistently', () => {
    assert.ok(MAX_MESSAGE_SIZE > MAX_FRAME_BYTES, 'ZeroMQ must let the codec see (and name) frames just above its limit');
    assert.equal(MAX_KEY_CHARS, 256);
    assert.equal(MAX_VALUE_CHARS, 60_000);
  });

  it('escapes control characters so a printed line cannot drive the terminal', () => {
    assert.equal(printable('\x1b[2J'), '\\x1b[2J');
    assert.equal(printable('a\nb\r\t\0\x7f\u009b\u202e'), 'a\\nb\\r\\t\\x00\\u007f\\u009b\\u202e');
    // A --json line stays valid JSON with the same content once escaped.
    const json = JSON.stringify({ key: 'a\x1b\x7f\u009b\u2028b' });
    assert.deepEqual(JSON.parse(printableLines(json)), { key: 'a\x1b\x7f\u009b\u2028b' });
    assert.equal(printable('plain ascii, ünïcödé'), 'plain ascii, ünïcödé');
    assert.equal(printableLines('one \x1b]0;x\x07\ntwo'), 'one \\x1b]0;x\\x07\ntwo');
  });

  it('refuses keys with control characters, empty or oversize keys, oversize values', () => {
    assert.equal(keyProblem('alice_netid'), null);
    assert.match(keyProblem('a\x1bb')!, /control character/);
    assert.match(keyProblem('a\0')!, /control character/);
    assert.match(keyProblem('')!, /empty/);
    assert.match(keyProblem('k'.repeat(MAX_KEY_CHARS + 1))!, /257 characters long \(256 at most\)/);
    assert.equal(operationProblem('put', 'k', 'v'.repeat(MAX_VALUE_CHARS)), null);
    assert.match(operationProblem('put', 'k', 'v'.repeat(MAX_VALUE_CHARS + 1))!, /60,001 characters long \(60,000 at most\)/);
    assert.equal(operationProblem('get', 'k', undefined), null);
  });

  it('the client console refuses ESC and NUL in keys and oversize values with one line', () => {
    for (const line of ['put a\x1bb {"x":1}', 'get a\0b', 'Operation(get, \x1b[2J)']) {
      const p = parseClientCommand(line);
      assert.equal(p.ok, false, line);
      if (!p.ok) {
        assert.match(p.error, /control characters/);
        assert.ok(!RAW_CONTROL.test(p.error), `the error itself must be printable: ${JSON.stringify(p.error)}`);
      }
    }
    const big = parseClientCommand(`put k "${'x'.repeat(MAX_VALUE_CHARS)}"`);
    assert.equal(big.ok, false);
    if (!big.ok) assert.match(big.error, /60,000 at most/);
  });

  it('accepts only tcp://HOST:PORT reply addresses', () => {
    for (const ok of ['tcp://127.0.0.1:7001', 'tcp://localhost:1', 'tcp://[::1]:65535', 'tcp://node-3.example.org:9000']) assert.equal(replyAddressProblem(ok), null, ok);
    for (const bad of ['bogus://nowhere', 'ipc:///tmp/x', 'inproc://x', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:70000', 'tcp://*:7001',
      'tcp://0.0.0.0:7001', 'tcp://300.1.1.1:5', 'tcp://eth0;x:5', 'tcp://host:5/path', '', 'tcp://' + 'a'.repeat(300) + ':5', 'tcp://-x:5']) {
      assert.notEqual(replyAddressProblem(bad), null, bad);
    }
  });

  it('rate-limits repeated warnings per kind and reports the count suppressed', () => {
    let now = 0;
    const out: string[] = [];
    const log = new RateLimitedLog((l) => out.push(l), 1000, 3, () => now);
    for (let i = 0; i < 5000; i++) log.warn('bad-frame', `bad ${i}`);
    log.warn('other', 'another kind');
    assert.deepEqual(out, ['bad 0', 'bad 1', 'bad 2', 'another kind']);
    now = 1000;
    log.warn('bad-frame', 'bad again');
    assert.equal(out[4], 'bad again (4997 more like it suppressed before this)');
  });

  it('printKVStore, printBlockchain and printQueue escape keys, values and names', () => {
    const op = Operation.of('put', 'evil\x1b[2J', '"\x1b]0;pwned\x07"', 'C\x1b1', 7);
    const block = new Block();
    block.operation = op;
    block.nonce = '00';
    block.hashPointer = '0'.repeat(64);
    const fake = {
      name: 'P1',
      replica: { commit: 1, sm: { dict: new Map([[op.key, op.value!]]) }, pendingOps: () => [PendingOp.of(op, 'tcp://127.0.0.1:1')] },
      blocks: () => [{ depth: 0, block, hash: 'f'.repeat(64), status: 'decided' }],
      chainEnd: () => 1,
    } as unknown as ChainNode;
    for (const text of [kvText(fake), blockchainText(fake), queueText(fake)]) {
      assert.ok(!RAW_CONTROL.test(text), `raw control character in:\n${JSON.stringify(text)}`);
      assert.match(text, /evil\\x1b\[2J/);
    }
  });
});
