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
  | { t: 'learn'; from: number; blocks: Block[] }
  /**
   * A checkpoint of a peer was installed: blocks below `depth` are decided, block depth-1
   * hashes to `anchor`, and they are not held (the dictionary is in the installed checkpoint
   * file, the blocks are backfilled into blocks.dat). The promise stays; tentative blocks stay
   * only if they are above `depth` and link to `anchor` (the others can never be decided).
   */
  | { t: 'install'; depth: number; anchor: string };

/** Records after which the node must fsync before sending anything (Paxos safety across restarts). */
export function needsSync(rec: DurableRecord): boolean {
  return rec.t !== 'decide'; // a lost decide tag is re-learned from peers; the blocks themselves are synced
}

/**
 * Decided blocks below the in-memory window (see `DurableState.base`), read from disk. Null: the
 * block cannot be read now (a damaged block file); the caller serves less or asks again later.
 */
export interface OlderBlocks {
  block(depth: number): Block | null;
}

/** The acceptor state a checkpoint restores before the records written after it are replayed. */
export interface DurableBase {
  /** Decided depth at the checkpoint: blocks below it stay on disk. */
  depth: number;
  /** Hash of the block at depth-1 (the hash pointer the block at `depth` must carry). */
  anchor: string;
  promised: Ballot | null;
  suffixBallot: Ballot | null;
  /** The tentative blocks from `depth` on, as chain.log held them at the checkpoint. */
  suffix: Block[];
}

export class DurableState {
  /** Highest term promised (also the highest this node ever used as a candidate). */
  promised: Ballot | null = null;
  /**
   * First depth held in memory. Blocks below it are decided and on disk (`older`), like etcd's
   * MemoryStorage after Compact: a checkpoint restart starts here, and a running node moves it
   * up (`compact`) so its memory does not grow with the chain.
   */
  base = 0;
  /** Hash of the block at base-1 (GENESIS_POINTER at 0). */
  private baseHash = GENESIS_POINTER;
  /** The in-memory window: win[i] is the block at depth base+i, winHashes[i] its hash. */
  private win: Block[] = [];
  private winHashes: string[] = [];
  /** Where blocks below `base` are read (null: nothing was ever compacted away). */
  older: OlderBlocks | null = null;
  /** First uncommitted index (= number of decided blocks). */
  commit = 0;
  /** The term under which the tentative suffix log[commit..] was accepted (null: never accepted one). */
  suffixBallot: Ballot | null = null;

  /** A state that starts at a checkpoint: decided up to `b.depth`, with the acceptor state it saved. */
  static fromBase(b: DurableBase, older: OlderBlocks | null): DurableState {
    const s = new DurableState();
    s.base = s.commit = b.depth;
    s.baseHash = b.depth === 0 ? GENESIS_POINTER : b.anchor;
    s.older = older;
    s.promised = b.promised ? Ballot.of(b.promised.seq, b.promised.pid, b.promised.depth) : null;
    s.suffixBallot = b.suffixBallot ? Ballot.of(b.suffixBallot.seq, b.suffixBallot.pid, b.suffixBallot.depth) : null;
    for (const blk of b.suffix) s.push(blk);
    return s;
  }

  get end(): number {
    return this.base + this.win.length;
  }

  /** The whole chain as arrays, for tests and tools on states that were never compacted. */
  get log(): readonly Block[] {
    invariant(this.base === 0, () => `the chain below depth ${this.base} is on disk, not in memory`);
    return this.win;
  }
  get hashes(): readonly string[] {
    invariant(this.base === 0, () => `the chain below depth ${this.base} is on disk, not in memory`);
    return this.winHashes;
  }

  /** The block at `depth` (null: beyond the end, or below the window and unreadable). */
  block(depth: number): Block | null {
    if (depth >= this.base) return this.win[depth - this.base] ?? null;
    return depth >= 0 ? this.older?.block(depth) ?? null : null;
  }

  /** blockHash of the block at `depth` (null as for `block`). */
  hash(depth: number): string | null {
    if (depth >= this.base) return this.winHashes[depth - this.base] ?? null;
    if (depth === this.base - 1) return this.baseHash;
    const b = this.block(depth);
    return b ? blockHash(b) : null;
  }

  /** The block at `depth` within the in-memory window (the tentative suffix and recent decided blocks). */
  held(depth: number): Block {
    const b = this.win[depth - this.base];
    invariant(depth >= this.base && b !== undefined, () => `block ${depth} is not in memory (window ${this.base}..${this.end})`);
    return b;
  }

