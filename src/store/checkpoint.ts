/**
 * Checkpoints: what a restart needs so that it replays only the chain.log records written after
 * one, instead of the whole chain (the way etcd restarts from its latest snapshot plus the WAL
 * after it).
 *
 * A checkpoint at depth D holds
 * - decided state only for the dictionary and the request-dedupe sessions: the state machine
 *   after applying blocks 0..D-1, never a tentative block;
 * - the hash of block D-1 (the anchor: blocks.dat must hold that very block, and every block
 *   replayed after it must link to it);
 * - the acceptor state chain.log held at byte `logOffset` (the promise, the tentative suffix and
 *   its term), copied from records already fsynced there, so that replaying the records after
 *   `logOffset` rebuilds exactly the state a full replay would;
 * - a sha256 of the 4 KiB of chain.log before `logOffset`, so a chain.log that was replaced
 *   or rewritten since is noticed.
 *
 * The file is `checkpoint-<depth>.ckpt`: one header line `chainkv-checkpoint 1 <sha256> <bytes>`
 * then the JSON body; written to a temp file, fsynced, renamed, and the folder fsynced. The two
 * newest are kept: a torn, corrupt or mismatching newest one is reported in one line and the
 * previous one (or a full replay) is used.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ballot, Block, InstallChunk, make, MAX_INSTALL_CHUNK_BYTES } from '../../messages';
import { blockHash, GENESIS_POINTER } from '../chain';
import { DurableBase } from '../core/durable';
import type { Input, InstallAction, Replica, ServeRequest } from '../core/replica';
import { MAX_SESSIONS, Session, StateMachine } from '../core/state-machine';
import { BlockFile } from './block-file';
import { Disk } from './disk';

/** Checkpoints kept: the newest, and the one before it in case the newest is damaged. */
export const CHECKPOINTS_KEPT = 2;
/** Largest checkpoint file read (the dictionary dominates it); a bigger one is refused as damaged. */
export const MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024;
/** chain.log bytes before `logOffset` whose hash a checkpoint keeps. */
const LOG_TAIL_BYTES = 4096;
const MAGIC = 'chainkv-checkpoint';
const NAME = /^checkpoint-([0-9]{1,15})\.ckpt$/;
/**
 * Serving checkpoint images (fast catch-up): the least time between two looks for a newer image
 * than the cached one when that is stale or missing (each look may take a checkpoint and reads
 * one whole file); a checkpoint written since the last look is read once without waiting.
 */
export const IMAGE_REFRESH_MIN_MS = 500;
/** A served image no request asked for this long is dropped from memory (the next request reads it again). */
export const IMAGE_IDLE_MS = 30_000;

