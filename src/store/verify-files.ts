/**
 * Verifies a node's data folder on demand, streaming, in memory that does not grow with the
 * chain: chain.log is read a chunk at a time and replayed into a state that is compacted as it
 * goes (every decided block is checked: hash pointer, proof of work, a put's value), then
 * blocks.dat record by record (checksum, depth, the same checks, and that it is the very chain of
 * chain.log), and each checkpoint's dictionary and sessions against the chain's at its depth (the
 * state machine is replayed alongside: memory of the size of the dictionary). Names the first bad
 * block or checkpoint. Read only: nothing is cut or rewritten.
 *
 * Used by `npm run verify -- --data-dir DIR` and the node console's `verifyChain` (in a worker
 * thread, so the node goes on serving); a running node's files are read up to their size at the
 * start (a record being written then is a torn tail, not damage).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { Block } from '../../messages';
import { blockHash, GENESIS_POINTER, short, verifyChain } from '../chain';
import { DurableRecord, DurableState } from '../core/durable';
import { StateMachine } from '../core/state-machine';
import { MAX_BLOCK_RECORD_BYTES } from './block-file';
import { Checkpoint, checkpointStateMachine, decodeCheckpoint, FsCheckpointDir, MAX_CHECKPOINT_BYTES } from './checkpoint';
import { dataEnd, fileDataEnd } from './disk';
import { parseAt } from './record-log';

/** Bytes read at a time. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Longest record read (a chain.log record holds at most a 4 MiB batch; this leaves room): beyond it, damage. */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Decided blocks verified and dropped from memory at a time. */
const VERIFY_STEP_BLOCKS = 10_000;

export interface VerifyProgress {
  file: string;
  bytes: number;
  total: number;
  blocks: number;
}

export interface VerifyReport {
  ok: boolean;
  /** Decided and tentative blocks in chain.log; blocks in blocks.dat. */
  decided: number;
  tentative: number;
  blocksDat: number;
  /** The first bad block or record (null: none). */
  firstBad: { file: string; depth: number | null; reason: string } | null;
  /** Findings that are not damage (a torn last record of a crash or of a write in progress). */
  notes: string[];
  ms: number;
}

function isCoreRecord(v: unknown): v is DurableRecord {
  const t = (v as { t?: unknown } | null)?.t;
  return t === 'promise' || t === 'accept' || t === 'decide' || t === 'learn' || t === 'install';
}

/** Reads `file` from byte 0 to `size` in chunks, handing over the bytes not yet consumed. */
function* chunks(fd: number, size: number): Generator<{ buf: Buffer; at: number; last: boolean }, void, number> {
  let at = 0;
  let carry = Buffer.alloc(0);
  while (at < size || carry.length > 0) {
    const n = Math.min(CHUNK_BYTES, size - at);
    const fresh = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(fd, fresh, got, n - got, at + got);
      if (r === 0) break;
      got += r;
    }
    const buf = carry.length ? Buffer.concat([carry, fresh.subarray(0, got)]) : fresh.subarray(0, got);
    const start = at - carry.length;
    at += got;
    const used: number = yield { buf, at: start, last: at >= size || got === 0 };
    carry = Buffer.from(buf.subarray(used));
    if (got === 0) return;
  }
}

const NONE: { block(): null } = { block: () => null };

