/**
 * The client operations a node holds until they are decided, in arrival order, keyed by
 * `requestKey`, bounded in count and bytes (a full queue answers `busy`).
 */
import { PendingOp } from '../../messages';
import { pendingBytes } from './sizes';

export class ClientQueue {
  private readonly ops = new Map<string, PendingOp>();
  /** Estimated bytes of the operations held (see sizes.ts). */
  private bytes = 0;

  constructor(private readonly maxCount: number, private readonly maxBytes: number) {}

  get size(): number { return this.ops.size; }
  has(key: string): boolean { return this.ops.has(key); }
  values(): IterableIterator<PendingOp> { return this.ops.values(); }
  entries(): IterableIterator<[string, PendingOp]> { return this.ops.entries(); }
  keys(): IterableIterator<string> { return this.ops.keys(); }

  /** Whether `p` would pass the bounds. */
  fits(p: PendingOp): boolean {
    return this.ops.size < this.maxCount && this.bytes + pendingBytes(p) <= this.maxBytes;
  }

  /** Adds without checking the bounds (a deposed leader's own undecided operations go back regardless). */
  add(key: string, p: PendingOp): void {
    if (this.ops.has(key)) return;
    this.ops.set(key, p);
    this.bytes += pendingBytes(p);
  }

  remove(key: string): void {
    const p = this.ops.get(key);
    if (!p) return;
    this.ops.delete(key);
    this.bytes -= pendingBytes(p);
  }

  /** The head of the queue, as much as one message holds. */
  head(maxCount: number, maxBytes: number): PendingOp[] {
    const out: PendingOp[] = [];
    let bytes = 0;
    for (const p of this.ops.values()) {
      if (out.length >= maxCount || bytes + pendingBytes(p) > maxBytes) break;
      bytes += pendingBytes(p);
      out.push(p);
    }
    return out;
  }
}
