/**
 * The key-value dictionary and the per-client session table, both derived only from
 * decided blocks in depth order. Gets are blocks too; only puts change the dictionary.
 */
import { Block, Operation } from '../../messages';
import { operationDigest } from '../chain';

export const NO_KEY = 'NO_KEY';
export const ACK = 'ack';

export interface Session {
  /** Highest request number of this client that has taken effect. */
  req: number;
  /** Its answer, returned again if the client retries it. */
  result: string;
  depth: number;
  /** `operationDigest` of that request: the same number with other contents is another request. */
  digest: string;
}

export interface ApplyResult {
  result: string;
  /** True when the block repeats a request that already took effect (it then changes nothing). */
  duplicate: boolean;
  /**
   * True when the block's request number is below the client's latest that took effect: a
   * request that can never take effect (the client is told to renumber; `result` is empty).
   */
  stale: boolean;
}

/**
 * Most client sessions remembered (one per client process start). Beyond it the least recently
 * used is forgotten, the same way on every node (it follows the decided chain): a retry that
 * arrives after its session was forgotten, 10,000 client starts later, could take effect twice.
 */
export const MAX_SESSIONS = 10_000;

/** One session per client process: numbers grow within it (a new process may number lower). */
const sessionKey = (op: Operation): string => `${op.client}\u0000${op.session ?? ''}`;

export class StateMachine {
  readonly dict = new Map<string, string>();
  /** By client and session, least recently used first. */
  readonly sessions = new Map<string, Session>();
  /** Number of blocks applied, i.e. the depth of the next one. */
  applied = 0;

  /** Replaces everything by a checkpoint's dictionary and sessions at depth `applied` (an install). */
  reset(dict: readonly [string, string][], sessions: readonly [string, Session][], applied: number): void {
    this.dict.clear();
    for (const [k, v] of dict) this.dict.set(k, v);
    this.sessions.clear();
    for (const [k, s] of sessions) this.sessions.set(k, s);
    this.applied = applied;
  }

  apply(block: Block): ApplyResult {
    const depth = this.applied++;
    const { op, key, value, req } = block.operation;
    const k = sessionKey(block.operation);
    const s = this.sessions.get(k);
    const digest = operationDigest(block.operation);
    if (s && req <= s.req) {
      const same = s.req === req && s.digest === digest;
      return { result: same ? s.result : '', duplicate: true, stale: !same };
    }
    let result: string;
    if (op === 'put') {
      this.dict.set(key, value ?? '');
      result = ACK;
    } else {
      result = this.dict.get(key) ?? NO_KEY;
    }
    this.sessions.delete(k); // (re-inserted last: the Map's order is least recently used first)
    this.sessions.set(k, { req, result, depth, digest });
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return { result, duplicate: false, stale: false };
  }

  /** The highest request number of this operation's client session that took effect (0: none). */
  lastReq(op: Operation): number {
    return this.sessions.get(sessionKey(op))?.req ?? 0;
  }

  /**
   * The cached answer if this very request (client session, number and contents) already took
   * effect; 'stale' if it never can (a later number of its session, or this number with other
   * contents, took effect).
   */
  answered(op: Operation): Session | 'stale' | undefined {
    const s = this.sessions.get(sessionKey(op));
    if (!s || op.req > s.req) return undefined;
    return op.req === s.req && operationDigest(op) === s.digest ? s : 'stale';
  }
}
