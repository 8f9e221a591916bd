/**
 * The byte-level storage under the record log. `FileDisk` is the real one; `MemDisk` is the
 * simulator's, which keeps synced and unsynced bytes apart so a crash can lose (or tear) what
 * was never fsynced — exactly what a real power cut may do.
 */
import * as fs from 'node:fs';

export interface Disk {
  /** Everything currently stored. */
  readAll(): Buffer;
  append(data: Buffer): void;
  /** Durable from here on (fsync). */
  sync(): void;
  /** Cut the file to `length` bytes (used to drop a torn tail), durably. */
  truncate(length: number): void;
  close(): void;
}

export class FileDisk implements Disk {
  private fd: number;
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'a+');
  }
  readAll(): Buffer {
    return fs.readFileSync(this.path);
  }
  append(data: Buffer): void {
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
  }
  sync(): void {
    fs.fdatasyncSync(this.fd);
  }
  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
    fs.fsyncSync(this.fd);
  }
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export class MemDisk implements Disk {
  private synced: Buffer = Buffer.alloc(0);
  private pending: Buffer[] = [];
  readAll(): Buffer {
    return Buffer.concat([this.synced, ...this.pending]);
  }
  append(data: Buffer): void {
    this.pending.push(Buffer.from(data));
  }
  sync(): void {
    this.synced = this.readAll();
    this.pending = [];
  }
  truncate(length: number): void {
    this.synced = this.readAll().subarray(0, length);
    this.pending = [];
  }
  close(): void {}
  /** Bytes written but not yet synced. */
  get unsyncedBytes(): number {
    return this.pending.reduce((n, b) => n + b.length, 0);
  }
  /** A crash: unsynced bytes are lost, except a prefix of `keep` of them (a torn write). */
  crash(keep: number): void {
    const unsynced = Buffer.concat(this.pending);
    this.synced = Buffer.concat([this.synced, unsynced.subarray(0, Math.max(0, Math.min(keep, unsynced.length)))]);
    this.pending = [];
  }
}
