/**
 * Opening a node's data folder: the chain.log must be this node's, of this cluster.
 *
 * - A new chain.log starts with a header record naming the cluster and the node (fsynced
 *   before anything else is written), so every later start can check whose log it is.
 * - A log from another cluster or another node, a log with data but no readable record, and an
 *   empty log in a folder whose kv.json shows a node ran there are refused (`StoreRefused`, one
 *   line naming the file) rather than served or cut as a torn write.
 * - A log written before headers existed gets one (rewritten once, same records).
 * - A damaged log is rewritten without its damaged part, with a `floor` record that keeps the
 *   vote floor: the next start is clean (no TAMPERED again) and still will not vote until the
 *   lost depths are re-learned. The damaged file is kept next to it as chain.log.damaged-<time>.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DurableRecord, DurableState } from '../core/durable';
import { ChainStore, FloorRecord, headerFor, LoadReport, loadState, StoreEvidence, StoreIdentity, StoreRefused } from './chain-store';
import { BlockFile } from './block-file';
import { Checkpoint, checkpointName, checkpointStateMachine, chooseCheckpoint, decodeCheckpoint, encodeCheckpoint, FsCheckpointDir, logTail, MAX_CHECKPOINT_BYTES, stateMachineFromBlocks } from './checkpoint';
import { StateMachine } from '../core/state-machine';
import { FileDisk } from './disk';
import { encodeRecord } from './record-log';

export { StoreRefused };

/**
 * The cluster's id: a hash of the node list (name, host, port) of nodes.ini, so a data folder
 * of another cluster (other nodes, other ports) is told apart. Changing a node's address in
 * nodes.ini therefore changes the id: that cluster's folders are then refused (start fresh or
 * restore the old nodes.ini).
 */
export function clusterId(nodes: readonly { name: string; host: string; port: number }[]): string {
  const text = nodes.map((n) => `${n.name}=${n.host}:${n.port}`).join(',');
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);
}

export interface OpenedStore {
  report: LoadReport;
  store: ChainStore;
  disk: FileDisk;
  /** blocks.dat: the decided blocks, indexed (older blocks are read from it). */
  blocks: BlockFile;
  checkpoints: FsCheckpointDir;
  /** The dictionary rebuilt from blocks.dat (see above), when no checkpoint gives it. */
  sm?: StateMachine;
}

function readKvEvidence(file: string): StoreEvidence['kvJson'] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const d = (JSON.parse(text) as { depth?: unknown }).depth;
    return { depth: typeof d === 'number' && Number.isSafeInteger(d) ? d : null };
  } catch {
    return { depth: null };
  }
}

/**
 * The records that rebuild `s` exactly from depth `base` (0, or the installed depth, whose
 * install record comes first): decided blocks, the tentative suffix with its term, the promise.
 */
function stateRecords(s: DurableState, base = 0): DurableRecord[] {
  const out: DurableRecord[] = [];
  if (base > 0) out.push({ t: 'install', depth: base, anchor: s.headHash(base) });
  for (let from = base; from < s.commit; from += 1000) {
    const blocks = s.range(from, Math.min(s.commit, from + 1000), 1000, Infinity, () => 0);
    if (blocks.length < Math.min(s.commit, from + 1000) - from) throw new StoreRefused(`cannot rewrite the damaged chain.log: block ${from + blocks.length} is unreadable in blocks.dat too; move the folder away to start this node empty`);
    out.push({ t: 'learn', from, blocks });
  }
  if (s.end > s.commit && s.suffixBallot) out.push({ t: 'accept', ballot: s.suffixBallot, from: s.commit, blocks: s.suffixFrom(s.commit) });
  if (s.promised) out.push({ t: 'promise', ballot: s.promised });
  return out;
}

/**
 * The installed checkpoint at `depth` whose anchor is `anchor`, whatever its chain.log position
 * (its dictionary and sessions are decided state at that depth, bound to the chain by the
 * anchor): the reason it cannot be used, or the checkpoint.
 */
function installedCheckpointAt(dir: FsCheckpointDir, depth: number, anchor: string, id: StoreIdentity): Checkpoint | string {
  const name = checkpointName(depth);
  const buf = dir.read(name, MAX_CHECKPOINT_BYTES);
  if (!buf) return `${name} is missing, unreadable or larger than ${MAX_CHECKPOINT_BYTES} bytes`;
  const c = decodeCheckpoint(buf);
  if (typeof c === 'string') return `${name}: ${c}`;
  if (c.depth !== depth || c.anchor !== anchor) return `${name} is not the checkpoint installed at depth ${depth}`;
  if (c.cluster !== id.cluster || c.node !== id.node) return `${name} belongs to ${c.node} of cluster ${c.cluster}`;
  return c;
}

/** Replaces `file` by `records` durably: a temp file, fsync, rename, fsync of the folder. */
function rewrite(file: string, records: readonly unknown[]): void {
  const tmp = `${file}.rewrite`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    const data = Buffer.concat(records.map(encodeRecord));
    for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off, off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), 'r');
  try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
}

/**
 * Opens `dir/chain.log` for node `identity.node` of cluster `identity.cluster`: loads and
 * verifies it (throwing `StoreRefused` with one line if it is not this node's), gives a new or
 * older log its header, rewrites a damaged one without the damage, and returns the loaded
 * state and the writer. Call it after taking the folder's LOCK.
 */
