/**
 * blocks.dat: the decided chain, one checksummed record per block in depth order (the same
 * framing as chain.log, `{ "d": depth, "b": block }`), with an in-memory index of offsets
 * (8 bytes a block). It is what lets a node keep only a window of recent blocks in memory and
 * restart from a checkpoint: blocks below the window are read from here (repair, printBlockchain,
 * verify).
 *
 * It is derived from chain.log, so it is written without fsync as blocks are decided; a crash
 * may tear its tail, which loading cuts (and the node writes again from its chain). Only a
 * checkpoint needs it durable, and the checkpoint writer fsyncs it first.
 *
 * After a node installed a peer's checkpoint at depth D it holds at most one hole: the blocks it
 * had, [0, count), and [upperFrom, end) above it, where decided blocks from D on are appended in
 * depth order and backfilled ones (verified back from the checkpoint's anchor) are appended
 * *below* upperFrom, each batch written highest depth first. So any cut of the file's tail (a
 * torn write) leaves one hole again: it drops the newest blocks on top and the lowest backfilled
 * ones. When the backfill reaches `count` the hole is gone and the file is complete again.
 *
 * blocks.idx (when the store gives one) keeps the index on disk, so that a start does not read
 * all of blocks.dat to rebuild it (2.3 GB at 10,000,000 blocks): one 16-byte entry per record of
 * blocks.dat, in file order (depth + 1 and start offset + 1, as float64: never all zeros), and
 * after each sync of both files a mark (-1 and the bytes of blocks.dat then durable + 1, itself
 * fsynced). A start
 * trusts the entries before the last mark (both files were fsynced before it was written), drops
 * those after it, and scans blocks.dat only from the mark's offset on: the records written since
 * the last checkpoint. Without a mark (or with an index that does not fit blocks.dat) it scans the
 * whole file as before and writes the index again. Memory: 8 bytes a block (the start offsets;
 * a record's length is read from its own header).
 */
import { crc32 } from 'node:zlib';
import { Block } from '../../messages';
import { OlderBlocks } from '../core/durable';
import { Disk } from './disk';
import { encodeRecord } from './record-log';

/** Bytes read at a time when indexing the file at start (bounds the memory of the scan). */
const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;
/** Longest record accepted (a block of the largest legal value, with room to spare). */
export const MAX_BLOCK_RECORD_BYTES = 1024 * 1024;
/** First read of a record (most blocks are a few hundred bytes; a longer one is read again). */
const RECORD_READ_BYTES = 1024;
/** blocks.idx: bytes per entry, entries read at a time, and the depth field of a sync mark. */
const IDX_ENTRY_BYTES = 16;
const IDX_CHUNK_ENTRIES = 65_536;
const IDX_MARK = -1;

function isBlock(v: unknown): v is Block {
  const b = v as Partial<Block> | null;
  const op = b?.operation as Partial<Block['operation']> | undefined;
  return typeof b === 'object' && b !== null && typeof b.hashPointer === 'string' && typeof b.nonce === 'string'
    && typeof op === 'object' && op !== null && (op.op === 'put' || op.op === 'get') && typeof op.key === 'string' && typeof op.client === 'string';
}

export class BlockFile implements OlderBlocks {
  /** starts[d]: where the record of block d starts (meaningful where `has(d)`). */
  private starts = new Float64Array(1024);
  /** blocks.idx entries not yet appended (flushed at the end of each write and scan). */
  private idxPending: number[] = [];
  /** While entries are taken from blocks.idx (they are there already). */
  private loading = false;
  /** Blocks [0, n) are held; so are [upper, top) above a hole [n, upper) (upper === top: no hole). */
  private n = 0;
  private upper = 0;
  private top = 0;
  /** Bytes of valid data (where the next record goes). */
  private fileEnd = 0;
  /** What the last load found wrong (a torn tail cut), for the node's log. */
  readonly findings: string[] = [];
  /** A record that failed its checksum or shape when read later: reported once. */
  private readFailure: string | null = null;

  /**
   * `readOnly`: a torn tail is reported in `findings` but not cut (the verify tool); no index is
   * used. `index`: blocks.idx (see the file comment).
   */
  constructor(private readonly disk: Disk, private readonly opts: { readOnly?: boolean; index?: Disk } = {}) {
    if (opts.readOnly || !opts.index || !this.loadIndex(opts.index)) this.index();
  }

  private get idx(): Disk | null {
    return this.opts.readOnly ? null : this.opts.index ?? null;
  }

  /** Blocks held from depth 0 without a gap. */
  get count(): number {
    return this.n;
  }

  /** One past the highest block held. */
  get end(): number {
    return this.top;
  }