export interface CheckpointPolicy {
  /** Take one after this many blocks were decided since the last... */
  everyBlocks: number;
  /** ... or after this many bytes were written to chain.log since the last. */
  everyBytes: number;
  /** Decided blocks kept in memory below the decided head (older ones are read from blocks.dat). */
  windowBlocks: number;
  /** Most decided blocks appended to blocks.dat in one turn of the event loop (bounds a turn's work). */
  appendPerTurn: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = {
  everyBlocks: 100_000,
  everyBytes: 64 * 1024 * 1024,
  windowBlocks: 10_000,
  appendPerTurn: 20_000,
};

export interface Checkpoint extends DurableBase {
  cluster: string;
  node: string;
  logOffset: number;
  logTail: string;
  dict: [string, string][];
  sessions: [string, Session][];
  /**
   * Installed from a peer (fast catch-up): this node may not hold its anchor block, nor the
   * blocks below it, until the backfill brings them.
   */
  installed?: boolean;
  /**
   * Do not vote until decided up to here: the vote floor of a damaged chain.log (its `floor`
   * record lies before this checkpoint's position, where a restart from it does not read).
   * Absent: 0.
   */
  voteFloor?: number;
  /**
   * An own checkpoint taken while the backfill below an installed one is open: that installed
   * checkpoint's depth (it is kept until the backfill completes, see `StoreUpkeep.write`).
   */
  installedAt?: number;
}

/** Where checkpoint files live: the data folder, or the simulator's in-memory one. */
export interface CheckpointDir {
  list(): string[];
  /** The file's bytes, or null if it is missing or larger than `maxBytes`. */
  read(name: string, maxBytes: number): Buffer | null;
  /** Replaces `name` atomically and durably: temp file, fsync, rename, fsync of the folder. */
  writeAtomic(name: string, data: Buffer): void;
  remove(name: string): void;
}

export class FsCheckpointDir implements CheckpointDir {
  constructor(readonly dir: string) {}
  list(): string[] {
    return fs.readdirSync(this.dir);
  }
  read(name: string, maxBytes: number): Buffer | null {
    const file = path.join(this.dir, name);
    try {
      if (fs.statSync(file).size > maxBytes) return null;
      return fs.readFileSync(file);
    } catch {
      return null;
    }
  }
  writeAtomic(name: string, data: Buffer): void {
    const file = path.join(this.dir, name);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off, off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(this.dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  }
  remove(name: string): void {
    fs.rmSync(path.join(this.dir, name), { force: true });
  }
}

export function checkpointName(depth: number): string {
  return `checkpoint-${String(depth).padStart(12, '0')}.ckpt`;
}

export function encodeCheckpoint(c: Checkpoint): Buffer {
  const body = Buffer.from(JSON.stringify(c), 'utf8');
  const sum = crypto.createHash('sha256').update(body).digest('hex');
  return Buffer.concat([Buffer.from(`${MAGIC} 1 ${sum} ${body.length}\n`, 'latin1'), body]);
}

const isHex64 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function ballotOf(v: unknown): Ballot | null | undefined {
  if (v === null) return null;
  const b = v as { seq?: unknown; pid?: unknown; depth?: unknown };
  if (typeof b !== 'object' || !isCount(b.seq) || !isCount(b.pid) || !isCount(b.depth)) return undefined;
  return Ballot.of(b.seq, b.pid, b.depth);
}

function isBlock(v: unknown): v is Block {
  const b = v as Partial<Block> | null;
  const op = b?.operation as Partial<Block['operation']> | undefined;
  return typeof b === 'object' && b !== null && typeof b.hashPointer === 'string' && typeof b.nonce === 'string'
    && typeof op === 'object' && op !== null && (op.op === 'put' || op.op === 'get') && typeof op.key === 'string' && typeof op.client === 'string' && isCount(op.req);
}

function isSession(v: unknown): v is Session {
  const s = v as Partial<Session> | null;
  return typeof s === 'object' && s !== null && isCount(s.req) && typeof s.result === 'string' && isCount(s.depth) && typeof s.digest === 'string';
}

/** Parses and checks a checkpoint file: the reason it cannot be used, or the checkpoint. */
export function decodeCheckpoint(buf: Buffer): Checkpoint | string {
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > 200) return 'no header line (torn or not a checkpoint)';
  const m = /^chainkv-checkpoint 1 ([0-9a-f]{64}) ([0-9]{1,10})$/.exec(buf.toString('latin1', 0, nl));
  if (!m) return 'bad header line';
  const body = buf.subarray(nl + 1);
  if (body.length !== Number(m[2])) return `body is ${body.length} bytes, the header says ${m[2]} (torn write)`;
  if (crypto.createHash('sha256').update(body).digest('hex') !== m[1]) return 'checksum mismatch';
  let v: Partial<Record<keyof Checkpoint, unknown>>;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'body is not an object';
  const promised = ballotOf(v.promised);
  const suffixBallot = ballotOf(v.suffixBallot);
  if (typeof v.cluster !== 'string' || typeof v.node !== 'string') return 'no cluster or node';
  if (!isCount(v.depth) || v.depth === 0 || !isHex64(v.anchor) || !isCount(v.logOffset) || !isHex64(v.logTail)) return 'bad depth, anchor or log position';
  if (promised === undefined || suffixBallot === undefined) return 'bad ballot';
  if (!Array.isArray(v.suffix) || !v.suffix.every(isBlock)) return 'bad tentative suffix';
  if (!Array.isArray(v.dict) || !v.dict.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string')) return 'bad dictionary';
  if (!Array.isArray(v.sessions) || v.sessions.length > MAX_SESSIONS || !v.sessions.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && isSession(e[1]))) return 'bad session table';
  if (v.installed !== undefined && typeof v.installed !== 'boolean') return 'bad installed flag';
  if (v.voteFloor !== undefined && !isCount(v.voteFloor)) return 'bad vote floor';
  if (v.installedAt !== undefined && !isCount(v.installedAt)) return 'bad installed depth';
  return {
    cluster: v.cluster, node: v.node, depth: v.depth, anchor: v.anchor, logOffset: v.logOffset, logTail: v.logTail,
    promised, suffixBallot, suffix: v.suffix as Block[], dict: v.dict as [string, string][], sessions: v.sessions as [string, Session][],
    ...(v.installed ? { installed: true } : {}),
    ...(v.voteFloor ? { voteFloor: v.voteFloor as number } : {}),
    ...(v.installedAt ? { installedAt: v.installedAt as number } : {}),
  };
}

/** The dictionary and sessions a checkpoint restores, at its depth. */
export function checkpointStateMachine(c: Checkpoint): StateMachine {
  const sm = new StateMachine();
  for (const [k, v] of c.dict) sm.dict.set(k, v);
  for (const [k, s] of c.sessions) sm.sessions.set(k, s);
  sm.applied = c.depth;
  return sm;
}

/**
 * The dictionary and sessions at `depth`, rebuilt from blocks.dat (blocks 0..depth-1, each linked
 * to the one below, the last hashing to `anchor`): a node that installed a checkpoint and has
 * lost every checkpoint at or above that depth starts this way once its backfill is complete.
 * The reason it cannot, or the state machine.
 */
export function stateMachineFromBlocks(blocks: { block(depth: number): Block | null }, depth: number, anchor: string): StateMachine | string {
  const sm = new StateMachine();
  let head = GENESIS_POINTER;
  for (let d = 0; d < depth; d++) {
    const b = blocks.block(d);
    if (!b) return `blocks.dat does not hold block ${d} (the backfill below the installed checkpoint is not complete)`;
    if (b.hashPointer !== head) return `block ${d} in blocks.dat does not link to block ${d - 1}`;
    head = blockHash(b);
    sm.apply(b);
  }
  return head === anchor ? sm : `block ${depth - 1} in blocks.dat is not the installed anchor`;
}

/** The hash a checkpoint keeps of the chain.log bytes before `offset`. */
export function logTail(chain: Disk, offset: number): string {
  const from = Math.max(0, offset - LOG_TAIL_BYTES);
  return crypto.createHash('sha256').update(chain.read(from, offset - from)).digest('hex');
}

export interface Chosen {
  checkpoint: Checkpoint | null;
  /** One line per checkpoint that could not be used (and why). */
  warnings: string[];
}

/**
 * The newest checkpoint that is intact and matches blocks.dat and chain.log (null: none, replay
 * the whole chain). Leftover temp files of an interrupted write are removed.
 */
export function chooseCheckpoint(dir: CheckpointDir, chain: Disk, blocks: BlockFile, id: { cluster: string; node: string } | null): Chosen {
  const warnings: string[] = [];
  const names: { name: string; depth: number }[] = [];
  for (const name of dir.list()) {
    if (/^checkpoint-[0-9]+\.ckpt\.tmp$/.test(name)) {
      warnings.push(`removed ${name}: a checkpoint write that a crash interrupted`);
      dir.remove(name);
      continue;
    }
    const m = NAME.exec(name);
    if (m) names.push({ name, depth: Number(m[1]) });
  }
  names.sort((a, b) => b.depth - a.depth);
  for (const { name, depth } of names) {
    const problem = ((): Checkpoint | string => {
      const buf = dir.read(name, MAX_CHECKPOINT_BYTES);
      if (!buf) return `unreadable or larger than ${MAX_CHECKPOINT_BYTES} bytes`;
      const c = decodeCheckpoint(buf);
      if (typeof c === 'string') return c;
      if (c.depth !== depth) return `it holds depth ${c.depth}, its name says ${depth}`;
      if (id && (c.cluster !== id.cluster || c.node !== id.node)) return `it belongs to ${c.node} of cluster ${c.cluster}`;
      if (blocks.has(c.depth - 1)) {
        const anchor = blocks.block(c.depth - 1);
        if (!anchor || blockHash(anchor) !== c.anchor) return `block ${c.depth - 1} in blocks.dat is not its anchor`;
      } else if (!c.installed && !c.installedAt) {
        return `blocks.dat does not hold its anchor, block ${c.depth - 1} (it holds ${blocks.count}${blocks.hole ? ` and ${blocks.upperFrom}..${blocks.end - 1}` : ''})`;
      } // (installed from a peer, or taken above one while its backfill was open: the anchor block comes with the backfill)
      if (chain.size() < c.logOffset) return `chain.log is ${chain.size()} bytes, shorter than its position ${c.logOffset}`;
      if (logTail(chain, c.logOffset) !== c.logTail) return `chain.log before byte ${c.logOffset} is not what it was (rewritten or replaced)`;
      return c;
    })();
    if (typeof problem !== 'string') return { checkpoint: problem, warnings };
    warnings.push(`checkpoint ${name} cannot be used (${problem}); trying the previous one, else the whole chain`);
  }
  return { checkpoint: null, warnings };
}

/** Planted checkpoint bugs, for the simulator's mutants (never set in the node). */
export type CheckpointMutation = 'checkpoint-tentative' | 'checkpoint-no-dedupe';

export interface UpkeepReport {
  /** A checkpoint was taken: at which depth, how long the node was busy with it, its size. */
  checkpoint?: { depth: number; ms: number; bytes: number };
  /** Lines for the node's log (a damaged block read, a failed write). */
  lines: string[];
}

/**
 * The host's side of the store after each turn of the event loop: blocks.dat catches up with
 * the decided chain (a bounded number of blocks a turn), the in-memory window is compacted, and
 * a checkpoint is taken when due. The same code in the node and the simulator.
 */
export class StoreUpkeep {
  private last: { depth: number; logOffset: number };

