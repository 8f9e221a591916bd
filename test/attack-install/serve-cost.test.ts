/**
 * attack-install: what one install-request costs the node that serves it. A request naming an
 * image the server no longer holds makes it look for its newest checkpoint: read the file (up to
 * 512 MiB), parse it, hash it. A peer (hostile, or a stale requester) that repeats such a request
 * makes the server do this every time.
 */
import { strict as assert } from 'node:assert';
import { InstallRequest, make } from '../../messages';
import { FolderNode, Policy, tmpDir, wire } from './support';

const POLICY: Policy = { everyBlocks: 1_000_000, everyBytes: 1e12, windowBlocks: 1000, appendPerTurn: 1_000_000 };

describe('attack-install: the cost of serving', () => {
  it('[FAILS: every install-request naming another image re-reads, parses and hashes the whole checkpoint file] 50 small requests, 50 full reads', () => {
    const n = new FolderNode(tmpDir(), POLICY, 10);
    for (let d = 0; d < 30; d += 10) n.repair(d, d + 10, d + 10);
    assert.equal(n.replica.commit, 30);
    // A first request from a peer far behind: the server takes a checkpoint at 30 and serves it.
    n.step(wire('P4', make(InstallRequest, { commit: 3, sha256: '', offset: 0 })));
    assert.equal(n.served.at(-1)!.msg.depth, 30);
    n.repair(30, 31, 31); // (one more block decided)
    let bytesRead = 0;
    const dir = n.opened.checkpoints;
    const read = dir.read.bind(dir);
    dir.read = (name, max) => {
      const b = read(name, max);
      bytesRead += b?.length ?? 0;
      return b;
    };
    const size = n.served.at(-1)!.msg.total;
    for (let i = 0; i < 50; i++) n.step(wire('P4', make(InstallRequest, { commit: 30, sha256: 'f'.repeat(64), offset: 0 })));
    assert.equal(n.served.at(-1)!.msg.total, 0, 'nothing above 30 to serve');
    assert.ok(bytesRead <= 2 * size, `50 requests of ${JSON.stringify(make(InstallRequest, { commit: 30, sha256: 'f'.repeat(64), offset: 0 })).length} bytes made the server read ${bytesRead} bytes of checkpoint (${bytesRead / size} whole files, each parsed and hashed)`);
  });
});
