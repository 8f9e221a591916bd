/**
 * The spec's two hash rules (section 2.1), as pure functions.
 *
 *   hashPointer(n+1) = SHA256(operation_n || nonce_n || hashPointer_n)      (1)
 *   h                = SHA256(operation   || nonce)   must end in 0, 1 or 2 (2)
 *
 * `operation` is the canonical text of the operation: the JSON array
 * `[op, key, value|null, client, req]`, which is unambiguous whatever the value contains.
 * The nonce is fixed-length hex, so the concatenations cannot be read two ways.
 */
import { hash } from 'node:crypto';
import { Block, Operation } from '../../messages';

/** Hash pointer of the first block: there is no block below it. */
export const GENESIS_POINTER = '0'.repeat(64);

/** Proof of work: the last hex digit of SHA256(operation || nonce) must be one of these. */
export const POW_ACCEPTED_DIGITS = '012';

/** Nonce length in hex characters (32 random bits). */
export const NONCE_HEX_LENGTH = 8;

/** One-shot `crypto.hash` (Node >= 20.12): about 3x faster than createHash for short texts, and mining hashes a lot. */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

export function operationText(op: Operation): string {
  const fields: unknown[] = [op.op, op.key, op.value ?? null, op.client, op.req];
  if (op.session !== undefined) fields.push(op.session); // (chains from before sessions hash as they did)
  return JSON.stringify(fields);
}

/**
 * What an operation does (op, key, value) and which client process sent it (session): two
 * requests that share a client and number but differ here are two requests (a restarted client
 * whose clock went back can reuse a number), and a reply names the one it answers.
 */
export function operationDigest(op: Operation): string {
  let d = digests.get(op);
  if (d === undefined) {
    d = sha256Hex(JSON.stringify([op.op, op.key, op.value ?? null, op.session ?? null])).slice(0, 16);
    digests.set(op, d);
  }
  return d;
}

/**
 * Digests by operation object: the core keys its maps by request (`requestKey`) many times per
 * operation (queue, suffix index, dedupe). Operations are not changed once built.
 */
const digests = new WeakMap<Operation, string>();

/** Equation (2): the proof-of-work hash of an operation and a nonce. */
export function powHash(op: Operation, nonce: string): string {
  return sha256Hex(operationText(op) + nonce);
}

export function powAccepts(hash: string): boolean {
  return POW_ACCEPTED_DIGITS.includes(hash[hash.length - 1]);
}

/** Equation (1): the hash of `block`, which is the hash pointer of the block above it. */
export function blockHash(block: Block): string {
  return sha256Hex(operationText(block.operation) + block.nonce + block.hashPointer);
}

/** A source of random 32-bit integers; the consensus core is given one, it never makes its own. */
export type Random = () => number;

export interface Mined {
  nonce: string;
  powHash: string;
  attempts: number;
}

/** Tries random nonces until equation (2) holds (about 16/3 attempts on average). */
export function findNonce(op: Operation, random: Random): Mined {
  const text = operationText(op);
  for (let attempts = 1; ; attempts++) {
    const nonce = (random() >>> 0).toString(16).padStart(NONCE_HEX_LENGTH, '0');
    const h = sha256Hex(text + nonce);
    if (powAccepts(h)) return { nonce, powHash: h, attempts };
  }
}

/** Mines `op` and links it on top of the block whose hash is `below`. */
export function mineBlock(op: Operation, below: string, random: Random): { block: Block; mined: Mined } {
  const mined = findNonce(op, random);
  return { block: Block.of(op, mined.nonce, below), mined };
}