  constructor(
    private readonly o: {
      chain: Disk;
      /** fsync chain.log (the simulator also tracks what that made durable). */
      syncChain: () => void;
      blocks: BlockFile;
      dir: CheckpointDir;
      policy: CheckpointPolicy;
      identity: { cluster: string; node: string };
      /** The checkpoint the node started from (null: none). */
      startedFrom: Checkpoint | null;
      now: () => number;
      mutation?: CheckpointMutation;
      /** The simulator's crash points: these errors end the process instead of being reported. */
      isCrash?: (e: unknown) => boolean;
      /** Fast catch-up: the core's install threshold (a served image is at most half of it behind). */
      installThresholdBlocks?: number;
      /** The vote floor the node started with (also passed to every `afterTurn`). */
      voteFloor?: number;
    },
  ) {
    this.last = o.startedFrom ? { depth: o.startedFrom.depth, logOffset: o.startedFrom.logOffset } : { depth: 0, logOffset: 0 };
    const s = o.startedFrom;
    this.installedAt = s?.installed ? s.depth : s?.installedAt ?? 0;
    this.voteFloor = Math.max(o.voteFloor ?? 0, s?.voteFloor ?? 0);
  }

  /**
   * The depth of the installed checkpoint whose backfill may still be open (0: none known). Its
   * file is kept while blocks.dat lacks blocks below it: with every newer checkpoint unusable, a
   * restart still has the dictionary there (a full replay of chain.log stops at the install record).
   */
  private installedAt = 0;
  private turned = false;