export function verifyDataDir(dir: string, o: { progress?: (p: VerifyProgress) => void; progressEveryMs?: number } = {}): VerifyReport {
  const t0 = Date.now();
  const notes: string[] = [];
  let lastProgress = Date.now();
  const tick = (p: VerifyProgress) => {
    if (!o.progress || Date.now() - lastProgress < (o.progressEveryMs ?? 1000)) return;
    lastProgress = Date.now();
    o.progress(p);
  };
  const report = (firstBad: VerifyReport['firstBad'], decided: number, tentative: number, blocksDat: number): VerifyReport =>
    ({ ok: firstBad === null, decided, tentative, blocksDat, firstBad, notes, ms: Date.now() - t0 });

  // ---- blocks.dat ----
  const bd = verifyBlocksDat(path.join(dir, 'blocks.dat'), tick, notes);
  if (bd.bad) return report(bd.bad, 0, 0, bd.count);

  // ---- chain.log ----
  const file = path.join(dir, 'chain.log');
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return report({ file: 'chain.log', depth: null, reason: `cannot open it: ${(e as Error).message}` }, 0, 0, bd.count);
  }
  try {
    const size = fileDataEnd(fd, fs.fstatSync(fd).size); // (without a running node's zero fill)
    let s = new DurableState();
    let verified = 0;
    let head = GENESIS_POINTER;
    let atBlocksEnd: string | null = bd.end === 0 ? GENESIS_POINTER : null;
    let index = 0;
    // The checkpoints' dictionaries and sessions are checked against the chain's as it is replayed.
    const ckpts = readCheckpoints(dir, notes);
    let sm: StateMachine | null = new StateMachine();
    /** Checks decided blocks verified..upTo and drops them from memory. */
    const settle = (upTo: number): VerifyReport['firstBad'] => {
      if (upTo <= verified) return null;
      const blocks = s.range(verified, upTo, Infinity, Infinity, () => 0);
      const check = verifyChain(blocks, head, verified);
      if (!check.ok) return { file: 'chain.log', depth: check.depth, reason: check.reason };
      for (let i = 0; i < blocks.length; i++) {
        const b = blocks[i];
        if (!sm) continue;
        sm.apply(b);
        const c = ckpts.get(sm.applied);
        if (!c) continue;
        const why = blockHash(b) !== c.ckpt.anchor ? 'its anchor is not the block at its depth'
          : !sameEntries([...sm.dict].sort(byKey), [...c.ckpt.dict].sort(byKey)) ? 'its dictionary is not the decided chain\'s'
            : !sameEntries([...sm.sessions], c.ckpt.sessions) ? 'its request-dedupe sessions are not the decided chain\'s' : null;
        if (why) return { file: c.name, depth: c.ckpt.depth, reason: why };
        c.checked = true;
      }
      if (bd.end > verified && bd.end <= upTo) atBlocksEnd = s.hash(bd.end - 1);
      head = check.head;
      verified = upTo;
      s.compact(upTo, NONE);
      return null;
    };
    const gen = chunks(fd, size);
    let used = 0;
    for (let step = gen.next(0); !step.done; step = gen.next(used)) {
      const { buf, at, last } = step.value;
      let off = 0;
      while (off < buf.length) {
        const nl = buf.indexOf(0x0a, off);
        if (nl < 0 && !last) {
          if (buf.length - off > MAX_RECORD_BYTES) return report({ file: 'chain.log', depth: null, reason: `record ${index} at byte ${at + off} has no end within ${MAX_RECORD_BYTES} bytes` }, s.commit, s.end - s.commit, bd.count);
          break; // the record goes on in the next chunk
        }
        const p = parseAt(buf, off);
        if (!p.ok) {
          const rest = buf.subarray(off);
          if (last && (nl < 0 || dataEnd(buf.subarray(nl + 1)) === 0)) {
            notes.push(`chain.log: a torn last record at byte ${at + off} (${p.reason}): a crash, or a write in progress; a node start cuts it`);
            off = buf.length;
            break;
          }
          if (rest.subarray(0, p.next - off).includes(0)) {
            notes.push(`chain.log: zeros at byte ${at + off} (a crash's unwritten pages); a node start cuts the log there`);
            off = buf.length;
            break;
          }
          return report({ file: 'chain.log', depth: null, reason: `record ${index} at byte ${at + off} is damaged (${p.reason})` }, s.commit, s.end - s.commit, bd.count);
        }
        if (isCoreRecord(p.value)) {
          const misfit = s.misfit(p.value);
          if (misfit) return report({ file: 'chain.log', depth: null, reason: `record ${index} at byte ${at + off} does not fit the chain before it (${misfit})` }, s.commit, s.end - s.commit, bd.count);
          const rec = p.value;
          if (rec.t === 'install' && rec.depth > s.commit) {
            // A peer's checkpoint installed: the blocks below it are not in chain.log (blocks.dat
            // gets them by backfill); the state machine goes on from the installed checkpoint.
            const bad = settle(s.commit);
            if (bad) return report(bad, s.commit, 0, bd.count);
            s.apply(rec);
            verified = rec.depth;
            head = rec.anchor;
            const c = ckpts.get(rec.depth);
            sm = c && c.ckpt.anchor === rec.anchor ? checkpointStateMachine(c.ckpt) : null;
            if (c) c.checked = true;
            notes.push(`chain.log: installed a peer's checkpoint at depth ${rec.depth} (record ${index}); ${sm ? 'the dictionary is checked from it on' : 'its file is gone: the dictionaries of later checkpoints are not checked'}`);
          } else {
            s.apply(rec);
          }
        }
        index++;
        off = p.next;
        if (s.commit - verified >= VERIFY_STEP_BLOCKS) {
          const bad = settle(s.commit);
          if (bad) return report(bad, s.commit, 0, bd.count);
        }
      }
      used = off;
      tick({ file: 'chain.log', bytes: at + off, total: size, blocks: s.commit });
      if (last) break;
    }
    const bad = settle(s.commit);
    if (bad) return report(bad, s.commit, 0, bd.count);
    const tentative = s.end - s.commit;
    const tail = verifyChain(s.suffixFrom(s.commit), s.headHash(s.commit), s.commit);
    if (!tail.ok) return report({ file: 'chain.log', depth: tail.depth, reason: `tentative: ${tail.reason}` }, s.commit, tentative, bd.count);
    if (bd.end > s.commit) {
      return report({ file: 'blocks.dat', depth: s.commit, reason: `it holds blocks up to ${bd.end - 1}, chain.log decided only ${s.commit}` }, s.commit, tentative, bd.count);
    }
    if (bd.end > 0 && atBlocksEnd !== bd.lastHash) {
      return report({ file: 'blocks.dat', depth: bd.end - 1, reason: `block ${bd.end - 1} (${short(bd.lastHash!)}) is not chain.log's (${short(atBlocksEnd ?? '?')})` }, s.commit, tentative, bd.count);
    }
    for (const [depth, c] of ckpts) {
      if (!c.checked) notes.push(`${c.name}: not checked (depth ${depth} is beyond the decided chain ${verified}: chain.log was cut, or replaced)`);
    }
    s = new DurableState(); // (nothing kept)
    return report(null, verified, tentative, bd.count);
  } finally {
    fs.closeSync(fd);
  }
}

