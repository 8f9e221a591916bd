/**
 * Writes a valid chain.log of `blocks` decided blocks offline, the way a leader under load
 * would: a promise, then `accept` records of `batch` mined blocks each, each followed by a
 * `decide`, all through ChainStore/FileDisk (fsynced once at the end). The operations are the
 * benchmark's workload: 50% put / 50% get over `keys` keys, from 64 clients.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ballot, Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../chain';
import { DurableRecord } from '../core/durable';
import { StateMachine } from '../core/state-machine';
import { BlockFile } from '../store/block-file';
import { ChainStore, headerFor } from '../store/chain-store';
import { checkpointName, encodeCheckpoint, FsCheckpointDir, logTail } from '../store/checkpoint';
import { FileDisk } from '../store/disk';
import { encodeRecord } from '../store/record-log';
import { prng } from './util';
import { keyName, phoneValue } from './workload';

export interface GeneratedChain {
  path: string;
  blocks: number;
  records: number;
  bytes: number;
  ms: number;
}

type GenOptions = { batch?: number; keys?: number; seed?: number; clients?: number };

/** The generated chain, `batch` mined blocks at a time, with the ballot of their accept record. */
function* minedBatches(blocks: number, o: GenOptions): Generator<{ from: number; fresh: Block[]; ballot: Ballot }> {
  const batch = o.batch ?? 64;
  const keys = o.keys ?? 1000;
  const clients = o.clients ?? 64;
  const rand = prng(o.seed ?? 42);
  const random32 = () => Math.floor(rand() * 4294967296) >>> 0;
  const reqs = new Array<number>(clients).fill(1_700_000_000_000_000);
  let head = GENESIS_POINTER;
  for (let from = 0; from < blocks; from += batch) {
    const fresh: Block[] = [];
    for (let d = from; d < Math.min(blocks, from + batch); d++) {
      const c = d % clients;
      const isPut = rand() < 0.5;
      const op = Operation.of(isPut ? 'put' : 'get', keyName(Math.floor(rand() * keys)), isPut ? phoneValue(rand) : undefined, `G${c + 1}`, ++reqs[c]);
      const { block } = mineBlock(op, head, random32);
      head = blockHash(block);
      fresh.push(block);
    }
    yield { from, fresh, ballot: GEN_BALLOT.at(from) };
  }
}

/** The term every generated chain is accepted under; its promise starts every generated chain.log. */
const GEN_BALLOT = Ballot.of(1, 1, 0);
const GEN_PROMISE: DurableRecord = { t: 'promise', ballot: GEN_BALLOT };

export function generateChain(file: string, blocks: number, o: GenOptions = {}): GeneratedChain {
  const t0 = performance.now();
  fs.rmSync(file, { force: true });
  const store = new ChainStore(new FileDisk(file));
  let records = 0;
  const write = (recs: DurableRecord[]) => {
    store.write(recs, false);
    records += recs.length;
  };
  write([GEN_PROMISE]);
  for (const { from, fresh, ballot } of minedBatches(blocks, o)) write([{ t: 'accept', ballot, from, blocks: fresh }, { t: 'decide', commit: from + fresh.length }]);
  store.write([], true); // one fsync for the whole file
  store.close();
  return { path: file, blocks, records, bytes: fs.statSync(file).size, ms: performance.now() - t0 };
}

export interface GeneratedFolder {
  dir: string;
  blocks: number;
  chainBytes: number;
  blocksDatBytes: number;
  checkpointBytes: number;
  ms: number;
}

/**
 * A node's whole data folder as a node that decided `blocks` blocks would have left it, written
 * in one streaming pass (memory does not grow with the chain, so 10,000,000 blocks fit): chain.log
 * (header, a promise, `accept` + `decide` records), blocks.dat and blocks.idx, and a checkpoint at
 * the head.
 * Generating it this way, instead of a node's first start on a chain.log, avoids the full replay
 * that would hold the whole chain in memory.
 */
export function generateNodeFolder(dir: string, blocks: number, identity: { cluster: string; node: string }, o: GenOptions & { progress?: (line: string) => void } = {}): GeneratedFolder {
  const t0 = performance.now();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const chainDisk = new FileDisk(path.join(dir, 'chain.log'));
  chainDisk.append(encodeRecord(headerFor(identity)));
  const store = new ChainStore(chainDisk);
  const blockFile = new BlockFile(new FileDisk(path.join(dir, 'blocks.dat')), { index: new FileDisk(path.join(dir, 'blocks.idx')) });
  const sm = new StateMachine();
  store.write([GEN_PROMISE], false);
  let last: { ballot: Ballot; head: string } | null = null;
  let lastProgress = performance.now();
  for (const { from, fresh, ballot } of minedBatches(blocks, o)) {
    for (const b of fresh) sm.apply(b);
    store.write([{ t: 'accept', ballot, from, blocks: fresh }, { t: 'decide', commit: from + fresh.length }], false);
    blockFile.append(from, fresh);
    last = { ballot, head: blockHash(fresh[fresh.length - 1]) };
    if (o.progress && performance.now() - lastProgress > 5000) {
      lastProgress = performance.now();
      o.progress(`generating a ${blocks.toLocaleString('en-US')}-block node folder: ${(from + fresh.length).toLocaleString('en-US')} blocks`);
    }
  }
  if (!last) throw new Error('a node folder needs at least one block');
  store.write([], true);
  blockFile.sync();
  const logOffset = chainDisk.size();
  const checkpoint = encodeCheckpoint({
    cluster: identity.cluster, node: identity.node, depth: blocks, anchor: last.head, logOffset, logTail: logTail(chainDisk, logOffset),
    promised: GEN_BALLOT, suffixBallot: last.ballot, suffix: [],
    dict: [...sm.dict], sessions: [...sm.sessions],
  });
  new FsCheckpointDir(dir).writeAtomic(checkpointName(blocks), checkpoint);
  const blocksDatBytes = blockFile.bytes;
  store.close();
  blockFile.close();
  return { dir, blocks, chainBytes: logOffset, blocksDatBytes, checkpointBytes: checkpoint.length, ms: performance.now() - t0 };
}