  /**
   * blocks.dat after a load: keep what agrees with the loaded chain (checked by the hash of its
   * last block there), cut the rest; what is missing is written again by `afterTurn`.
   */
  static reconcile(blocks: BlockFile, r: Replica): string | null {
    const d = r.durable;
    d.older ??= blocks; // (a core that starts in a hole reads what it holds below it from here)
    let dropped: string | null = null;
    if (blocks.hole && !blocks.block(blocks.upperFrom)) {
      // The backfill resumes from the lowest block above the hole (its hash pointer): unreadable,
      // so drop the part above the hole; the backfill starts again from the installed depth
      // against its anchor, and the decided blocks above it are appended again from memory.
      const was = { from: blocks.upperFrom, to: blocks.end };
      const why = blocks.takeReadFailure() ?? `blocks.dat: block ${was.from} is unreadable`;
      blocks.truncate(blocks.count);
      // (Those above the in-memory base go back at once, so the backfill's top is there again.)
      const from = Math.max(d.base, blocks.end);
      if (d.commit > from) {
        const out: Block[] = [];
        for (let i = from; i < d.commit; i++) out.push(d.held(i));
        blocks.append(from, out);
      }
      dropped = `${why}; it is the lowest above the backfill's hole: dropped ${was.from}..${was.to - 1} above the hole; the backfill starts again from depth ${d.base} against its anchor, and the decided blocks from there on are written again`;
    }
    if (blocks.hole && blocks.end < d.base) {
      // (cannot happen with the install's fsync of blocks.dat; kept as a guard) the part above
      // the hole stops below the installed depth: drop it, the backfill brings it again
      blocks.truncate(blocks.count);
    }
    const n = Math.min(blocks.end, d.commit);
    const had = blocks.end;
    let keep = n;
    if (n > d.base) {
      const b = blocks.block(n - 1);
      if (!b || blockHash(b) !== d.hash(n - 1)) keep = d.base;
    }
    blocks.truncate(keep);
    const cut = keep < had ? `blocks.dat: kept blocks below ${keep} of its ${had} (the rest ${keep < n ? 'disagreed with' : 'is beyond'} the decided chain); writing the rest again` : null;
    return dropped && cut ? `${dropped}; ${cut}` : dropped ?? cut;
  }