  /** The lowest block held above the hole (=== end when there is no hole). */
  get upperFrom(): number {
    return this.upper;
  }

  /** The blocks not held below `end`: [count, upperFrom) (empty when complete). */
  get hole(): { from: number; to: number } | null {
    return this.upper > this.n ? { from: this.n, to: this.upper } : null;
  }

  has(depth: number): boolean {
    return Number.isSafeInteger(depth) && depth >= 0 && depth < this.top && (depth < this.n || depth >= this.upper);
  }

  get bytes(): number {
    return this.fileEnd;
  }

  /**
   * Rebuilds the index from the framing and each record's depth (the digits after `{"d":`; no
   * checksum, no JSON), so a start does not read every block closely: each block's checksum is
   * checked when it is read. A torn tail is cut: a crash leaves unwritten pages as zeros, and no
   * record holds a zero byte; so is a record that breaks the one-hole layout (see the file comment).
   */
  private index(): void {
    this.n = this.upper = this.top = 0;
    this.fileEnd = 0;
    this.idx?.truncate(0);
    this.idxPending = [];
    this.scanFrom(0);
  }

  /** Indexes the records from byte `from` (= fileEnd, all before it indexed) to the end; cuts a torn tail. */
  private scanFrom(from: number): void {
    const size = this.disk.size();
    let off = from;
    let why: string | null = null;
    scan: while (off < size) {
      const chunk = this.disk.read(off, Math.min(SCAN_CHUNK_BYTES, size - off));
      const last = off + chunk.length >= size;
      let zero = chunk.indexOf(0);
      let p = 0;
      while (p < chunk.length) {
        // "<length> <crc32 hex> " then the body and a newline.
        let q = p;
        let len = 0;
        while (q < chunk.length && q - p < 8 && chunk[q] >= 0x30 && chunk[q] <= 0x39) len = len * 10 + chunk[q++] - 0x30;
        if (len > MAX_BLOCK_RECORD_BYTES) {
          why = 'bad record header';
          break scan;
        }
        const bodyAt = q + 10;
        const endRec = bodyAt + len + 1;
        if (q === chunk.length || bodyAt > chunk.length || endRec > chunk.length) {
          if (!last && p > 0) break; // the record goes on in the next chunk
          why = 'record not complete';
          break scan;
        }
        if (q === p || chunk[q] !== 0x20 || chunk[q + 9] !== 0x20) {
          why = 'bad record header';
          break scan;
        }
        if (chunk[endRec - 1] !== 0x0a) {
          why = 'record not terminated';
          break scan;
        }
        if (zero >= 0 && zero < endRec) {
          why = 'zeros the disk never wrote';
          break scan;
        }
        const depth = depthOf(chunk, bodyAt, endRec);
        if (depth === null || !this.place(depth, off + p)) {
          why = depth === null ? 'no depth in the record' : `block ${depth} does not fit the blocks before it`;
          break scan;
        }
        this.fileEnd = off + endRec;
        p = endRec;
        if (zero >= 0 && zero < p) zero = chunk.indexOf(0, p);
      }
      if (p === 0) break;
      off += p;
      this.flushIndex();
    }
    this.flushIndex();
    const good = this.fileEnd;
    if (why !== null || good < size) {
      this.findings.push(`blocks.dat: cut ${size - good} bytes after block ${this.top - 1} (${why ?? 'trailing bytes'}): a crash tore its tail; it is written again from the chain`);
      if (!this.opts.readOnly) this.disk.truncate(good);
    }
  }

  /**
   * Takes the index from blocks.idx up to its last mark, then scans blocks.dat after it. False
   * (nothing taken): no mark, or entries that do not fit blocks.dat; the caller scans it all.
   */
  private loadIndex(idx: Disk): boolean {
    const entries = Math.floor(idx.size() / IDX_ENTRY_BYTES);
    // The last mark, read backwards a chunk at a time (it is near the end: the last checkpoint).
    let mark = -1;
    let markedEnd = 0;
    for (let hi = entries; hi > 0 && mark < 0; ) {
      const lo = Math.max(0, hi - IDX_CHUNK_ENTRIES);
      const buf = idx.read(lo * IDX_ENTRY_BYTES, (hi - lo) * IDX_ENTRY_BYTES);
      for (let i = hi - 1; i >= lo; i--) {
        if (buf.readDoubleLE((i - lo) * IDX_ENTRY_BYTES) === IDX_MARK) {
          mark = i;
          markedEnd = buf.readDoubleLE((i - lo) * IDX_ENTRY_BYTES + 8) - 1;
          break;
        }
      }
      hi = lo;
    }
    const unusable = (why: string): false => {
      this.findings.push(`blocks.idx: ${why}; indexing blocks.dat from its records instead`); // (index() starts over)
      return false;
    };
    if (mark < 0) return false; // (no checkpoint was written yet: the file is short)
    if (!Number.isSafeInteger(markedEnd) || markedEnd < 0 || markedEnd > this.disk.size()) return unusable(`its mark names ${markedEnd} bytes of blocks.dat, which holds ${this.disk.size()}`);
    this.grow(mark + 1024);
    this.loading = true;
    try {
      const problem = this.placeEntries(idx, mark, markedEnd);
      if (problem) return unusable(problem);
    } finally {
      this.loading = false;
    }
    this.fileEnd = markedEnd;
    idx.truncate((mark + 1) * IDX_ENTRY_BYTES); // (entries after the mark are written again by the scan)
    this.idxPending = [];
    this.scanFrom(markedEnd);
    return true;
  }

