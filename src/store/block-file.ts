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

function isBlock(v: unknown): v is Block {
  const b = v as Partial<Block> | null;
  const op = b?.operation as Partial<Block['operation']> | undefined;
  return typeof b === 'object' && b !== null && typeof b.hashPointer === 'string' && typeof b.nonce === 'string'
    && typeof op === 'object' && op !== null && (op.op === 'put' || op.op === 'get') && typeof op.key === 'string' && typeof op.client === 'string';
}

export class BlockFile implements OlderBlocks {
  /** offsets[d]: where the record of block d starts; offsets[count]: the end of the data. */
  private offsets = new Float64Array(1024);
  private n = 0;
  /** What the last load found wrong (a torn tail cut), for the node's log. */
  readonly findings: string[] = [];
  /** A record that failed its checksum or shape when read later: reported once. */
  private readFailure: string | null = null;

  constructor(private readonly disk: Disk) {
    this.index();
  }

  /** Blocks held. */
  get count(): number {
    return this.n;
  }

  get bytes(): number {
    return this.offsets[this.n];
  }

  /**
   * Rebuilds the index from the framing alone (lengths, newlines; no checksum, no JSON), so a
   * start does not read every block closely: each block's checksum is checked when it is read.
   * A torn tail is cut: a crash leaves unwritten pages as zeros, and no record holds a zero byte.
   */
  private index(): void {
    const size = this.disk.size();
    let off = 0;
    let why: string | null = null;
    this.offsets[0] = 0;
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
        this.push(off + endRec);
        p = endRec;
        if (zero >= 0 && zero < p) zero = chunk.indexOf(0, p);
      }
      if (p === 0) break;
      off += p;
    }
    const good = this.offsets[this.n];
    if (why !== null || good < size) {
      this.findings.push(`blocks.dat: cut ${size - good} bytes after block ${this.n} (${why ?? 'trailing bytes'}): a crash tore its tail; it is written again from the chain`);
      this.disk.truncate(good);
    }
  }

  private push(end: number): void {
    if (this.n + 2 > this.offsets.length) {
      const grown = new Float64Array(this.offsets.length * 2);
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.n++;
    this.offsets[this.n] = end;
  }

  /** Appends decided blocks; `first` must be `count` (blocks go in depth order, without gaps). */
  append(first: number, blocks: readonly Block[]): void {
    if (blocks.length === 0) return;
    if (first !== this.n) throw new Error(`blocks.dat holds ${this.n} blocks, cannot append at ${first}`);
    const parts = blocks.map((b, i) => encodeRecord({ d: first + i, b }));
    this.disk.append(Buffer.concat(parts));
    let end = this.offsets[this.n];
    for (const p of parts) this.push((end += p.length));
  }

  /** Keeps the first `count` blocks. */
  truncate(count: number): void {
    if (count >= this.n) return;
    this.n = Math.max(0, count);
    this.disk.truncate(this.offsets[this.n]);
  }

  sync(): void {
    this.disk.sync();
  }

  close(): void {
    this.disk.close();
  }

  /** The block at `depth`, checked against its checksum (null: not held, or damaged). */
  block(depth: number): Block | null {
    if (!Number.isSafeInteger(depth) || depth < 0 || depth >= this.n) return null;
    const start = this.offsets[depth];
    const raw = this.disk.read(start, this.offsets[depth + 1] - start);
    const sp1 = raw.indexOf(0x20);
    const sp2 = raw.indexOf(0x20, sp1 + 1);
    const body = raw.subarray(sp2 + 1, raw.length - 1);
    const fail = (why: string): null => {
      this.readFailure ??= `blocks.dat: block ${depth} at byte ${start} is damaged (${why}); it is not served`;
      return null;
    };
    if (sp1 < 0 || sp2 < 0 || (crc32(body) >>> 0).toString(16).padStart(8, '0') !== raw.toString('latin1', sp1 + 1, sp2)) return fail('checksum mismatch');
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