  /**
   * The backfill a start resumes (null: blocks.dat is complete): the hole [count, upperFrom),
   * verified back from the block above it; or, with nothing held above it yet, [count, base)
   * back from the installed checkpoint's anchor.
   */
  static backfillInput(blocks: BlockFile, r: Replica): Input | null {
    const d = r.durable;
    if (blocks.hole) {
      const above = blocks.block(blocks.upperFrom);
      return above ? { type: 'backfill', from: blocks.count, to: blocks.upperFrom, topHash: above.hashPointer } : null;
    }
    if (blocks.count < d.base) return { type: 'backfill', from: blocks.count, to: d.base, topHash: d.headHash(d.base) };
    return null;
  }

  afterTurn(r: Replica, voteFloor: number): UpkeepReport {
    const o = this.o;
    const d = r.durable;
    const lines: string[] = [];
    this.voteFloor = voteFloor;
    if (!this.turned) {
      // A start by a full replay of chain.log from an install record (no checkpoint started from):
      // the loaded base is the installed depth (nothing is compacted before this first turn).
      this.turned = true;
      if (!this.installedAt && !o.startedFrom && d.base > o.blocks.count) this.installedAt = d.base;
    }
    // (Above a hole, from the installed depth on: the blocks below it come with the backfill.)
    const top = o.blocks.hole ? o.blocks.end : Math.max(o.blocks.end, d.base);
    if (top < d.commit) {
      const to = Math.min(d.commit, top + o.policy.appendPerTurn);
      const out: Block[] = [];
      for (let i = top; i < to; i++) out.push(d.held(i));
      o.blocks.append(top, out);
    }
    // Memory: keep `windowBlocks` decided blocks (and the tentative suffix); older ones are on disk.
    const keepFrom = Math.min(o.blocks.end, d.commit - o.policy.windowBlocks);
    if (keepFrom - d.base >= Math.max(1, o.policy.windowBlocks)) d.compact(keepFrom, o.blocks);
    const failure = o.blocks.takeReadFailure();
    if (failure) lines.push(failure);
    if (this.image && o.now() - this.imageUsedAt > IMAGE_IDLE_MS) {
      this.image = null; // (memory: up to MAX_CHECKPOINT_BYTES; the next request reads the file again)
      this.imageWritten = true;
    }
    const due = d.commit - this.last.depth >= o.policy.everyBlocks || (o.chain.size() - this.last.logOffset >= o.policy.everyBytes && d.commit > this.last.depth);
    if (due && d.commit > 0 && o.blocks.end === d.commit && d.commit >= voteFloor) {
      const t0 = o.now();
      try {
        const bytes = this.take(r);
        return { checkpoint: { depth: d.commit, ms: o.now() - t0, bytes }, lines };
      } catch (e) {
        if (o.isCrash?.(e)) throw e;
        // Not fatal: the chain is the source of truth. Try again after another interval.
        this.last = { depth: d.commit, logOffset: o.chain.size() };
        lines.push(`cannot write a checkpoint at depth ${d.commit} (${(e as Error).message}); restarts replay more until the next one`);
      }
    }
    return { lines };
  }

