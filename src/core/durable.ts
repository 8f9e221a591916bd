/**
 * What an acceptor must not forget across a crash, as a sequence of records. The core
 * changes its durable state only by emitting a record and applying it here; the store
 * writes the same records to disk and `replay` rebuilds the same state on restart, so the
 * in-memory and on-disk views cannot drift apart.
 */
import { Ballot, Block } from '../../messages';
import { blockHash, GENESIS_POINTER } from '../chain';
import { invariant } from './invariant';

export type DurableRecord =
  /** I promised not to take part in any term below `ballot`'s. Written before the promise is sent. */
  | { t: 'promise'; ballot: Ballot }
  /**
   * Tentative blocks accepted under `ballot`: the log is cut at `from` (never below the
   * decided prefix) and `blocks` appended. Written before the accepted reply is sent.
   */
  | { t: 'accept'; ballot: Ballot; from: number; blocks: Block[] }
  /** The blocks below `commit` are decided (the spec's "tag as decided"). */
  | { t: 'decide'; commit: number }
  /** Decided blocks learned from a peer (repair): they are placed at `from`.. and decided at once. */
  | { t: 'learn'; from: number; blocks: Block[] };

/** Records after which the node must fsync before sending anything (Paxos safety across restarts). */
export function needsSync(rec: DurableRecord): boolean {
  return rec.t !== 'decide'; // a lost decide tag is re-learned from peers; the blocks themselves are synced
}

export class DurableState {
  /** Highest term promised (also the highest this node ever used as a candidate). */
  promised: Ballot | null = null;
  /** The chain: decided blocks below `commit`, then the tentative suffix. */
  readonly log: Block[] = [];
  /** hashes[i] = blockHash(log[i]): the hash pointer a block at i+1 must carry. */
  readonly hashes: string[] = [];
  /** First uncommitted index (= number of decided blocks). */
  commit = 0;
  /** The term under which the tentative suffix log[commit..] was accepted (null: never accepted one). */
  suffixBallot: Ballot | null = null;

  get end(): number {
    return this.log.length;
  }

  /** Hash of the block below depth `depth` (the hash pointer a block at `depth` must carry). */
  headHash(depth: number): string {
    return depth === 0 ? GENESIS_POINTER : this.hashes[depth - 1];
  }

  /**
   * Why `rec` cannot follow this state (null: it can). The core's own records always fit; a
   * record read from disk that does not is damage, which `recovery.ts` decides what to do with.
   */
  misfit(rec: DurableRecord): string | null {
    switch (rec.t) {
      case 'promise': return null;
      case 'accept': return rec.from >= this.commit && rec.from <= this.end ? null : `accept record at ${rec.from} outside [${this.commit}, ${this.end}]`;
      case 'decide': return rec.commit <= this.end ? null : `decide ${rec.commit} beyond the log end ${this.end}`;
      case 'learn': {
        if (rec.from > this.commit) return `learn record at ${rec.from} leaves a gap after ${this.commit}`;
        for (let d = rec.from; d < Math.min(this.commit, rec.from + rec.blocks.length); d++) {
          if (this.hashes[d] !== blockHash(rec.blocks[d - rec.from])) return `learned block ${d} differs from the decided one`;
        }
        return null;
      }
    }
  }

  apply(rec: DurableRecord): void {
    const misfit = this.misfit(rec);
    invariant(misfit === null, () => misfit!);
    switch (rec.t) {
      case 'promise':
        this.promised = Ballot.of(rec.ballot.seq, rec.ballot.pid, rec.ballot.depth);
        break;
      case 'accept': {
        this.truncate(rec.from);
        for (const b of rec.blocks) this.push(b);
        this.suffixBallot = Ballot.of(rec.ballot.seq, rec.ballot.pid, rec.ballot.depth);
        break;
      }
      case 'decide':
        if (rec.commit > this.commit) this.commit = rec.commit;
        break;
      case 'learn': {
        for (let i = 0; i < rec.blocks.length; i++) {
          const d = rec.from + i;
          const h = blockHash(rec.blocks[i]);
          if (d < this.commit) {
            // (checked by misfit: the same decided block)
          } else if (d < this.end && this.hashes[d] === h) {
            // already held as tentative: now decided
          } else {
            this.truncate(d); // a tentative block that lost: it and everything above it can never be decided
            this.push(rec.blocks[i]);
          }
        }
        const top = rec.from + rec.blocks.length;
        if (top > this.commit) this.commit = top;
        // Keep the tentative tail only if it still links to the newly decided head.
        if (this.end > this.commit && this.log[this.commit].hashPointer !== this.hashes[this.commit - 1]) this.truncate(this.commit);
        break;
      }
    }
  }

  private push(b: Block): void {
    this.hashes.push(blockHash(b));
    this.log.push(b);
  }

  private truncate(len: number): void {
    invariant(len >= this.commit, () => `truncating decided blocks (to ${len}, commit ${this.commit})`);
    this.log.length = Math.min(this.log.length, len);
    this.hashes.length = this.log.length;
  }

  static replay(records: Iterable<DurableRecord>, opts: { forgetPromises?: boolean } = {}): DurableState {
    const s = new DurableState();
    for (const r of records) {
      if (opts.forgetPromises && r.t === 'promise') continue; // mutation used to prove the simulator bites
      s.apply(r);
    }
    return s;
  }
}
