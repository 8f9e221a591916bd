/**
 * The durable state of one node on a Disk: the consensus core's records (promises,
 * tentative blocks, decided tags, learned blocks) in a checksummed append-only log.
 *
 * Loading reads the records, cuts a torn tail, and reports damage it cannot read past (and a
 * log that is not this node's). What the node may then believe (which records to keep, the
 * promise it must still honour, how far it must re-learn before voting) is the core's recovery
 * policy, `src/core/recovery.ts`.
 */
import { DurableRecord, DurableState, OlderBlocks } from '../core/durable';
import { Checkpoint } from './checkpoint';
import { recover } from '../core/recovery';
import { Disk } from './disk';
import { loadRecords, RecordLog } from './record-log';

/**
 * The first record of a chain.log: whose log it is. A log from another cluster, or another
 * node's log, is refused at start instead of being served (a copied chain.log once won an
 * election and made a cluster serve nothing).
 */
export interface LogHeader {
  t: 'header';
  format: 'chainkv-log';
  version: 1;
  /** The cluster's id (see `clusterId` in store/open.ts: derived from the node list of nodes.ini). */
  cluster: string;
  /** The node that owns the log, e.g. P3. */
  node: string;
}

/**
 * Written when a damaged log is rewritten without its damaged part: the node must not vote
 * until its decided prefix reaches `depth` (the vote floor survives the rewrite).
 */
export interface FloorRecord {
  t: 'floor';
  depth: number;
}

export interface StoreIdentity {
  cluster: string;
  node: string;
}

export function headerFor(id: StoreIdentity): LogHeader {
  return { t: 'header', format: 'chainkv-log', version: 1, cluster: id.cluster, node: id.node };
}

/** A data folder that must not be used as it is: the message is one line naming the file. */
export class StoreRefused extends Error {}

/** What else in the data folder says about the log (for `loadState`'s identity checks). */
export interface StoreEvidence {
  /** The file name to name in messages. */
  file: string;
  /** kv.json exists: a node has run here (it writes the header first). Its decided depth if readable. */
  kvJson: { depth: number | null } | null;
}

export interface LoadReport {
  state: DurableState;
  /** The log's header (null: none, a log written before headers existed, or a new log). */
  header: LogHeader | null;
  /** The log held records but no header (an older chainkv wrote it). */
  legacy: boolean;
  /** No record at all: a new log. */
  empty: boolean;
  /** The records replayed into `state` (before any cut for a block failing verification). */
  kept: DurableRecord[];
  /** Human-readable findings, one per line (empty when the file was clean). */
  warnings: string[];
  /** True when the file was altered (not just torn by a crash). */
  tampered: boolean;
  /** Do not promise or accept until the decided prefix reaches this depth. */
  voteFloor: number;
  records: number;
  /** The checkpoint the state starts from (null: a full replay). */
  checkpoint: Checkpoint | null;
}

export interface LoadOptions {
  forgetPromises?: boolean;
  identity?: StoreIdentity;
  evidence?: StoreEvidence;
  /** Start from this checkpoint (already checked against blocks.dat and chain.log by `chooseCheckpoint`). */
  from?: { checkpoint: Checkpoint; older: OlderBlocks };
}

function isRecord(v: unknown): v is DurableRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { t?: unknown };
  return r.t === 'promise' || r.t === 'accept' || r.t === 'decide' || r.t === 'learn' || r.t === 'install';
}

function isHeader(v: unknown): v is LogHeader {
  const h = v as Partial<LogHeader> | null;
  return typeof h === 'object' && h !== null && h.t === 'header' && h.format === 'chainkv-log' && typeof h.cluster === 'string' && typeof h.node === 'string';
}

function isFloor(v: unknown): v is FloorRecord {
  const f = v as Partial<FloorRecord> | null;
  return typeof f === 'object' && f !== null && f.t === 'floor' && Number.isSafeInteger(f.depth) && (f.depth as number) >= 0;
}

type Stored = DurableRecord | LogHeader | FloorRecord;
const isStored = (v: unknown): v is Stored => isRecord(v) || isHeader(v) || isFloor(v);

const HEADER_BYTES_MAX = 300;

/**
 * Loads a log. With `identity` (a node's real data folder), the log must be this node's: a
 * header naming another cluster or node, a log with data but no readable record, or an empty
 * log while `evidence` says the folder held data, throw `StoreRefused` (one line) instead of
 * being cut as a torn write. Without it (the simulator, tools) only the records are checked.
 */