  /** Places blocks.idx's entries before `mark`; why the first that does not fit does not (null: all fit). */
  private placeEntries(idx: Disk, mark: number, markedEnd: number): string | null {
    let prevStart = -1;
    for (let lo = 0; lo < mark; lo += IDX_CHUNK_ENTRIES) {
      const hi = Math.min(mark, lo + IDX_CHUNK_ENTRIES);
      const buf = idx.read(lo * IDX_ENTRY_BYTES, (hi - lo) * IDX_ENTRY_BYTES);
      for (let i = 0; i < hi - lo; i++) {
        const a = buf.readDoubleLE(i * IDX_ENTRY_BYTES);
        if (a === IDX_MARK) continue; // (an earlier sync)
        const depth = a - 1;
        const start = buf.readDoubleLE(i * IDX_ENTRY_BYTES + 8) - 1;
        if (!Number.isSafeInteger(depth) || depth < 0 || !Number.isSafeInteger(start) || start <= prevStart || start >= markedEnd || !this.place(depth, start)) {
          return `entry ${lo + i} (block ${depth} at byte ${start}) does not fit the blocks before it`;
        }
        prevStart = start;
      }
    }
    return null;
  }

  private flushIndex(): void {
    const idx = this.idx;
    if (!idx || this.idxPending.length === 0) return;
    const buf = Buffer.allocUnsafe(this.idxPending.length * 8);
    for (let i = 0; i < this.idxPending.length; i++) buf.writeDoubleLE(this.idxPending[i], i * 8);
    idx.append(buf);
    this.idxPending = [];
  }

  /** Indexes one record of block `depth` if it keeps the layout (see the file comment). */
  private place(depth: number, start: number): boolean {
    if (depth >= this.top) {
      // On top: right after the last one, or the first block above a new hole.
      if (depth > this.top && this.upper < this.top) return false;
      if (depth > this.top) this.upper = depth;
      this.grow(depth + 1);
      this.starts[depth] = start;
      this.top = depth + 1;
      if (this.upper === this.n && depth === this.n) this.n = this.upper = this.top; // (no hole)
    } else if (depth === this.upper - 1 && depth >= this.n) {
      // Backfilled, just below the part above the hole.
      this.starts[depth] = start;
      this.upper = depth;
      if (this.upper === this.n) this.n = this.upper = this.top;
    } else {
      return false;
    }
    if (this.idx && !this.loading) this.idxPending.push(depth + 1, start + 1);
    return true;
  }

  private grow(size: number): void {
    if (size <= this.starts.length) return;
    let cap = this.starts.length;
    while (cap < size) cap *= 2;
    const s = new Float64Array(cap); // (zero pages beyond what is copied are not touched: not resident)
    s.set(this.starts);
    this.starts = s;
  }

  private write(records: { depth: number; block: Block }[]): void {
    const parts = records.map((r) => encodeRecord({ d: r.depth, b: r.block }));
    this.disk.append(Buffer.concat(parts));
    let at = this.fileEnd;
    for (let i = 0; i < parts.length; i++) {
      const ok = this.place(records[i].depth, at);
      if (!ok) throw new Error(`blocks.dat: block ${records[i].depth} does not fit`); // (checked by the callers first)
      at += parts[i].length;
    }
    this.fileEnd = at;
    this.flushIndex();
  }

  /** Appends decided blocks on top: `first` must be `end`, or above it when nothing is held above a hole. */
  append(first: number, blocks: readonly Block[]): void {
    if (blocks.length === 0) return;
    if (first < this.top || (first > this.top && this.upper < this.top)) throw new Error(`blocks.dat holds blocks up to ${this.top}${this.hole ? ` (missing ${this.n}..${this.upper})` : ''}, cannot append at ${first}`);
    this.write(blocks.map((block, i) => ({ depth: first + i, block })));
  }

