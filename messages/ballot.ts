import { field } from './schema';

/**
 * The spec's ballot `<seq_num, proc_id, depth>`.
 *
 * Order: `seq` first, then `pid`, then `depth`. The pair (seq, pid) is the leadership
 * *term*; it alone decides whether an acceptor's promise forbids a message (`compareTerm`).
 * `depth` says where in the chain the ballot applies: for a prepare, the candidate's first
 * uncommitted index; for an accept, the index of the first block it carries. The spec's
 * depth rule ("refuse a depth below your own chain's") is a separate check on `depth`, never
 * folded into the order.
 *
 * Why not depth first: with `<1,1,10>` ranked above `<5,2,9>`, an acceptor that promised
 * leader P2 the term (5,2) would still accept P1's stale proposal for block 10 made under
 * the older term (1,1) — after P2 had already learned from that same promise that nothing
 * was accepted at 10 and proposed something else there. Two different blocks could then be
 * decided at depth 10. Comparing the term first is what makes a promise a promise.
 */
export class Ballot {
  @field.int() seq = 0;
  @field.int() pid = 0;
  @field.int() depth = 0;

  static of(seq: number, pid: number, depth: number): Ballot {
    const b = new Ballot();
    b.seq = seq;
    b.pid = pid;
    b.depth = depth;
    return b;
  }

  /** Negative, zero or positive as `a`'s term is below, equal to or above `b`'s (depth ignored). */
  static compareTerm(a: Ballot, b: Ballot): number {
    return a.seq !== b.seq ? a.seq - b.seq : a.pid - b.pid;
  }

  /** The full total order: term, then depth. */
  static compare(a: Ballot, b: Ballot): number {
    return Ballot.compareTerm(a, b) || a.depth - b.depth;
  }

  /** The same term at another depth. */
  at(depth: number): Ballot {
    return Ballot.of(this.seq, this.pid, depth);
  }

  toString(): string {
    return `<${this.seq},${this.pid},${this.depth}>`;
  }
}
