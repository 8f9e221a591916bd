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

  static of(op: OpName, key: string, value: string | undefined, client: string, req: number): Operation {
    const o = new Operation();
    o.op = op;
    o.key = key;
    if (value !== undefined) o.value = value;
    o.client = client;
    o.req = req;
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
