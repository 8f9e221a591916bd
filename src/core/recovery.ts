/**
 * Recovery policy: what a node may believe after its store found damage. The store reads
 * records and reports what it could not read (`lost`: records after a damaged one); this
 * decides what state to rebuild and how far the node must re-learn before it votes again.
 *
 * - A record that does not fit the state before it, or a block that fails verification (hash
 *   pointer, proof of work), ends what can be trusted as a chain there.
 * - The highest promise found anywhere is still honoured: a promise stands alone.
 * - The node must not promise or accept until it has re-learned decided blocks up to the
 *   highest depth any lost record mentioned (`voteFloor`): votes it forgot could otherwise be
 *   cast again differently.
 */
import { Ballot } from '../../messages';
import { short, verifyChain } from '../chain';
import { DurableRecord, DurableState } from './durable';

export interface Recovery {
  state: DurableState;
  /** Records that made up `state` (a prefix of those given). */
  kept: DurableRecord[];
  /** Do not vote until decided up to here (0: no restriction). */
  voteFloor: number;
  /** True when records had to be dropped (damage beyond a torn write). */
  damaged: boolean;
  findings: string[];
}

export interface RecoverOptions {
  /** Plants the simulator's forget-promise mutant. */
  forgetPromises?: boolean;
  /** A fresh state to replay onto (a checkpoint's); a new empty one by default. */
  start?: () => DurableState;
}

function maxDepth(r: DurableRecord): number {
  switch (r.t) {
    case 'promise': return r.ballot.depth;
    case 'decide': return r.commit;
    case 'install': return r.depth;
    case 'accept':
    case 'learn': return r.from + r.blocks.length;
  }
}

/**
 * Rebuilds the durable state from `records`; `lost` are records after unreadable damage,
 * `floor` a vote floor an earlier recovery recorded. `forgetPromises` plants the simulator's
 * forget-promise mutant.
 */
export function recover(records: readonly DurableRecord[], lost: readonly DurableRecord[], floor: number, opts: RecoverOptions = {}): Recovery {
  const fresh = opts.start ?? (() => new DurableState());
  const findings: string[] = [];
  let damaged = lost.length > 0;
  let voteFloor = floor;
  let state = fresh();
  let applied = 0;
  const dropped: DurableRecord[] = [...lost];
  for (const r of records) {
    if (opts.forgetPromises && r.t === 'promise') { applied++; continue; }
    const misfit = state.misfit(r);
    if (misfit) {
      damaged = true;
      findings.push(`TAMPERED: record ${applied} does not fit the chain before it (${misfit}); ignoring it and all after it`);
      dropped.unshift(...records.slice(applied + 1));
      break;
    }
    state.apply(r);
    applied++;
  }
  const kept = records.slice(0, applied);
  // Verify every block: a value edited together with its checksum still breaks a hash pointer or a nonce.
  // (From a checkpoint: the blocks replayed after it, linked to its anchor, which the store checked.)
  const check = verifyChain(state.suffixFrom(state.base), state.headHash(state.base), state.base, state.heldHashes());
  if (!check.ok) {
    damaged = true;
    // A broken pointer at d may mean block d-1 was edited (its own nonce can still pass): distrust both.
    const cut = Math.max(state.base, check.kind === 'pointer' ? check.depth - 1 : check.depth);
    findings.push(`TAMPERED: block ${check.depth} fails verification (${check.reason}); dropping the blocks from depth ${cut} on`);
    voteFloor = Math.max(voteFloor, state.end);
    state = rebuildBelow(kept, cut, fresh(), opts);
  }
  for (const r of dropped) {
    voteFloor = Math.max(voteFloor, maxDepth(r));
    if (r.t === 'promise' && !opts.forgetPromises && (!state.promised || Ballot.compareTerm(r.ballot, state.promised) > 0)) {
      state.apply(r); // a promise stands alone: honour it even though records around it are lost
    }
  }
  if (damaged) findings.push(`this node will re-learn decided blocks from its peers and will not vote below depth ${voteFloor}; head now ${short(state.headHash(state.commit))} at depth ${state.commit}`);
  else if (voteFloor > state.commit) findings.push(`still re-learning after an earlier repair: will not vote below depth ${voteFloor} (decided so far: ${state.commit})`);
  if (voteFloor <= state.commit && !damaged) voteFloor = 0;
  return { state, kept, voteFloor, damaged, findings };
}

/** Replays `records` keeping only blocks below `depth` (the first block that failed verification). */
function rebuildBelow(records: readonly DurableRecord[], depth: number, s: DurableState, opts: { forgetPromises?: boolean }): DurableState {
  for (const r of records) {
    if (opts.forgetPromises && r.t === 'promise') continue;
    if (r.t === 'accept' || r.t === 'learn') {
      if (r.from >= depth) continue;
      const blocks = r.blocks.slice(0, depth - r.from);
      if (r.t === 'learn' && r.from > s.commit) continue;
      if (r.t === 'accept' && (r.from < s.commit || r.from > s.end)) continue;
      s.apply({ ...r, blocks });
    } else if (r.t === 'decide') {
      s.apply({ t: 'decide', commit: Math.min(r.commit, s.end) });
    } else if (r.t === 'install') {
      if (s.misfit(r) === null) s.apply(r);
    } else {
      s.apply(r);
    }
  }
  return s;
}
