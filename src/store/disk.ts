/**
 * The byte-level storage under the record log. `FileDisk` is the real one; `MemDisk` is the
 * simulator's, which keeps synced and unsynced bytes apart so a crash can lose (or tear) what
 * was never fsynced — exactly what a real power cut may do.
 */
import * as fs from 'node:fs';

export interface Disk {
  /** Everything currently stored. */
  readAll(): Buffer;
  /** Bytes of data stored. */
  size(): number;
  /** `length` bytes from `offset` (fewer at the end of the data). */
  read(offset: number, length: number): Buffer;
  append(data: Buffer): void;
  /** Durable from here on (fsync). */
  sync(): void;
  /** Cut the file to `length` bytes (used to drop a torn tail), durably. */
  truncate(length: number): void;
  close(): void;
  /** Why the last write or sync failed, if that left a mark (e.g. the disk was full), else null. */
  lastFailure?(): string | null;
  /** Forgets that mark (once the log has been repaired on load). */
  clearFailure?(): void;
}

/**
 * Space is added to the file ahead of the data, in zero-filled steps of this size. An fdatasync
 * after writing into space that is already allocated and durable only flushes the data; after an
 * append that grows the file, ext4 also commits its journal for the new size. Measured here
 * (256 B writes): 0.09 vs 0.13 ms alone, 0.13 vs 0.18 ms with three processes on one disk, and
 * about a third less CPU per fsync.
 */
const GROW_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * Where the data in a file ends: after its last non-zero byte. Records never contain a zero
 * byte (JSON escapes control characters), so the zero fill after them is never data. Unlike an
 * append, a write into the fill has no ordering between its pages, so a crash before the fsync
 * can leave a lost page as zeros between written ones; the record log treats a damaged record
 * with zeros in it as a torn write and cuts the file there.
 */
export function dataEnd(buf: Uint8Array): number {
  let i = buf.length;
  while (i > 0 && buf[i - 1] === 0) i--;
  return i;
}

/** The records of a chain.log that a running node may be writing, without its zero fill (read only). */
export function readLogData(file: string): Buffer {
  const raw = fs.readFileSync(file);
  return raw.subarray(0, dataEnd(raw));
}

/** Where the data of an open file of `size` bytes ends: read backwards only through its zero fill. */
export function fileDataEnd(fd: number, size: number): number {
  const chunk = Buffer.alloc(64 * 1024);
  for (let pos = size; pos > 0; ) {
    const start = Math.max(0, pos - chunk.length);
    const n = fs.readSync(fd, chunk, 0, pos - start, start);
    const e = dataEnd(chunk.subarray(0, n));
    if (e > 0) return start + e;
    pos = start;
  }
  return 0;
}

