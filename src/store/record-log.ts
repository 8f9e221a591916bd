/**
 * An append-only file of checksummed records, one per line:
 *
 *     <length> <crc32-hex> <json>\n
 *
 * `length` is the byte length of the JSON. A record that is incomplete or fails its checksum
 * at the end of the file is a torn write from a crash: it is reported and cut off. So is a bad
 * record with a zero byte in it, wherever it is: records never contain one, and the file is
 * written into zero fill (see disk.ts), so zeros among records are pages that a crash kept from
 * reaching the disk; fsynced data is a prefix without holes, so everything from there on was
 * never fsynced, and never acknowledged. Any other bad record followed by good ones is
 * corruption or tampering: loading reports it and stops there.
 */
import { crc32 } from 'node:zlib';
import { Disk } from './disk';

export function encodeRecord(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const crc = (crc32(json) >>> 0).toString(16).padStart(8, '0');
  return Buffer.concat([Buffer.from(`${json.length} ${crc} `, 'ascii'), json, Buffer.from('\n', 'ascii')]);
}

export interface LoadedLog<T> {
  records: T[];
  /** Byte length of the intact prefix (everything in `records`). */
  goodBytes: number;
  /** A damaged last record (crash mid-write), if any: bytes after `goodBytes`. */
  tornTail: { offset: number; bytes: number; reason: string } | null;
  /** A damaged record with intact records after it: the file was altered. */
  corrupt: { offset: number; index: number; reason: string; recordsAfter: T[] } | null;
}

export type Parsed = { ok: true; value: unknown; next: number } | { ok: false; reason: string; next: number };

/** The record at `off` of `buf` (checked: header, length, checksum, JSON), and where the next one starts. */
export function parseAt(buf: Buffer, off: number): Parsed {
  const nl = buf.indexOf(0x0a, off);
  const lineEnd = nl < 0 ? buf.length : nl;
  const next = nl < 0 ? buf.length : nl + 1;
  const line = buf.subarray(off, lineEnd);
  const m = /^([0-9]{1,9}) ([0-9a-f]{8}) /.exec(line.subarray(0, 20).toString('latin1'));
  if (!m) return { ok: false, reason: 'bad record header', next };
  const len = Number(m[1]);
  const body = line.subarray(m[0].length);
  if (nl < 0) return { ok: false, reason: 'record not terminated (torn write)', next };
  if (body.length !== len) return { ok: false, reason: `record length ${body.length} != ${len}`, next };
  if ((crc32(body) >>> 0).toString(16).padStart(8, '0') !== m[2]) return { ok: false, reason: 'checksum mismatch', next };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')), next };
  } catch {
    return { ok: false, reason: 'record is not JSON', next };
  }
}

export function loadRecords<T>(buf: Buffer, accept: (v: unknown) => v is T): LoadedLog<T> {
  const records: T[] = [];
  let off = 0;
  while (off < buf.length) {
    const p = parseAt(buf, off);
    const bad = !p.ok ? p.reason : accept(p.value) ? null : 'unknown record type';
    if (bad === null) {
      records.push((p as { value: T }).value);
      off = p.next;
      continue;
    }
    if (buf.subarray(off, p.next).includes(0)) {
      return { records, goodBytes: off, tornTail: { offset: off, bytes: buf.length - off, reason: `${bad}, with bytes the disk never wrote (zeros)` }, corrupt: null };
    }
    // Is anything intact after it? Then this is not a torn tail but an altered file.
    const after: T[] = [];
    for (let o = p.next; o < buf.length; ) {
      const q = parseAt(buf, o);
      if (q.ok && accept(q.value)) after.push(q.value);
      o = q.next;
    }
    if (after.length === 0) return { records, goodBytes: off, tornTail: { offset: off, bytes: buf.length - off, reason: bad }, corrupt: null };
    return { records, goodBytes: off, tornTail: null, corrupt: { offset: off, index: records.length, reason: bad, recordsAfter: after } };
  }
  return { records, goodBytes: off, tornTail: null, corrupt: null };
}

/** Appends records to a disk; `flush` writes them in one go and fsyncs when asked. */
export class RecordLog {
  constructor(private readonly disk: Disk) {}

  appendAll(values: readonly unknown[], sync: boolean): void {
    if (values.length > 0) this.disk.append(Buffer.concat(values.map(encodeRecord)));
    if (sync) this.disk.sync();
  }
}
