/**
 * Byte sizes for the core's bounds. Counts alone do not bound a frame: a repair of 1,000 blocks
 * of 59 KB values is a 24 MB frame, over the codec's 16 MiB limit. Sizes here are estimates of
 * the encoded JSON, generous for ordinary text (a character counted twice; control characters,
 * which JSON writes as 6 bytes, are refused in keys and rare in values).
 */
import { Block, PendingOp } from '../../messages';

/** Fixed part of an encoded block: hash pointer, nonce, field names, client and number. */
const BLOCK_OVERHEAD_BYTES = 256;

export function blockBytes(b: Block): number {
  const op = b.operation;
  return BLOCK_OVERHEAD_BYTES + 2 * (op.key.length + (op.value?.length ?? 0) + op.client.length);
}

export function pendingBytes(p: PendingOp): number {
  const op = p.operation;
  return BLOCK_OVERHEAD_BYTES + 2 * (op.key.length + (op.value?.length ?? 0) + op.client.length + p.replyTo.length);
}

/**
 * How many of `items` from `from` fit in one message: at most `maxCount`, and at most `maxBytes`
 * estimated (but always at least one, so any single legal item moves).
 */
export function fitCount<T>(items: readonly T[], from: number, to: number, maxCount: number, maxBytes: number, size: (x: T) => number): number {
  let n = 0;
  let bytes = 0;
  for (let i = from; i < to && n < maxCount; i++) {
    bytes += size(items[i]);
    if (n > 0 && bytes > maxBytes) break;
    n++;
  }
  return n;
}
