/**
 * A hand-driven network of five cores for unit-level schedules: every message waits until the
 * test delivers or drops it, records are kept per node with their output numbers, messages that
 * vouch for durable state (`afterSync`) wait for the test's `sync`, and `crash` restarts a node
 * from the records it had fsynced.
 */
import { AnyMessage } from '../../messages';
import { DurableRecord, DurableState } from '../../src/core/durable';
import { CoreConfig, Input, Replica } from '../../src/core/replica';

export interface Sent {
  from: string;
  to: string;
  msg: AnyMessage;
}

export type MakeReplica = (cfg: CoreConfig, state: DurableState, random: () => number) => Replica;

export class HandNet {
  readonly R: Replica[];
  private net: Sent[] = [];
  private readonly held: Sent[][] = [[], [], [], [], []];
  private readonly records: { seq: number; rec: DurableRecord }[][] = [[], [], [], [], []];
  private readonly syncedThrough = [0, 0, 0, 0, 0];
  private readonly initial: DurableRecord[][];
  /** Replies to clients, in order. */
  readonly replies: Sent[] = [];

  constructor(initial: DurableRecord[][], private readonly cfg: (id: number) => CoreConfig, private readonly random: () => number, private readonly make: MakeReplica = (c, s, r) => new Replica(c, s, r)) {
    this.initial = initial;
    this.R = initial.map((recs, i) => this.make(cfg(i + 1), DurableState.replay(recs), random));
  }

  step(id: number, input: Input): void {
    const out = this.R[id - 1].step(input, 0);
    for (const rec of out.persist) this.records[id - 1].push({ seq: out.seq, rec });
    for (const o of out.send) {
      const m = { from: `P${id}`, to: o.to, msg: o.msg };
      if (o.to.startsWith('C')) this.replies.push(m);
      else if (o.afterSync) this.held[id - 1].push(m);
      else this.net.push(m);
    }
  }

  /** Node `id`'s fsync completes: everything it wrote is durable, its held messages leave, its core hears of it. */
  sync(id: number): void {
    const recs = this.records[id - 1];
    const through = recs.length ? recs[recs.length - 1].seq : 0;
    this.syncedThrough[id - 1] = through;
    this.net.push(...this.held[id - 1]);
    this.held[id - 1] = [];
    if (through > 0) this.step(id, { type: 'synced', through });
  }

  /** Node `id` crashes and restarts from what it had fsynced. */
  crash(id: number): void {
    const kept = this.records[id - 1].filter((r) => r.seq <= this.syncedThrough[id - 1]);
    this.records[id - 1] = kept;
    this.held[id - 1] = [];
    this.net = this.net.filter((m) => m.from !== `P${id}` && m.to !== `P${id}`);
    const state = DurableState.replay([...this.initial[id - 1], ...kept.map((r) => r.rec)]);
    this.R[id - 1] = this.make(this.cfg(id), state, this.random);
  }

  deliver(from: string, to: string, kind: string): number {
    const go = this.net.filter((m) => m.from === from && m.to === to && m.msg.kind === kind);
    this.net = this.net.filter((m) => !go.includes(m));
    for (const m of go) this.step(Number(to.slice(1)), { type: 'message', from, msg: m.msg });
    return go.length;
  }

  drop(pred: (m: Sent) => boolean): void {
    this.net = this.net.filter((m) => !pred(m));
  }

  pending(): readonly Sent[] {
    return this.net;
  }
}