export class FileDisk implements Disk {
  private fd: number;
  /** Bytes of data; the file is zero-filled from here to `size`. */
  private end: number;
  private fileSize: number;
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    this.fileSize = fs.fstatSync(this.fd).size;
    this.end = this.findEnd();
  }
  private findEnd(): number {
    return fileDataEnd(this.fd, this.fileSize);
  }
  readAll(): Buffer {
    return this.read(0, this.end);
  }
  size(): number {
    return this.end;
  }
  read(offset: number, length: number): Buffer {
    const len = Math.max(0, Math.min(length, this.end - offset));
    const buf = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const n = fs.readSync(this.fd, buf, off, len - off, offset + off);
      if (n === 0) break; // shortened by someone else since we opened it
      off += n;
    }
    return buf.subarray(0, off);
  }
  append(data: Buffer): void {
    if (this.end + data.length > this.fileSize) this.grow(this.end + data.length + GROW_BYTES);
    try {
      for (let off = 0; off < data.length; ) off += fs.writeSync(this.fd, data, off, data.length - off, this.end + off);
    } catch (e) {
      this.markFailure(e);
      throw e;
    }
    this.end += data.length;
    this.fileSize = Math.max(this.fileSize, this.end);
  }
  /**
   * The file next to the log that records a write that failed because the disk was full: the
   * next start then says so instead of blaming a crash. An empty file, so creating it needs no
   * free block (only an inode); best effort.
   */
  get failureMarker(): string {
    return `${this.path}.DISK-FULL`;
  }
  private markFailure(e: unknown): void {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') return;
    try {
      fs.closeSync(fs.openSync(this.failureMarker, 'w'));
    } catch { /* nothing more can be done on a full disk */ }
  }
  lastFailure(): string | null {
    try {
      const st = fs.statSync(this.failureMarker);
      return `the disk was full (ENOSPC) at ${st.mtime.toISOString()}`;
    } catch {
      return null;
    }
  }
  clearFailure(): void {
    fs.rmSync(this.failureMarker, { force: true });
  }
  /**
   * Zero-fills the file up to `size` (made durable by the next sync, with the data written into
   * it). Best effort: on a nearly full disk it fills what fits and the data is written anyway.
   */
  private grow(size: number): void {
    try {
      while (this.fileSize < size) this.fileSize += fs.writeSync(this.fd, ZEROS, 0, Math.min(ZEROS.length, size - this.fileSize), this.fileSize);
    } catch {
      // No room for the fill: the data write that follows says whether there is room for the data.
    }
  }
  sync(): void {
    try {
      fs.fdatasyncSync(this.fd);
    } catch (e) {
      this.markFailure(e);
      throw e;
    }
  }
  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
    fs.fsyncSync(this.fd);
    this.end = this.fileSize = length;
  }
  /** Closes without touching the file (not even its zero fill): for a log refused at start. */
  closeUntouched(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
  /** A clean close leaves no zero fill behind. */
  close(): void {
    if (this.fd < 0) return;
    if (this.fileSize > this.end) fs.ftruncateSync(this.fd, this.end);
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export class MemDisk implements Disk {
  private synced: Buffer = Buffer.alloc(0);
  private pending: Buffer[] = [];
  /** Writes ever appended; the first `written - pending.length` of them are synced. */
  private written = 0;
  /** readAll's result until the next change (the simulator reads single blocks often). */
  private view: Buffer | null = null;
  readAll(): Buffer {
    this.view ??= Buffer.concat([this.synced, ...this.pending]);
    return this.view;
  }
  size(): number {
    return this.readAll().length;
  }
  read(offset: number, length: number): Buffer {
    return this.readAll().subarray(offset, offset + length);
  }
  append(data: Buffer): void {
    this.view = null;
    this.pending.push(Buffer.from(data));
    this.written++;
  }
  sync(): void {
    this.synced = this.readAll();
    this.pending = [];
  }
  /** Names the writes so far, for `syncTo`: an fsync covers what was written before it started. */
  mark(): number {
    return this.written;
  }
  /** Makes the writes up to `mark` durable (not those appended after it). */
  syncTo(mark: number): void {
    const n = Math.min(this.pending.length, mark - (this.written - this.pending.length));
    if (n <= 0) return;
    this.synced = Buffer.concat([this.synced, ...this.pending.slice(0, n)]);
    this.pending = this.pending.slice(n);
  }
  truncate(length: number): void {
    this.synced = this.readAll().subarray(0, length);
    this.pending = [];
    this.view = null;
  }
  close(): void {}
  /** Bytes written but not yet synced. */
  get unsyncedBytes(): number {
    return this.pending.reduce((n, b) => n + b.length, 0);
  }
  /**
   * A crash: unsynced bytes are lost, except a prefix of `keep` of them (a torn write). Within
   * that prefix, `holes` ([offset, length]) read back as zeros: pages the disk never wrote, in a
   * file written into zero fill as FileDisk does. Zeros at the end are fill, not data.
   */
  crash(keep: number, holes: readonly [number, number][] = []): void {
    const kept = Buffer.from(Buffer.concat(this.pending).subarray(0, Math.max(0, keep)));
    for (const [off, len] of holes) kept.fill(0, Math.min(off, kept.length), Math.min(off + len, kept.length));
    this.synced = Buffer.concat([this.synced, kept.subarray(0, dataEnd(kept))]);
    this.pending = [];
    this.view = null;
  }
}
