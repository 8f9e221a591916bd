import { Block } from '../../messages';
import { blockHash, GENESIS_POINTER, powAccepts, powHash } from './hash';

/**
 * `kind: 'pointer'` means block `depth` does not point at the block below: either its pointer
 * or the block below was altered, so a careful reader distrusts both.
 */
export type ChainCheck = { ok: true; head: string } | { ok: false; depth: number; kind: 'pointer' | 'nonce' | 'value'; reason: string };

/**
 * Recomputes every hash pointer and proof of work of `blocks`, which sit at depths
 * `start`.. on top of a block hashing to `below`. Names the first bad block. `hashes[i]`, when
 * given, must be blockHash(blocks[i]) already computed from these very objects (the store's
 * replay has them), which spares recomputing them.
 */
export function verifyChain(blocks: readonly Block[], below = GENESIS_POINTER, start = 0, hashes?: readonly string[]): ChainCheck {
  let expected = below;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b.hashPointer !== expected) {
      return { ok: false, depth: start + i, kind: 'pointer', reason: `hash pointer ${short(b.hashPointer)} does not match the block below (${short(expected)})` };
    }
    if (!powAccepts(powHash(b.operation, b.nonce))) {
      return { ok: false, depth: start + i, kind: 'nonce', reason: `nonce ${b.nonce} fails the proof of work` };
    }
    if (b.operation.op === 'put' && b.operation.value === undefined) {
      return { ok: false, depth: start + i, kind: 'value', reason: 'put without a value' };
    }
    expected = hashes ? hashes[i] : blockHash(b);
  }
  return { ok: true, head: expected };
}

export function short(hash: string): string {
  return hash.length > 12 ? hash.slice(0, 12) + '…' : hash;
}