  /**
   * Backfills verified decided blocks `first`.. just below the part above the hole (or, when
   * nothing is held above it yet, anywhere above `count`), highest depth first.
   */
  appendBelow(first: number, blocks: readonly Block[]): void {
    if (blocks.length === 0) return;
    const to = first + blocks.length;
    const fits = first >= this.n && (this.upper < this.top ? to === this.upper : true);
    if (!fits) throw new Error(`blocks.dat holds ${this.n} blocks${this.hole ? ` and ${this.upper}..${this.top}` : ''}, cannot backfill ${first}..${to}`);
    const recs: { depth: number; block: Block }[] = [];
    for (let i = blocks.length - 1; i >= 0; i--) recs.push({ depth: first + i, block: blocks[i] });
    this.write(recs);
  }

  /**
   * Keeps only blocks below `count` (and, when the file is not in depth order, whatever was
   * written before the first record dropped: the index is rebuilt from what remains).
   */
  truncate(count: number): void {
    if (count >= this.top) return;
    let cut = this.fileEnd;
    for (let d = Math.max(0, count); d < this.top; d++) if (this.has(d) && this.starts[d] < cut) cut = this.starts[d];
    this.disk.truncate(cut);
    this.index();
    this.sync(); // (a mark, so the next start does not scan the whole file again)
  }

  /** fsyncs blocks.dat, then blocks.idx, then marks the index durable up to here (see the file comment). */
  sync(): void {
    this.disk.sync();
    const idx = this.idx;
    if (!idx) return;
    this.flushIndex();
    idx.sync();
    const mark = Buffer.allocUnsafe(IDX_ENTRY_BYTES);
    mark.writeDoubleLE(IDX_MARK, 0);
    mark.writeDoubleLE(this.fileEnd + 1, 8);
    idx.append(mark);
    idx.sync(); // (durable with the checkpoint that follows: else a crash soon after costs a full scan)
  }

  close(): void {
    this.disk.close();
    this.idx?.close();
  }

  /** The block at `depth`, checked against its checksum (null: not held, or damaged). */
  block(depth: number): Block | null {
    if (!this.has(depth)) return null;
    const start = this.starts[depth];
    const fail = (why: string): null => {
      this.readFailure ??= `blocks.dat: block ${depth} at byte ${start} is damaged (${why}); it is not served`;
      return null;
    };
    // "<length> <crc32 hex> <body>\n": most records fit the first read; a longer one is read again whole.
    let raw = this.disk.read(start, RECORD_READ_BYTES);
    const sp1 = raw.indexOf(0x20);
    const len = sp1 > 0 && sp1 <= 8 ? Number(raw.toString('latin1', 0, sp1)) : NaN;
    if (!Number.isSafeInteger(len) || len > MAX_BLOCK_RECORD_BYTES) return fail('bad record header');
    const total = sp1 + 10 + len + 1;
    if (total > raw.length) raw = this.disk.read(start, total);
    if (raw.length < total || raw[total - 1] !== 0x0a) return fail('record not complete');
    raw = raw.subarray(0, total);
    const sp2 = sp1 + 9;
    const body = raw.subarray(sp2 + 1, raw.length - 1);
    if (raw[sp2] !== 0x20 || (crc32(body) >>> 0).toString(16).padStart(8, '0') !== raw.toString('latin1', sp1 + 1, sp2)) return fail('checksum mismatch');
    let v: { d?: unknown; b?: unknown };
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      return fail('not JSON');
    }
    if (v.d !== depth || !isBlock(v.b)) return fail('not the block of this depth');
    return v.b;
  }

  /** A damage found since the last call (one line), else null. */
  takeReadFailure(): string | null {
    const f = this.readFailure;
    this.readFailure = null;
    return f;
  }
}

const D_PREFIX = Buffer.from('{"d":', 'latin1');

/** The depth a record's body starts with (`{"d":123,`), or null. */
function depthOf(buf: Buffer, bodyAt: number, endRec: number): number | null {
  if (endRec - bodyAt < D_PREFIX.length + 2 || buf.compare(D_PREFIX, 0, D_PREFIX.length, bodyAt, bodyAt + D_PREFIX.length) !== 0) return null;
  let p = bodyAt + D_PREFIX.length;
  let d = 0;
  const from = p;
  while (p < endRec && p - from < 16 && buf[p] >= 0x30 && buf[p] <= 0x39) d = d * 10 + buf[p++] - 0x30;
  return p > from && buf[p] === 0x2c && Number.isSafeInteger(d) ? d : null;
}
