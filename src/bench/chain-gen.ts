/**
 * Writes a valid chain.log of `blocks` decided blocks offline, the way a leader under load
 * would: a promise, then `accept` records of `batch` mined blocks each, each followed by a
 * `decide`, all through ChainStore/FileDisk (fsynced once at the end). The operations are the
 * benchmark's workload: 50% put / 50% get over `keys` keys, from 64 clients.
 */
import * as fs from 'node:fs';
import { Ballot, Block, Operation } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../chain';
import { DurableRecord } from '../core/durable';
import { ChainStore } from '../store/chain-store';
import { FileDisk } from '../store/disk';
import { prng } from './util';
import { keyName, phoneValue } from './workload';

export interface GeneratedChain {
  path: string;
  blocks: number;
  records: number;
  bytes: number;
  ms: number;
}

export function generateChain(file: string, blocks: number, o: { batch?: number; keys?: number; seed?: number; clients?: number } = {}): GeneratedChain {
  const t0 = performance.now();
  const batch = o.batch ?? 64;
  const keys = o.keys ?? 1000;
  const clients = o.clients ?? 64;
  const rand = prng(o.seed ?? 42);
  const random32 = () => Math.floor(rand() * 4294967296) >>> 0;
  fs.rmSync(file, { force: true });
  const store = new ChainStore(new FileDisk(file));
  const ballot = Ballot.of(1, 1, 0);
  let records = 0;
  const write = (recs: DurableRecord[]) => {
    store.write(recs, false);
    records += recs.length;
  };
  write([{ t: 'promise', ballot }]);
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
    write([{ t: 'accept', ballot: ballot.at(from), from, blocks: fresh }, { t: 'decide', commit: from + fresh.length }]);
  }
  store.write([], true); // one fsync for the whole file
  store.close();
  return { path: file, blocks, records, bytes: fs.statSync(file).size, ms: performance.now() - t0 };
}
