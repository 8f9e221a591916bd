/**
 * The simulator's checkpoint folder: files in memory, written the way `FsCheckpointDir` writes
 * them (temp file, fsync, rename, fsync of the folder), with crash points inside that sequence
 * and the damage a disk can do to a file at rest.
 */
import { CheckpointDir } from '../store/checkpoint';
import { Prng } from './prng';

/** Where an armed checkpoint write dies: while writing the temp file, or after the rename but before the folder's fsync. */
export type CheckpointCrash = 'ckpt-write' | 'ckpt-rename';

export class MemCheckpointDir implements CheckpointDir {
  private files = new Map<string, Buffer>();
  /** A rename not yet made durable by the folder's fsync: what the name held before it. */
  private unsyncedRename: { name: string; before: Buffer | undefined; tmp: Buffer } | null = null;
  /** Dies at the named point of the next write (the sim node arms it; `die` throws its NodeDies). */
  armed: CheckpointCrash | null = null;

  constructor(private readonly die: (why: string) => never, private readonly tear: Prng) {}

  list(): string[] {
    return [...this.files.keys()];
  }
  read(name: string, maxBytes: number): Buffer | null {
    const b = this.files.get(name);
    return b && b.length <= maxBytes ? b : null;
  }
  writeAtomic(name: string, data: Buffer): void {
    const tmp = `${name}.tmp`;
    if (this.armed === 'ckpt-write') {
      this.armed = null;
      this.files.set(tmp, data.subarray(0, this.tear.int(0, data.length - 1))); // (a crash keeps some of an unsynced write)
      this.die(`crash while writing ${tmp}`);
    }
    if (this.armed === 'ckpt-rename') {
      this.armed = null;
      this.unsyncedRename = { name, before: this.files.get(name), tmp: data };
      this.files.set(name, data);
      this.die(`crash after renaming ${tmp} to ${name}, before the folder's fsync`);
    }
    this.files.set(name, data);
  }
  remove(name: string): void {
    this.files.delete(name);
  }

  /** A crash: a rename the folder's fsync did not cover may be undone (the temp file is then back). */
  crash(): void {
    const r = this.unsyncedRename;
    this.unsyncedRename = null;
    if (!r || this.tear.chance(0.5)) return;
    if (r.before) this.files.set(r.name, r.before);
    else this.files.delete(r.name);
    this.files.set(`${r.name}.tmp`, r.tmp);
  }

  /** Damage at rest to the newest checkpoint: a flipped byte, or a file cut short. Returns what was done. */
  damageNewest(r: Prng): string | null {
    const newest = [...this.files.keys()].filter((n) => n.endsWith('.ckpt')).sort().pop();
    if (!newest) return null;
    const b = Buffer.from(this.files.get(newest)!);
    if (r.chance(0.5)) {
      const at = r.int(0, b.length - 1);
      b[at] ^= 1 << r.int(0, 7);
      this.files.set(newest, b);
      return `flipped a bit at byte ${at} of ${newest}`;
    }
    const keep = r.int(0, b.length - 1);
    this.files.set(newest, b.subarray(0, keep));
    return `cut ${newest} to ${keep} of its ${b.length} bytes`;
  }
}
