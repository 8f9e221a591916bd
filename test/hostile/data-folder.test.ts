/**
 * A data folder knows whose it is (issue #14): the chain.log header, foreign / empty / garbage
 * logs refused with one line, a damaged log rewritten so the next start is clean, the full disk
 * named on restart, and a zombie's pid not holding the LOCK. Real files in temp folders.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ballot, Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { DirLock, processState } from '../../src/node/dir-lock';
import { FileDisk } from '../../src/store/disk';
import { encodeRecord } from '../../src/store/record-log';
import { clusterId, openChainStore, StoreRefused } from '../../src/store/open';

let seed = 7;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);

function history(n: number): DurableRecord[] {
  let head = GENESIS_POINTER;
  const b1 = Ballot.of(1, 1, 0);
  const records: DurableRecord[] = [{ t: 'promise', ballot: b1 }];
  for (let i = 0; i < n; i++) {
    const { block } = mineBlock(Operation.of('put', `k${i}`, `{"v":${i}}`, 'C1', i + 1), head, random);
    head = blockHash(block as Block);
    records.push({ t: 'accept', ballot: b1.at(i), from: i, blocks: [block] });
    records.push({ t: 'decide', commit: i + 1 });
  }
  records.push({ t: 'promise', ballot: Ballot.of(2, 3, n) });
  return records;
}

const CLUSTER = clusterId([{ name: 'P1', host: '127.0.0.1', port: 7001 }, { name: 'P2', host: '127.0.0.1', port: 7002 }]);
const OTHER = clusterId([{ name: 'P1', host: '127.0.0.1', port: 8001 }, { name: 'P2', host: '127.0.0.1', port: 8002 }]);
const P1 = { cluster: CLUSTER, node: 'P1' };

describe('hostile: a data folder knows whose it is', () => {
  let dir = '';
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-folder-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  /** A folder used by `id` that holds `n` decided blocks and a kv.json, as a node leaves it. */
  function used(id = P1, n = 5): string {
    const { store } = openChainStore({ dir, identity: id });
    store.write(history(n), true);
    store.close();
    fs.writeFileSync(path.join(dir, 'kv.json'), JSON.stringify({ depth: n, data: {} }));
    return path.join(dir, 'chain.log');
  }

  const refused = (id: typeof P1, re: RegExp) => {
    assert.throws(() => openChainStore({ dir, identity: id }), (e: Error) => {
      assert.ok(e instanceof StoreRefused, String(e));
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), 'one line');
      assert.ok(e.message.includes(path.join(dir, 'chain.log')), 'names the file');
      return true;
    });
  };

  it('a new log starts with a header naming the cluster and the node; reopening it is clean', () => {
    const file = used();
    assert.match(fs.readFileSync(file, 'utf8').split('\n')[0], new RegExp(`"t":"header".*"cluster":"${CLUSTER}","node":"P1"`));
    const { report, store } = openChainStore({ dir, identity: P1 });
    store.close();
    assert.deepEqual(report.warnings, []);
    assert.equal(report.state.commit, 5);
  });

  it('refuses a chain.log of another cluster, and one of another node, with one line', () => {
    used();
    refused({ cluster: OTHER, node: 'P1' }, /belongs to P1 of another cluster/);
    refused({ cluster: CLUSTER, node: 'P2' }, /belongs to P1, not P2/);
  });

  it('refuses an emptied chain.log when kv.json shows the node held data (no silent cut)', () => {
    const file = used();
    fs.truncateSync(file, 0);
    refused(P1, /is empty while kv\.json \(decided to depth 5\) shows this node ran here/);
    assert.equal(fs.statSync(file).size, 0, 'nothing changed on disk');
  });

  it('refuses a chain.log of random bytes, with or without kv.json, and leaves it as it was', () => {
    for (const withKv of [true, false]) {
      for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
      const file = used();
      if (!withKv) fs.rmSync(path.join(dir, 'kv.json'));
      const garbage = Buffer.alloc(20_000);
      for (let i = 0; i < garbage.length; i++) garbage[i] = 1 + (random() % 255);
      fs.writeFileSync(file, garbage);
      refused(P1, /holds 20000 bytes but no readable chainkv record/);
      assert.deepEqual(fs.readFileSync(file), garbage, 'not cut');
    }
  });

  it('a new folder, and a header torn by a crash at the very first start, are fine', () => {
    const first = openChainStore({ dir, identity: P1 });
    first.store.close();
    const file = path.join(dir, 'chain.log');
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, 30)); // torn inside the header, no kv.json yet
    const again = openChainStore({ dir, identity: P1 });
    again.store.close();
    assert.match(again.report.warnings.join('\n'), /torn last record/);
    assert.deepEqual(fs.readFileSync(file), whole, 'header rewritten');
  });

  it('a log without a header (an older chainkv) is accepted once and given a header', () => {
    const file = path.join(dir, 'chain.log');
    fs.writeFileSync(file, Buffer.concat(history(3).map(encodeRecord)));
    const a = openChainStore({ dir, identity: P1 });
    a.store.close();
    assert.match(a.report.warnings.join('\n'), /had no header .* added one naming P1/);
    assert.equal(a.report.state.commit, 3);
    const b = openChainStore({ dir, identity: P1 });
    b.store.close();
    assert.deepEqual(b.report.warnings, []);
    assert.equal(b.report.state.commit, 3);
  });

  it('a damaged log is reported once: it is rewritten without the damage, keeping the vote floor, and the next start is clean', () => {
    const file = used(P1, 6);
    const text = fs.readFileSync(file, 'utf8');
    const i = text.indexOf('"key":"k2"');
    fs.writeFileSync(file, text.slice(0, i) + '"key":"kX"' + text.slice(i + 10)); // same length, checksum now wrong
    const first = openChainStore({ dir, identity: P1 });
    first.store.close();
    assert.match(first.report.warnings.join('\n'), /TAMPERED/);
    assert.match(first.report.warnings.join('\n'), /rewrote .* damaged file is kept as chain\.log\.damaged-/);
    assert.ok(first.report.voteFloor > first.report.state.commit);
    const floor = first.report.voteFloor;
    assert.ok(fs.readdirSync(dir).some((f) => f.startsWith('chain.log.damaged-')));
    const second = openChainStore({ dir, identity: P1 });
    second.store.close();
    const w = second.report.warnings.join('\n');
    assert.doesNotMatch(w, /TAMPERED/);
    assert.match(w, new RegExp(`will not vote below depth ${floor}`));
    assert.equal(second.report.voteFloor, floor, 'the floor survives the rewrite');
    assert.equal(second.report.state.commit, first.report.state.commit);
    assert.deepEqual(second.report.state.promised, first.report.state.promised, 'the promise survives the rewrite');
  });

  it('after a write that failed on a full disk, the restart names the full disk, not a crash', function () {
    if (!fs.existsSync('/dev/full')) this.skip();
    const link = path.join(dir, 'chain.log');
    fs.symlinkSync('/dev/full', link);
    const d = new FileDisk(link);
    assert.throws(() => d.append(Buffer.from('12 abcdef01 {"t":"x"}\n')), /ENOSPC/);
    d.close();
    assert.match(d.lastFailure()!, /disk was full \(ENOSPC\)/);
    // The file on a real disk would now end in a partial record: put one there and restart.
    fs.rmSync(link);
    fs.writeFileSync(link, '');
    const { store } = openChainStore({ dir, identity: P1 });
    store.write(history(2), true);
    store.close();
    fs.appendFileSync(link, '120 0badf00d {"t":"acc');
    fs.closeSync(fs.openSync(`${link}.DISK-FULL`, 'w'));
    const r = openChainStore({ dir, identity: P1 });
    r.store.close();
    const w = r.report.warnings.join('\n');
    assert.match(w, /the last write failed: the disk was full \(ENOSPC\)/);
    assert.doesNotMatch(w, /crash/);
    assert.equal(fs.existsSync(`${link}.DISK-FULL`), false, 'the mark is cleared once repaired');
  });

  it('the LOCK of a zombie process (exited, not reaped) is taken over', async function () {
    if (!fs.existsSync('/proc/self/stat')) this.skip();
    // sh starts a child that exits at once, then becomes `sleep`, which never reaps it.
    const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 20'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((r) => sh.stdout!.once('data', (d) => r(String(d).trim()))));
      for (let i = 0; i < 100 && processState(pid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(processState(pid), 'Z', `pid ${pid} should be a zombie: ${execFileSync('ps', ['-o', 'pid,stat', '-p', String(pid)]).toString()}`);
      fs.writeFileSync(path.join(dir, 'LOCK'), `${pid}\n`);
      const lock = DirLock.take(dir);
      assert.equal(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8').trim(), String(process.pid));
      lock.release();
    } finally {
      sh.kill('SIGKILL');
    }
  });
});