  /** Writes a checkpoint of `r` at its decided depth; returns its size. */
  take(r: Replica): number {
    const o = this.o;
    const d = r.durable;
    // Everything it stands on must be durable first: the blocks below it and chain.log up to here.
    o.blocks.sync();
    o.syncChain();
    const logOffset = o.chain.size();
    let sm = r.sm;
    if (o.mutation === 'checkpoint-tentative') {
      sm = checkpointStateMachine({ dict: [...r.sm.dict], sessions: [...r.sm.sessions], depth: r.sm.applied } as Checkpoint);
      for (let i = d.commit; i < d.end; i++) sm.apply(d.held(i)); // (the bug: undecided blocks applied)
    }
    const c: Checkpoint = {
      cluster: o.identity.cluster, node: o.identity.node, depth: d.commit, anchor: d.headHash(d.commit), logOffset, logTail: logTail(o.chain, logOffset),
      promised: d.promised, suffixBallot: d.suffixBallot, suffix: d.suffixFrom(d.commit),
      dict: [...sm.dict], sessions: o.mutation === 'checkpoint-no-dedupe' ? [] : [...sm.sessions],
      ...(this.backfillOpen() ? { installedAt: this.installedAt } : {}),
    };
    return this.write(c);
  }

  /** The backfill below the installed checkpoint `installedAt` is not complete. */
  private backfillOpen(): boolean {
    return this.installedAt > 0 && this.o.blocks.count < this.installedAt;
  }

  private write(c: Checkpoint): number {
    const o = this.o;
    const data = encodeCheckpoint(c);
    o.dir.writeAtomic(checkpointName(c.depth), data);
    this.last = { depth: c.depth, logOffset: c.logOffset };
    this.imageWritten = true;
    const ours = o.dir.list().filter((n) => NAME.test(n)).sort().reverse();
    const kept = new Set(ours.slice(0, CHECKPOINTS_KEPT));
    // (Never the installed checkpoint while its backfill is open: see `installedAt`.)
    if (this.backfillOpen()) kept.add(checkpointName(this.installedAt));
    for (const old of ours) if (!kept.has(old)) o.dir.remove(old);
    return data.length;
  }

  // ---- fast catch-up ----

  private voteFloor = 0;
  /** The checkpoint image served to peers catching up (one at a time, at most MAX_CHECKPOINT_BYTES). */
  private image: { depth: number; sha256: string; data: Buffer } | null = null;
  /** A checkpoint was written (or the image dropped) since the image was read: the next look reads the newest file. */
  private imageWritten = true;
  /** When the folder was last looked at for an image (rate bound: IMAGE_REFRESH_MIN_MS). */
  private imageLookedAt = -Infinity;
  /** When a request last used the image (idle release: IMAGE_IDLE_MS). */
  private imageUsedAt = 0;

