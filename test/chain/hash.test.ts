import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { Block, Operation } from '../../messages';
import { blockHash, findNonce, GENESIS_POINTER, operationText, powAccepts, powHash, sha256Hex, verifyChain } from '../../src/chain';

describe('chain: hash pointers and proof of work', () => {
  const op = Operation.of('put', 'alice_netid', '{"phone_number":"111-222-3333"}', 'C1', 1);

  it('uses SHA-256 exactly (known vectors)', () => {
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('canonical operation text is the JSON array [op,key,value|null,client,req]', () => {
    assert.equal(operationText(op), '["put","alice_netid","{\\"phone_number\\":\\"111-222-3333\\"}","C1",1]');
    assert.equal(operationText(Operation.of('get', 'k', undefined, 'C2', 7)), '["get","k",null,"C2",7]');
    assert.equal(operationText(Operation.of('get', 'k', undefined, 'C2', 7, 'a1b2')), '["get","k",null,"C2",7,"a1b2"]', 'the client session is hashed too, when present');
  });

  it('hash pointer = SHA256(operation || nonce || previous pointer) (equation 1)', () => {
    const b = Block.of(op, '0000002a', GENESIS_POINTER);
    const expected = createHash('sha256').update(operationText(op) + '0000002a' + '0'.repeat(64)).digest('hex');
    assert.equal(blockHash(b), expected);
  });

  it('proof of work accepts exactly the hashes ending in 0, 1 or 2 (equation 2)', () => {
    for (const c of '0123456789abcdef') assert.equal(powAccepts('ab' + c), '012'.includes(c), c);
    let x = 7;
    const random = () => (x = (x * 1103515245 + 12345) >>> 0);
    const m = findNonce(op, random);
    assert.equal(m.powHash, createHash('sha256').update(operationText(op) + m.nonce).digest('hex'));
    assert.ok('012'.includes(m.powHash.at(-1)!));
    assert.equal(powHash(op, m.nonce), m.powHash);
  });

  it('verifyChain accepts a good chain and names the first tampered block', () => {
    let x = 1;
    const random = () => (x = (x * 1664525 + 1013904223) >>> 0);
    const blocks: Block[] = [];
    let head = GENESIS_POINTER;
    for (let i = 0; i < 5; i++) {
      const o = Operation.of('put', `k${i}`, `"v${i}"`, 'C1', i + 1);
      const b = Block.of(o, findNonce(o, random).nonce, head);
      head = blockHash(b);
      blocks.push(b);
    }
    const ok = verifyChain(blocks);
    assert.ok(ok.ok);
    if (ok.ok) assert.equal(ok.head, head);

    const tampered = blocks.map((b) => Block.of(Operation.of(b.operation.op, b.operation.key, b.operation.value, b.operation.client, b.operation.req), b.nonce, b.hashPointer));
    tampered[2].operation.value = '"evil"';
    const bad = verifyChain(tampered);
    assert.equal(bad.ok, false);
    // Block 2's own nonce may or may not still pass; block 3's pointer certainly breaks.
    if (!bad.ok) assert.ok(bad.depth === 2 || bad.depth === 3, `depth ${bad.depth}`);

    const badPtr = blocks.slice();
    badPtr[4] = Block.of(blocks[4].operation, blocks[4].nonce, 'f'.repeat(64));
    const r = verifyChain(badPtr);
    assert.deepEqual(r.ok ? null : r.depth, 4);
  });
});