  /**
   * Blocks from `from`, up to `to`, at most `maxCount` and `maxBytes` by `size` (always at least
   * one if any): the in-memory ones, and below the window what the disk gives (it stops at the
   * first it cannot read).
   */
  range(from: number, to: number, maxCount: number, maxBytes: number, size: (b: Block) => number): Block[] {
    const out: Block[] = [];
    let bytes = 0;
    for (let d = Math.max(0, from); d < Math.min(to, this.end) && out.length < maxCount; d++) {
      const b = this.block(d);
      if (!b) break;
      bytes += size(b);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(b);
    }
    return out;
  }

  /** The hashes of the in-memory blocks (from `base`). */
  heldHashes(): readonly string[] {
    return this.winHashes;
  }

  /** The in-memory blocks from `from` (>= base) to the end. */
  suffixFrom(from: number): Block[] {
    invariant(from >= this.base, () => `suffix from ${from} below the window ${this.base}`);
    return this.win.slice(from - this.base);
  }

  /** Hash of the block below depth `depth` (the hash pointer a block at `depth` must carry). */
  headHash(depth: number): string {
    if (depth === 0) return GENESIS_POINTER;
    const h = this.hash(depth - 1);
    invariant(h !== null, () => `no hash for block ${depth - 1}`);
    return h;
  }

  /**
   * Drops decided blocks below `to` from memory (they stay readable through `older`). Only the
   * host calls it, once the block file holds them; nothing the core decides depends on it.
   */
  compact(to: number, older: OlderBlocks): void {
    invariant(to <= this.commit, () => `compacting undecided blocks (to ${to}, commit ${this.commit})`);
    if (to <= this.base) return;
    this.older = older;
    this.baseHash = this.winHashes[to - this.base - 1];
    this.win = this.win.slice(to - this.base);
    this.winHashes = this.winHashes.slice(to - this.base);
    this.base = to;
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
      case 'install':
        // (At the depth already decided with this anchor it is nothing new: a restart from the
        // installed checkpoint replays the record that follows its position.)
        if (rec.depth === this.commit && rec.depth > 0 && this.hash(rec.depth - 1) === rec.anchor) return null;
        return rec.depth > this.commit ? null : `install at ${rec.depth}, at or below the decided depth ${this.commit}`;
      case 'learn': {
        if (rec.from > this.commit) return `learn record at ${rec.from} leaves a gap after ${this.commit}`;
        // (Below the window only the block at base-1 is compared: by the hash chain it fixes those below.)
        for (let d = Math.max(rec.from, this.base - 1); d < Math.min(this.commit, rec.from + rec.blocks.length); d++) {
          if (this.hash(d) !== blockHash(rec.blocks[d - rec.from])) return `learned block ${d} differs from the decided one`;
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
      case 'install': {
        if (rec.depth === this.commit) break; // (see misfit)
        // Keep the tentative blocks from `depth` on only if they link to the anchor: a block that
        // does not is on a fork below `depth` that lost, and so is everything above it.
        const keep = this.end > rec.depth && this.held(rec.depth).hashPointer === rec.anchor;
        const kept = keep ? this.win.slice(rec.depth - this.base) : [];
        const keptHashes = keep ? this.winHashes.slice(rec.depth - this.base) : [];
        this.base = this.commit = rec.depth;
        this.baseHash = rec.anchor;
        this.win = kept;
        this.winHashes = keptHashes;
        break;
      }
      case 'learn': {
        for (let i = 0; i < rec.blocks.length; i++) {
          const d = rec.from + i;
          if (d < this.commit) continue; // (checked by misfit: the same decided block)
          const h = blockHash(rec.blocks[i]);
          if (d < this.end && this.hash(d) === h) {
            // already held as tentative: now decided
          } else {
            this.truncate(d); // a tentative block that lost: it and everything above it can never be decided
            this.push(rec.blocks[i], h);
          }
        }
        const top = rec.from + rec.blocks.length;
        if (top > this.commit) this.commit = top;
        // Keep the tentative tail only if it still links to the newly decided head.
        if (this.end > this.commit && this.held(this.commit).hashPointer !== this.headHash(this.commit)) this.truncate(this.commit);
        break;
      }
    }
  }

  private push(b: Block, h = blockHash(b)): void {
    this.winHashes.push(h);
    this.win.push(b);
  }

  private truncate(len: number): void {
    invariant(len >= this.commit, () => `truncating decided blocks (to ${len}, commit ${this.commit})`);
    this.win.length = Math.max(0, Math.min(this.win.length, len - this.base));
    this.winHashes.length = this.win.length;
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