const byKey = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
const sameEntries = (a: readonly unknown[], b: readonly unknown[]) => JSON.stringify(a) === JSON.stringify(b);

/** The folder's checkpoints that decode (a damaged one is a note: a node start passes over it too). */
function readCheckpoints(dir: string, notes: string[]): Map<number, { name: string; ckpt: Checkpoint; checked: boolean }> {
  const out = new Map<number, { name: string; ckpt: Checkpoint; checked: boolean }>();
  const files = new FsCheckpointDir(dir);
  for (const name of files.list().filter((n) => /^checkpoint-[0-9]+\.ckpt$/.test(n))) {
    const buf = files.read(name, MAX_CHECKPOINT_BYTES);
    const c = buf ? decodeCheckpoint(buf) : 'unreadable or too large';
    if (typeof c === 'string') notes.push(`${name}: cannot be used (${c}); a node start passes over it`);
    else out.set(c.depth, { name, ckpt: c, checked: false });
  }
  return out;
}

/**
 * blocks.dat record by record: framing, checksum, depth, hash pointers, proof of work. After an
 * install the file may hold one hole (store/block-file.ts): blocks on top of the part above it
 * must link to the one below, backfilled ones must hash to the pointer of the block above them,
 * and the one that closes the hole must link to the block below it. A hole is not damage: it is
 * reported as the range still being backfilled.
 */
