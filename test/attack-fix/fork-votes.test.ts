/**
 * attack-fix: the "votes first" rule when the undecided votes lost (a fork): repair must replace
 * them and the fetch must follow; the node must reach the cluster's depth.
 */
import { strict as assert } from 'node:assert';
import { Ballot, Decide, InstallChunk, make } from '../../messages';
import { blockHash } from '../../src/chain';
import { catchUpNet, decided, image, mine, sha, wire } from '../attack-install/support';

const T0 = Ballot.of(1, 1, 0);
const T = Ballot.of(2, 2, 0);
const anchor = (depth: number) => blockHash(decided[depth - 1]);

const net = catchUpNet;

describe('attack-fix: undecided votes that lost', () => {
  it('guard: a far-behind node whose undecided votes 5..29 are a losing fork repairs over them, then fetches and installs', () => {
    const fork = [...decided.slice(0, 5), ...mine(25, 'fork', blockHash(decided[4]), 5)];
    const n = net([
      [{ t: 'promise', ballot: T0 }, { t: 'accept', ballot: T0, from: 0, blocks: fork }, { t: 'decide', commit: 5 }, { t: 'promise', ballot: T }],
      [{ t: 'promise', ballot: T }, { t: 'accept', ballot: T, from: 0, blocks: decided.slice(0, 100) }, { t: 'decide', commit: 100 }],
      [], [], [],
    ]);
    n.step(1, wire('P2', make(Decide, { ballot: T, commit: 100, commitHash: anchor(100) })));
    for (let round = 0; round < 60 && !n.R[0].catchUp.fetch && n.R[0].commit < 100; round++) {
      n.deliver('P1', 'P2', 'repair-request');
      n.deliver('P2', 'P1', 'repair');
    }
    const p1 = n.R[0];
    assert.ok(p1.catchUp.fetch || p1.commit === 100, `P1 neither fetches nor caught up: commit ${p1.commit} end ${p1.durable.end}`);
    if (p1.catchUp.fetch) {
      const img = image(100);
      n.step(1, wire('P2', make(InstallChunk, { depth: 100, sha256: sha(img), total: img.length, offset: 0, data: img.toString('base64') })));
    }
    assert.equal(p1.commit, 100);
    for (let d = 0; d < 5; d++) assert.equal(p1.durable.hash(d) ?? blockHash(decided[d]), blockHash(decided[d]));
  });
});