  /**
   * Writes an installed peer checkpoint as this node's own, durably, where the core's install
   * record goes next in chain.log (see `Output.install`), and returns the backfill to start.
   * chain.log is fsynced first: the checkpoint stands on everything written before that point.
   */
  install(r: Replica, inst: InstallAction): Input {
    const o = this.o;
    o.syncChain();
    const logOffset = o.chain.size();
    const depth = inst.base.depth;
    // The vote floor of a damaged chain.log sits in a `floor` record before this position, which
    // a restart from this checkpoint does not read: the checkpoint carries it.
    const floor = this.voteFloor > depth ? this.voteFloor : 0;
    this.installedAt = depth;
    // The checkpoint first, durably: until it is, a restart uses what was there before (chain.log,
    // the older checkpoints and the blocks.dat they stand on, untouched).
    this.write({
      cluster: o.identity.cluster, node: o.identity.node, ...inst.base, logOffset, logTail: logTail(o.chain, logOffset),
      dict: inst.dict, sessions: inst.sessions, installed: true, ...(floor ? { voteFloor: floor } : {}),
    });
    // Then a previous install's blocks above its hole go (one hole at a time; a crash before this
    // leaves them below the new installed depth, where `reconcile` drops them), and what blocks.dat
    // holds is made durable: after a crash, whatever part of the later writes (the blocks from the
    // installed depth on, and backfilled ones below it) survives sits on it.
    o.blocks.truncate(o.blocks.count);
    o.blocks.sync();
    this.image = null;
    return { type: 'backfill', from: o.blocks.count, to: depth, topHash: inst.base.anchor };
  }

  /** Writes verified backfilled blocks below the hole's top (the core checked them back from the anchor). */
  backfill(r: Replica, from: number, blocks: readonly Block[]): string | null {
    try {
      this.o.blocks.appendBelow(from, blocks);
      return null;
    } catch (e) {
      if (this.o.isCrash?.(e)) throw e;
      return `cannot store backfilled blocks ${from}..${from + blocks.length - 1}: ${(e as Error).message}`;
    }
  }

  /**
   * A chunk of my checkpoint image for a peer catching up: my newest checkpoint file, or, when
   * that is more than half the install threshold behind my decided depth, a checkpoint taken now
   * (so the peer lands close to the decided head). `total` 0: none above the peer's depth.
   */
  serve(r: Replica, req: ServeRequest): InstallChunk {
    const d = r.durable;
    const now = this.o.now();
    const slack = Math.floor((this.o.installThresholdBlocks ?? 20_000) / 2);
    let img = this.image;
    // The cached image is served until a checkpoint is written (read that one once), or, missing
    // or too far behind, a look (which may take one) is due: at most one per IMAGE_REFRESH_MIN_MS.
    // A request naming another image thus costs no file read.
    const other = !img || req.sha256 !== img.sha256;
    const wanted = this.imageWritten || !img || d.commit - img.depth > slack;
    if (other && wanted && (this.imageWritten || now - this.imageLookedAt >= IMAGE_REFRESH_MIN_MS)) {
      this.imageLookedAt = now;
      img = this.image = this.newestImage(r, slack);
      this.imageWritten = false;
    }
    if (img) this.imageUsedAt = now;
    if (!img || img.depth <= req.commit) return make(InstallChunk, { depth: 0, sha256: '', total: 0, offset: 0, data: '' });
    const offset = req.sha256 === img.sha256 && req.offset < img.data.length ? req.offset : 0;
    return make(InstallChunk, { depth: img.depth, sha256: img.sha256, total: img.data.length, offset, data: img.data.subarray(offset, offset + MAX_INSTALL_CHUNK_BYTES).toString('base64') });
  }

  private newestImage(r: Replica, slack: number): { depth: number; sha256: string; data: Buffer } | null {
    const o = this.o;
    const d = r.durable;
    const read = (): { depth: number; data: Buffer } | null => {
      for (const name of o.dir.list().filter((n) => NAME.test(n)).sort().reverse()) {
        const data = o.dir.read(name, MAX_CHECKPOINT_BYTES);
        const c = data ? decodeCheckpoint(data) : null;
        if (data && c && typeof c !== 'string') return { depth: c.depth, data };
      }
      return null;
    };
    let found = read();
    if ((!found || d.commit - found.depth > slack) && d.commit > 0 && o.blocks.end === d.commit && d.commit >= this.voteFloor) {
      try {
        this.take(r);
        found = read();
      } catch (e) {
        if (o.isCrash?.(e)) throw e; // (otherwise serve the older one)
      }
    }
    return found ? { ...found, sha256: crypto.createHash('sha256').update(found.data).digest('hex') } : null;
  }
}