function verifyBlocksDat(file: string, tick: (p: VerifyProgress) => void, notes: string[]): { count: number; end: number; lastHash: string | null; bad: VerifyReport['firstBad'] } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    notes.push('blocks.dat: none (a node writes it from its chain)');
    return { count: 0, end: 0, lastHash: null, bad: null };
  }
  // Held: [0, count) and [upper, top); countHash: hash of block count-1; topHash: of block top-1;
  // upperPointer: the hash pointer of block `upper` (what the next backfilled block must hash to).
  let count = 0;
  let upper = 0;
  let top = 0;
  let countHash = GENESIS_POINTER;
  let topHash = GENESIS_POINTER;
  let upperPointer = '';
  const result = (bad: VerifyReport['firstBad']) => {
    if (!bad && upper > count) notes.push(`blocks.dat: blocks ${count}..${upper - 1} are not held yet: being backfilled from peers below an installed checkpoint (the ${count + top - upper} blocks held verify)`);
    return { count: count + (upper > count ? top - upper : 0), end: top, lastHash: top ? topHash : null, bad };
  };
  try {
    const size = fileDataEnd(fd, fs.fstatSync(fd).size); // (without a running node's zero fill)
    const gen = chunks(fd, size);
    let used = 0;
    for (let step = gen.next(0); !step.done; step = gen.next(used)) {
      const { buf, at, last } = step.value;
      let off = 0;
      while (off < buf.length) {
        const nl = buf.indexOf(0x0a, off);
        if (nl < 0 && !last) {
          if (buf.length - off > MAX_RECORD_BYTES) return result({ file: 'blocks.dat', depth: top, reason: `record at byte ${at + off} has no end within ${MAX_RECORD_BYTES} bytes` });
          break;
        }
        const line = buf.subarray(off, nl < 0 ? buf.length : nl);
        const m = /^([0-9]{1,9}) ([0-9a-f]{8}) /.exec(line.subarray(0, 20).toString('latin1'));
        const body = m ? line.subarray(m[0].length) : null;
        let why: string | null = null;
        let block: Block | null = null;
        let depth = -1;
        if (!m || !body || Number(m[1]) > MAX_BLOCK_RECORD_BYTES) why = 'bad record header';
        else if (nl < 0 || body.length !== Number(m[1])) why = 'record cut short';
        else if ((crc32(body) >>> 0).toString(16).padStart(8, '0') !== m[2]) why = 'checksum mismatch';
        else {
          try {
            const v = JSON.parse(body.toString('utf8')) as { d?: unknown; b?: Block };
            block = v.b ?? null;
            depth = typeof v.d === 'number' && Number.isSafeInteger(v.d) ? v.d : -1;
            const hole = upper > count;
            if (depth === top || (!hole && depth > top) || (hole && depth === upper - 1 && depth >= count)) why = null;
            else why = `it holds depth ${String(v.d)} where ${hole ? `${top} (or the backfilled ${upper - 1})` : `${top}`} belongs`;
          } catch {
            why = 'not JSON';
          }
        }
        if (why) {
          const torn = last && (nl < 0 || line.includes(0) || dataEnd(buf.subarray(off)) <= nl - off + 1);
          if (torn) {
            notes.push(`blocks.dat: a torn tail after block ${top - 1} (${why}): a crash; a node start cuts it and writes it again`);
            return result(null);
          }
          return result({ file: 'blocks.dat', depth: depth >= 0 ? depth : top, reason: `record at byte ${at + off}: ${why}` });
        }
        const b = block!;
        const own = verifyChain([b], b.hashPointer, depth); // (proof of work, a put's value)
        if (!own.ok) return result({ file: 'blocks.dat', depth, reason: own.reason });
        const h = blockHash(b);
        const hole = upper > count;
        if (depth === top && b.hashPointer !== (top === 0 ? GENESIS_POINTER : topHash)) {
          return result({ file: 'blocks.dat', depth, reason: `hash pointer ${short(b.hashPointer)} does not match the block below (${short(top === 0 ? GENESIS_POINTER : topHash)})` });
        }
        if (depth >= top) {
          if (depth > top) { // the first block above a new hole (an install): its pointer is checked by the backfill that reaches it
            upper = depth;
            upperPointer = b.hashPointer;
          } else if (!hole) {
            count = upper = depth + 1;
            countHash = h;
          }
          top = depth + 1;
          topHash = h;
        } else {
          if (h !== upperPointer) return result({ file: 'blocks.dat', depth, reason: `backfilled block ${short(h)} does not hash to the pointer of block ${upper} (${short(upperPointer)})` });
          upper = depth;
          upperPointer = b.hashPointer;
          if (upper === count) {
            if (b.hashPointer !== countHash) return result({ file: 'blocks.dat', depth, reason: `hash pointer ${short(b.hashPointer)} does not match block ${count - 1} (${short(countHash)})` });
            count = upper = top;
            countHash = topHash;
          }
        }
        off = nl + 1;
      }
      used = off;
      tick({ file: 'blocks.dat', bytes: at + off, total: size, blocks: count });
      if (last) break;
    }
    return result(null);
  } finally {
    fs.closeSync(fd);
  }
}

/** The report as console lines (notes, then ok or BAD naming the first bad block). */
export function verifyText(r: VerifyReport): string {
  const what = `${r.decided} decided block(s), ${r.tentative} tentative; blocks.dat ${r.blocksDat} block(s); ${r.ms} ms`;
  const lines = r.notes.map((n) => `note: ${n}`);
  if (r.firstBad) lines.push(`BAD: ${r.firstBad.file}${r.firstBad.depth !== null ? ` block ${r.firstBad.depth}` : ''}: ${r.firstBad.reason} (verified up to there: ${what})`);
  else lines.push(`ok: ${what}: every hash pointer, proof of work and checksum verifies`);
  return lines.join('\n');
}