export function loadState(disk: Disk, opts: LoadOptions = {}): LoadReport {
  const ckpt = opts.from?.checkpoint ?? null;
  // From a checkpoint only the records after its position are read (and the header, for the identity check).
  const start = ckpt ? ckpt.logOffset : 0;
  const raw = start > 0 ? disk.read(start, disk.size() - start) : disk.readAll();
  const loaded = loadRecords(raw, isStored);
  const file = opts.evidence?.file ?? 'chain.log';
  const first = start > 0 ? loadRecords(disk.read(0, HEADER_BYTES_MAX), isHeader).records[0] ?? null : loaded.records[0];
  const header = isHeader(first) ? first : null;
  const coreRecords = loaded.records.filter(isRecord);
  if (opts.identity) checkIdentity(opts.identity, header, start + raw.length, start > 0 ? 1 : coreRecords.length, loaded, file, opts.evidence);
  const warnings: string[] = [];
  let tampered = false;
  // (A checkpoint carries the floor whose `floor` record lies before its position.)
  let voteFloor = ckpt?.voteFloor ?? 0;
  for (const r of loaded.records) if (isFloor(r)) voteFloor = Math.max(voteFloor, r.depth);
  if (loaded.tornTail) {
    const failure = disk.lastFailure?.() ?? null;
    const why = failure ? `the last write failed: ${failure}` : 'a crash interrupted a write';
    warnings.push(`discarded a torn last record at byte ${start + loaded.tornTail.offset} (${loaded.tornTail.bytes} bytes: ${loaded.tornTail.reason}) — ${why}`);
    disk.truncate(start + loaded.goodBytes);
  } else if (disk.lastFailure?.()) {
    warnings.push(`the last write failed (${disk.lastFailure!()}) but left no partial record`);
  }
  disk.clearFailure?.();
  let lost: DurableRecord[] = [];
  if (loaded.corrupt) {
    tampered = true;
    for (const r of loaded.corrupt.recordsAfter) if (isFloor(r)) voteFloor = Math.max(voteFloor, r.depth);
    lost = loaded.corrupt.recordsAfter.filter(isRecord);
    warnings.push(`TAMPERED: record ${loaded.corrupt.index} at byte ${start + loaded.corrupt.offset} is damaged (${loaded.corrupt.reason}); ignoring it and the ${loaded.corrupt.recordsAfter.length} record(s) after it`);
  }
  // What to believe after damage is the core's decision (src/core/recovery.ts), not the store's.
  const forgetPromises = opts.forgetPromises;
  const recovery = recover(coreRecords, lost, voteFloor, {
    forgetPromises,
    start: ckpt ? () => DurableState.fromBase(forgetPromises ? { ...ckpt, promised: null } : ckpt, opts.from!.older) : undefined,
  });
  warnings.push(...recovery.findings);
  tampered ||= recovery.damaged;
  voteFloor = recovery.voteFloor;
  const state = recovery.state;
  const records = recovery.kept;
  return {
    state, warnings, tampered, voteFloor, records: records.length, header,
    legacy: header === null && coreRecords.length > 0 && start === 0, empty: start === 0 && loaded.records.length === 0,
    kept: records, checkpoint: ckpt,
  };
}

function checkIdentity(
  id: StoreIdentity, header: LogHeader | null, bytes: number, coreCount: number,
  loaded: { records: unknown[]; tornTail: { offset: number; reason: string } | null; corrupt: { offset: number; reason: string } | null },
  file: string, evidence: StoreEvidence | undefined,
): void {
  const usage = 'refusing to start; use the right --data-dir, or move the folder away to start this node empty (it then re-learns from its peers)';
  if (header) {
    if (header.cluster !== id.cluster) {
      throw new StoreRefused(`${file} belongs to ${header.node} of another cluster (${header.cluster}, not ${id.cluster}: nodes.ini lists other nodes); ${usage}`);
    }
    if (header.node !== id.node) throw new StoreRefused(`${file} belongs to ${header.node}, not ${id.node}; ${usage}`);
    return;
  }
  if (coreCount > 0) return; // a log written before headers existed: accepted (and given a header by openChainStore)
  const held = evidence?.kvJson ? ` while ${evidence.kvJson.depth !== null ? `kv.json (decided to depth ${evidence.kvJson.depth})` : 'kv.json'} shows this node ran here and wrote its log` : '';
  if (bytes === 0) {
    if (held) throw new StoreRefused(`${file} is empty${held}: the log was lost or emptied, and its promises with it; ${usage}`);
    return; // a new folder
  }
  const problem = loaded.corrupt ?? loaded.tornTail;
  const where = problem ? ` (at byte ${problem.offset}: ${problem.reason})` : '';
  // A crash while the header itself was written at the very first start: nothing else was ever there.
  if (!held && !loaded.corrupt && loaded.tornTail?.offset === 0 && bytes <= HEADER_BYTES_MAX) return;
  throw new StoreRefused(`${file} holds ${bytes} bytes but no readable chainkv record${where}${held}: not a chainkv log, or damaged beyond a torn write; ${usage}`);
}

/**
 * The install record a start must write again (null: none): chain.log lost the one after an
 * installed checkpoint's position (a crash after the checkpoint file was durable, before the
 * record was). Written again, chain.log alone (replayed whole) stays consistent with the state.
 */
export function missingInstallRecord(report: LoadReport): DurableRecord | null {
  const c = report.checkpoint;
  if (!c?.installed || report.kept.some((r) => r.t === 'install' && r.depth === c.depth)) return null;
  return { t: 'install', depth: c.depth, anchor: c.anchor };
}

/** The node's writer: appends the core's records, fsyncing when the core says it must. */
export class ChainStore {
  private readonly log: RecordLog;
  constructor(readonly disk: Disk) {
    this.log = new RecordLog(disk);
  }
  write(records: readonly DurableRecord[], sync: boolean): void {
    this.log.appendAll(records, sync);
  }
  close(): void {
    this.disk.close();
  }
}
