/** Shared helpers for the attack schedules (hand-driven five-core networks). */
import { AnyMessage, LeaderRequest, make } from '../../messages';
import { CoreConfig, Replica } from '../../src/core/replica';
import { HandNet, Sent } from '../support/hand-net';

export const cfg = (id: number): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100, batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24,
});

/** A client process as the real one starts: numbered from its clock, with a fresh random session. */
let sessions = 0;
export const newSession = (): string => `s${++sessions}`;

let seed = 12345;
export const random = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);

/**
 * Among `nodes` only: syncs every node, delivers pending node-to-node messages in order, and ticks
 * (at time 0: only owed decides and lazy accepts go out) until nothing is left to deliver.
 * Messages to or from other nodes stay pending; `drop` discards matching ones as they appear.
 */
export function settle(net: HandNet, nodes: number[] = [1, 2, 3, 4, 5], opts: { drop?: (m: Sent) => boolean; limit?: number } = {}): void {
  const inSet = (m: Sent) => nodes.includes(Number(m.from.slice(1))) && nodes.includes(Number(m.to.slice(1)));
  let ticked = false;
  for (let i = 0; i < (opts.limit ?? 5000); i++) {
    for (const id of nodes) net.sync(id);
    if (opts.drop) net.drop(opts.drop);
    const m = net.pending().find(inSet);
    if (m) {
      ticked = false;
      net.deliver(m.from, m.to, m.msg.kind);
      continue;
    }
    if (ticked) return;
    for (const id of nodes) net.step(id, { type: 'tick' });
    ticked = true;
  }
  throw new Error('settle: no quiescence');
}

/** Delivers every pending message from `from` to `to` (all kinds). */
export function deliverAll(net: HandNet, from: number, to: number): void {
  for (;;) {
    const m = net.pending().find((x) => x.from === `P${from}` && x.to === `P${to}`);
    if (!m) return;
    net.deliver(m.from, m.to, m.msg.kind);
  }
}

/** A client message into a node. */
export function fromClient(net: HandNet, to: number, client: string, msg: AnyMessage): void {
  net.step(to, { type: 'message', from: client, msg });
}

/** Node `id` is asked to lead by a client and wins with `voters` (everything else dropped). */
export function elect(net: HandNet, id: number, voters: number[]): void {
  fromClient(net, id, 'C99', make(LeaderRequest, {}));
  settle(net, [id, ...voters]);
}

export function decidedAt(net: HandNet, depth: number, alive: (i: number) => boolean = () => true): Set<string> {
  const s = new Set<string>();
  net.R.forEach((r: Replica, i) => { if (alive(i + 1) && r.commit > depth) s.add(r.durable.hashes[depth]); });
  return s;
}
