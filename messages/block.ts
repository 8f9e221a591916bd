import { field } from './schema';

export const OPS = ['put', 'get'] as const;
export type OpName = (typeof OPS)[number];

/**
 * The spec's `<op, key, value>`, plus the client request it came from (client id and
 * request number). The request id is part of the hashed content so that "each request
 * applied at most once" rests on tamper-evident data.
 */
export class Operation {
  @field.oneOf(OPS) op: OpName = 'get';
  @field.string({ maxLength: 256 }) key = '';
  /** Present for put only: the JSON text of the value. */
  @field.string({ optional: true }) value?: string;
  @field.string({ maxLength: 64 }) client = '';
  @field.int() req = 0;
  /**
   * Random id of the client process that sent it (one per start). Request numbers come from
   * the client's clock, which can step back across a restart and reuse a number; with the
   * session, a reused number is still another request. Absent in chains written before it.
   */
  @field.string({ maxLength: 32, optional: true }) session?: string;

  static of(op: OpName, key: string, value: string | undefined, client: string, req: number, session?: string): Operation {
    const o = new Operation();
    o.op = op;
    o.key = key;
    if (value !== undefined) o.value = value;
    o.client = client;
    o.req = req;
    if (session !== undefined) o.session = session;
    return o;
  }
}

/** One block of the chain: one operation, its proof-of-work nonce, and the hash of the block below. */
export class Block {
  @field.nested(() => Operation) operation: Operation = new Operation();
  @field.string({ maxLength: 64 }) nonce = '';
  @field.string({ maxLength: 64 }) hashPointer = '';

  static of(operation: Operation, nonce: string, hashPointer: string): Block {
    const b = new Block();
    b.operation = operation;
    b.nonce = nonce;
    b.hashPointer = hashPointer;
    return b;
  }
}