export function openChainStore(o: { dir: string; identity: StoreIdentity; log?: (line: string) => void }): OpenedStore {
  const file = path.join(o.dir, 'chain.log');
  const evidence: StoreEvidence = { file, kvJson: readKvEvidence(path.join(o.dir, 'kv.json')) };
  let disk = new FileDisk(file);
  let report: LoadReport;
  const blocksFile = path.join(o.dir, 'blocks.dat');
  const indexFile = path.join(o.dir, 'blocks.idx');
  const hadBlocks = fs.existsSync(blocksFile);
  const hadIndex = fs.existsSync(indexFile);
  const blocks = new BlockFile(new FileDisk(blocksFile), { index: new FileDisk(indexFile) });
  const checkpoints = new FsCheckpointDir(o.dir);
  const early: string[] = [...blocks.findings];
  try {
    const chosen = chooseCheckpoint(checkpoints, disk, blocks, o.identity);
    early.push(...chosen.warnings);
    const from = chosen.checkpoint ? { checkpoint: chosen.checkpoint, older: blocks } : undefined;
    report = loadState(disk, { identity: o.identity, evidence, from });
    if (report.tampered && from) {
      // Damage after the checkpoint: rewriting chain.log needs the whole chain, so read it all.
      early.push(`the records after checkpoint ${from.checkpoint.depth} are damaged: reading the whole chain.log`);
      report = loadState(disk, { identity: o.identity, evidence });
    }
  } catch (e) {
    disk.closeUntouched();
    blocks.close();
    if (!hadBlocks) fs.rmSync(blocksFile, { force: true }); // a refused start leaves the folder as it was
    if (!hadIndex) fs.rmSync(indexFile, { force: true });
    throw e;
  }
  report.warnings.unshift(...early);
  const installedAt = report.state.base;
  let sm: StateMachine | undefined;
  if (installedAt > (report.checkpoint?.depth ?? 0)) {
    // No checkpoint at or above the installed depth could be started from (chain.log was damaged
    // or rewritten after it): the installed checkpoint's dictionary, whatever its chain.log
    // position, or the blocks below it, if the backfill brought them all, give the dictionary.
    const anchor = report.state.headHash(installedAt);
    const c = installedCheckpointAt(checkpoints, installedAt, anchor, o.identity);
    if (typeof c !== 'string') {
      sm = checkpointStateMachine(c);
      report.voteFloor = Math.max(report.voteFloor, c.voteFloor && c.voteFloor > report.state.commit ? c.voteFloor : 0);
      report.warnings.push(`the dictionary at the installed depth ${installedAt} is taken from ${checkpointName(installedAt)} (its chain.log position is gone)`);
    } else {
      const rebuilt = stateMachineFromBlocks(blocks, installedAt, anchor);
      if (typeof rebuilt === 'string') {
        disk.closeUntouched();
        blocks.close();
        throw new StoreRefused(`${file} installed a peer's checkpoint at depth ${installedAt}, but no usable checkpoint at or above that depth is left in ${o.dir} (see the lines above; ${c}), and ${rebuilt}: the dictionary cannot be rebuilt here; move the folder away to start this node empty (it then catches up from its peers)`);
      }
      sm = rebuilt;
      report.warnings.push(`no usable checkpoint at or above the installed depth ${installedAt}: the dictionary was rebuilt from blocks.dat's blocks below it`);
    }
  }
  const header = headerFor(o.identity);
  if (report.tampered) {
    const keep = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    disk.close();
    fs.copyFileSync(file, keep);
    const floor: FloorRecord[] = report.voteFloor > report.state.commit ? [{ t: 'floor', depth: report.voteFloor }] : [];
    const base = report.state.base;
    let ckpt: Checkpoint | null = null;
    if (base > 0 && sm) {
      // After an install: chain.log becomes its header, the install record and the records from
      // the installed depth on; the installed checkpoint is written again at its new position
      // (right after the header), first, so a crash before the new chain.log is in place finds it
      // too (then by its depth, as here). The blocks below come from blocks.dat or the backfill.
      const headerBytes = encodeRecord(header);
      ckpt = {
        cluster: o.identity.cluster, node: o.identity.node, depth: base, anchor: report.state.headHash(base),
        logOffset: headerBytes.length, logTail: crypto.createHash('sha256').update(headerBytes).digest('hex'),
        promised: null, suffixBallot: null, suffix: [], dict: [...sm.dict], sessions: [...sm.sessions], installed: true,
        ...(report.voteFloor > base ? { voteFloor: report.voteFloor } : {}),
      };
      checkpoints.writeAtomic(checkpointName(base), encodeCheckpoint(ckpt));
    }
    rewrite(file, [header, ...stateRecords(report.state, ckpt ? base : 0), ...floor]);
    for (const n of checkpoints.list()) if (/^checkpoint-[0-9]+\.ckpt$/.test(n) && !(ckpt && n === checkpointName(base))) checkpoints.remove(n); // (their chain.log positions are gone)
    report.warnings.push(`rewrote ${file} without the damaged records (the damaged file is kept as ${path.basename(keep)})${ckpt ? `, from the install at depth ${base} on, with ${checkpointName(base)} written again at its new position` : ''}; the next start will not report it again`);
    disk = new FileDisk(file);
    if (ckpt) {
      if (logTail(disk, ckpt.logOffset) !== ckpt.logTail) {
        disk.close();
        blocks.close();
        throw new StoreRefused(`${file} was rewritten but does not start with its header as written; move the folder away to start this node empty`);
      }
      report.checkpoint = ckpt;
    }
  } else if (report.legacy) {
    disk.close();
    rewrite(file, [header, ...report.kept]);
    report.warnings.push(`${file} had no header (written by an older chainkv): added one naming ${o.identity.node} of cluster ${o.identity.cluster}`);
    disk = new FileDisk(file);
  } else if (report.empty) {
    disk.append(encodeRecord(header));
    disk.sync();
  }
  return { report, store: new ChainStore(disk), disk, blocks, checkpoints, sm };
}
