/** printBlockchain on a long chain: the last 100 by default, the last N, all (paged by the node); parse errors. */
import { strict as assert } from 'node:assert';
import { Block, Operation } from '../../messages';
import { parseNodeCommand } from '../../src/cli/commands';
import { blockchainJson, blockchainText, PRINT_LAST_DEFAULT } from '../../src/cli/format';
import { ChainNode } from '../../src/node/node';

function fakeNode(n: number): ChainNode {
  const block = (d: number) => Block.of(Operation.of('put', `k${d}`, `"v${d}"`, 'C1', d + 1), '00', '0'.repeat(64));
  return {
    name: 'P1',
    replica: { commit: n - 1 },
    chainEnd: () => n,
    blocks: (from = 0, to = n) => Array.from({ length: to - from }, (_, i) => ({ depth: from + i, block: block(from + i), hash: 'f'.repeat(64), status: from + i < n - 1 ? 'decided' : 'tentative' })),
  } as unknown as ChainNode;
}

describe('cli: printBlockchain on a long chain', () => {
  it('shows the last 100 blocks by default and says how to see more; N shows the last N', () => {
    const node = fakeNode(250);
    const text = blockchainText(node);
    assert.match(text.split('\n')[0], /249 decided, 1 tentative \(the last 100; printBlockchain all for all 250/);
    assert.equal(text.split('\n').length, 1 + 2 + PRINT_LAST_DEFAULT);
    assert.match(text, /^150 +decided/m);
    assert.doesNotMatch(text, /^149 /m);
    const five = blockchainText(node, { last: 5 });
    assert.equal(five.split('\n').length, 1 + 2 + 5);
    assert.equal((JSON.parse(blockchainJson(node, { last: 3 })) as { blocks: unknown[] }).blocks.length, 3);
    assert.equal((JSON.parse(blockchainJson(node)) as { blocks: unknown[] }).blocks.length, 250, 'JSON: the whole chain by default (tools read it)');
    assert.doesNotMatch(blockchainText(fakeNode(4)).split('\n')[0], /the last/);
  });

  it('parses printBlockchain, printBlockchain all, printBlockchain N and refuses anything else', () => {
    assert.deepEqual(parseNodeCommand('printBlockchain'), { ok: true, value: { cmd: 'printBlockchain' } });
    assert.deepEqual(parseNodeCommand('printBlockchain all'), { ok: true, value: { cmd: 'printBlockchain', all: true } });
    assert.deepEqual(parseNodeCommand('printblockchain(20)'), { ok: true, value: { cmd: 'printBlockchain', last: 20 } });
    for (const bad of ['printBlockchain 0', 'printBlockchain -3', 'printBlockchain 99999999', 'printBlockchain x', 'printBlockchain 1 2']) {
      const p = parseNodeCommand(bad);
      assert.equal(p.ok, false, bad);
    }
  });
});
