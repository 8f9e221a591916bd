/**
 * The key-value dictionary and the per-client session table, both derived only from
 * decided blocks in depth order. Gets are blocks too; only puts change the dictionary.
 */
import { Block } from '../../messages';
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

export class StateMachine {
  readonly dict = new Map<string, string>();
  readonly sessions = new Map<string, Session>();
  /** Number of blocks applied, i.e. the depth of the next one. */
  applied = 0;

  apply(block: Block): ApplyResult {
    const depth = this.applied++;
    const { op, key, value, client, req } = block.operation;
    const s = this.sessions.get(client);
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
    this.sessions.set(client, { req, result, depth, digest });
    return { result, duplicate: false, stale: false };
  }

  /** The highest request number of `client` that took effect (0: none). */
  lastReq(client: string): number {
    return this.sessions.get(client)?.req ?? 0;
  }

  /**
   * The cached answer if this very request (client, number and contents) already took effect;
   * 'stale' if it never can (a later number, or this number with other contents, took effect).
   */
  answered(client: string, req: number, digest: string): Session | 'stale' | undefined {
    const s = this.sessions.get(client);
    if (!s || req > s.req) return undefined;
    return req === s.req && digest === s.digest ? s : 'stale';
  }
}
