/**
 * The safety checks of a whole simulated run, over every node's final chain and every client's
 * history: agreement and validity of the decided chains, every decided request sent by a client
 * and decided once, no acknowledged write lost, each answer what the chain says, real-time
 * order, and linearizability of the history (Wing–Gong search, partitioned by key).
 */
import { OpName } from '../../messages';
import { GENESIS_POINTER, verifyChain } from '../chain';
import { DurableState } from '../core/durable';
import { requestKey } from '../core/replica';
import { StateMachine } from '../core/state-machine';
import { checkLinearizable, HistoryOp } from './linearizability';

export type Property = 'agreement' | 'validity' | 'linearizability' | 'durability' | 'at-most-once' | 'liveness' | 'invariant' | 'vacuous' | 'checkpoint';

export interface Finding {
  property: Property;
  detail: string;
}

/** A client operation as the simulator records it: `rid` is the `requestKey` it finally ran under. */
export interface ClientOp extends HistoryOp {
  rid?: string;
  depth?: number;
}

export interface RunRecord {
  /** Each node's name and final durable state (a node that is down: what its disk holds). */
  chains: { name: string; state: DurableState; hole?: { from: number; to: number } | null }[];
  history: readonly ClientOp[];
  /** Every `requestKey` any client used, with the operation it carried. */
  issued: ReadonlyMap<string, { op: OpName; key: string; value?: string }>;
  /** Fewest operations the run must have completed, or it proves nothing. */
  minCompleted: number;
}

export function checkRun(run: RunRecord): Finding | null {
  const { chains, history } = run;
  const whole = chains.filter((c) => !c.hole || c.hole.from >= c.hole.to);
  const longest = (whole.length ? whole : chains).reduce((a, b) => (b.state.commit > a.state.commit ? b : a)).state;
  for (const { name, state, hole } of chains) {
    // (Blocks below a node's in-memory window are read from its blocks.dat; a node that went down
    // while backfilling below an installed checkpoint lacks `hole`, and is checked around it.)
    const h = hole && hole.from < hole.to ? hole : null;
    const pieces: [number, number][] = h ? [[0, h.from], [h.to, state.commit]] : [[0, state.commit]];
    for (const [a, b] of pieces) {
      if (a >= b) continue;
      const decided = state.range(a, b, Infinity, Infinity, () => 0);
      if (decided.length < b - a) return { property: 'durability', detail: `${name} cannot read its decided block ${a + decided.length} (blocks.dat)` };
      const check = verifyChain(decided, a === 0 ? GENESIS_POINTER : decided[0].hashPointer, a);
      if (!check.ok) return { property: 'validity', detail: `${name} decided chain breaks at ${check.depth}: ${check.reason}` };
    }
    for (let k = 0; k < state.commit; k++) {
      if (h && k >= h.from && k < h.to) continue;
      if (state.hash(k) !== longest.hash(k)) return { property: 'agreement', detail: `${name} and the longest chain differ at depth ${k}` };
    }
  }
  const depthOf = new Map<string, number>();
  // Replay the chain with the real state machine: what each operation must have answered (a
  // stale-numbered block takes no effect and answers nothing).
  const sm = new StateMachine();
  const answer = new Map<string, string>();
  for (let k = 0; k < longest.commit; k++) {
    const block = longest.block(k)!;
    const op = block.operation;
    const rid = requestKey(op);
    const sent = run.issued.get(rid);
    if (!sent || sent.op !== op.op || sent.key !== op.key || sent.value !== op.value) return { property: 'validity', detail: `block ${k} holds ${rid}, which no client sent` };
    if (depthOf.has(rid)) return { property: 'at-most-once', detail: `${rid} is decided twice: depths ${depthOf.get(rid)} and ${k}` };
    depthOf.set(rid, k);
    const r = sm.apply(block);
    if (!r.stale) answer.set(rid, r.result);
  }
  const completed = history.filter((h) => h.ret !== Infinity);
  for (const h of completed) {
    const k = depthOf.get(h.rid!);
    if (k === undefined) return { property: 'durability', detail: `${h.rid} (${h.op} ${h.key}) was answered but is not in the decided chain` };
    if (k !== h.depth) return { property: 'validity', detail: `${h.rid} was answered with depth ${h.depth} but sits at ${k}` };
    const want = answer.get(h.rid!);
    if (want === undefined) return { property: 'validity', detail: `${h.rid} was answered, but its block took no effect (a stale request number)` };
    if (h.op === 'put' && want !== 'ack') return { property: 'validity', detail: `${h.rid} put answered ${want}` };
    if (h.op === 'get' && want !== h.result) return { property: 'linearizability', detail: `${h.rid} got ${h.result} but the chain says ${want}` };
  }
  // Real-time order: an operation that finished before another began sits below it.
  const byCall = [...completed].sort((a, b) => a.call - b.call);
  const byRet = [...completed].sort((a, b) => a.ret - b.ret);
  let maxDepthEnded = -1;
  let endedIdx = 0;
  for (const h of byCall) {
    while (endedIdx < byRet.length && byRet[endedIdx].ret < h.call) maxDepthEnded = Math.max(maxDepthEnded, byRet[endedIdx++].depth!);
    if (h.depth! <= maxDepthEnded) return { property: 'linearizability', detail: `${h.rid} began after an operation at depth ${maxDepthEnded} had returned, yet sits at ${h.depth}` };
  }
  const lin = checkLinearizable(history);
  if (!lin.ok) return { property: 'linearizability', detail: `key ${lin.key}: ${lin.reason}` };
  if (completed.length < run.minCompleted) return { property: 'vacuous', detail: `only ${completed.length} operations completed (need ${run.minCompleted})` };
  return null;
}
