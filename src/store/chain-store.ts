/**
 * The durable state of one node on a Disk: the consensus core's records (promises,
 * tentative blocks, decided tags, learned blocks) in a checksummed append-only log.
 *
 * Loading rebuilds the state, verifies the chain (hash pointers and nonces) and reports
 * what it found. A torn tail is cut off. A damaged or tampered record stops the replay
 * there: what follows cannot be trusted as a chain. Two things are then kept safe:
 * - the highest promise found anywhere in the file is still honoured (promises stand alone);
 * - the node must not vote (promise or accept) until it has re-learned decided blocks up to
 *   the highest depth the lost records mentioned (`voteFloor`), since votes it forgot could
 *   otherwise be cast again differently.
 */
import { Ballot } from '../../messages';
import { short, verifyChain } from '../chain';
import { DurableRecord, DurableState } from '../core/durable';
import { InvariantError } from '../core/invariant';
import { Disk } from './disk';
import { loadRecords, RecordLog } from './record-log';

export interface LoadReport {
  state: DurableState;
  /** Human-readable findings, one per line (empty when the file was clean). */
  warnings: string[];
  /** True when the file was altered (not just torn by a crash). */
  tampered: boolean;
  /** Do not promise or accept until the decided prefix reaches this depth. */
  voteFloor: number;
  records: number;
}

function isRecord(v: unknown): v is DurableRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { t?: unknown };
  return r.t === 'promise' || r.t === 'accept' || r.t === 'decide' || r.t === 'learn';
}

function maxDepth(r: DurableRecord): number {
  switch (r.t) {
    case 'promise': return r.ballot.depth;
    case 'decide': return r.commit;
    case 'accept':
    case 'learn': return r.from + r.blocks.length;
  }
}

export function loadState(disk: Disk, opts: { forgetPromises?: boolean } = {}): LoadReport {
  const loaded = loadRecords(disk.readAll(), isRecord);
  const warnings: string[] = [];
  let tampered = false;
  let voteFloor = 0;
  if (loaded.tornTail) {
    warnings.push(`discarded a torn last record at byte ${loaded.tornTail.offset} (${loaded.tornTail.bytes} bytes: ${loaded.tornTail.reason}) — a crash interrupted a write`);
    disk.truncate(loaded.goodBytes);
  }
  let records = loaded.records;
  let lost: DurableRecord[] = [];
  if (loaded.corrupt) {
    tampered = true;
    lost = loaded.corrupt.recordsAfter;
    warnings.push(`TAMPERED: record ${loaded.corrupt.index} at byte ${loaded.corrupt.offset} is damaged (${loaded.corrupt.reason}); ignoring it and the ${lost.length} record(s) after it`);
  }
  let state = new DurableState();
  let applied = 0;
  for (const r of records) {
    if (opts.forgetPromises && r.t === 'promise') { applied++; continue; }
    try {
      state.apply(r);
      applied++;
    } catch (e) {
      if (!(e instanceof InvariantError)) throw e;
      tampered = true;
      warnings.push(`TAMPERED: record ${applied} does not fit the chain before it (${e.message}); ignoring it and all after it`);
      lost = [...records.slice(applied + 1), ...lost];
      break;
    }
  }
  records = records.slice(0, applied);
  // Verify every block: a value edited together with its checksum still breaks a hash pointer or a nonce.
  const check = verifyChain(state.log, undefined, 0, state.hashes);
  if (!check.ok) {
    tampered = true;
    // A broken pointer at d may mean block d-1 was edited (its own nonce can still pass): distrust both.
    const cut = check.kind === 'pointer' ? Math.max(0, check.depth - 1) : check.depth;
    warnings.push(`TAMPERED: block ${check.depth} fails verification (${check.reason}); dropping the blocks from depth ${cut} on`);
    voteFloor = Math.max(voteFloor, state.end);
    state = rebuildBelow(records, cut, opts);
  }
  for (const r of lost) {
    voteFloor = Math.max(voteFloor, maxDepth(r));
    if (r.t === 'promise' && !opts.forgetPromises && (!state.promised || Ballot.compareTerm(r.ballot, state.promised) > 0)) {
      state.apply(r); // a promise stands alone: honour it even though records around it are lost
    }
  }
  if (tampered) warnings.push(`this node will re-learn decided blocks from its peers and will not vote below depth ${voteFloor}; head now ${short(state.headHash(state.commit))} at depth ${state.commit}`);
  return { state, warnings, tampered, voteFloor, records: records.length };
}

/** Replays `records` keeping only blocks below `depth` (the first block that failed verification). */
function rebuildBelow(records: DurableRecord[], depth: number, opts: { forgetPromises?: boolean }): DurableState {
  const s = new DurableState();
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
    } else {
      s.apply(r);
    }
  }
  return s;
}

/** The node's writer: appends the core's records, fsyncing when the core says it must. */
export class ChainStore {
  private readonly log: RecordLog;
  constructor(private readonly disk: Disk) {
    this.log = new RecordLog(disk);
  }
  write(records: readonly DurableRecord[], sync: boolean): void {
    this.log.appendAll(records, sync);
  }
  close(): void {
    this.disk.close();
  }
}
