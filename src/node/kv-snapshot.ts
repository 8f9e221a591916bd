/**
 * The key-value store on disk (spec 2.2: "executed on the key-value store (on disk too)").
 *
 * The decided chain is the source of truth; `kv.json` is its materialised view
 * `{ depth, data }`, replaced atomically (write to a temp file, fsync, rename) at most every
 * `SAVE_EVERY_MS` while blocks are being decided, and on a clean stop. On start the node
 * rebuilds the dictionary from the chain and compares: a mismatch is reported, never trusted.
 */
import * as fs from 'node:fs';

const SAVE_EVERY_MS = 1000;

export class KvSnapshot {
  private dirty = false;
  private lastSave = 0;

  constructor(readonly path: string) {}

  markDirty(): void {
    this.dirty = true;
  }

  /** Saves if due; returns why it could not (a full disk, say), else null. It is tried again later. */
  maybeSave(dict: ReadonlyMap<string, string>, depth: number): string | null {
    if (!this.dirty || Date.now() - this.lastSave < SAVE_EVERY_MS) return null;
    try {
      this.save(dict, depth);
      return null;
    } catch (e) {
      this.lastSave = Date.now();
      return (e as Error).message;
    }
  }

  save(dict: ReadonlyMap<string, string>, depth: number): void {
    const tmp = `${this.path}.tmp`;
    const data: Record<string, string> = {};
    for (const [k, v] of [...dict].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) data[k] = v;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify({ depth, data }, null, 1) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.path);
    this.dirty = false;
    this.lastSave = Date.now();
  }

  /** Null if kv.json matches the dictionary rebuilt from the chain (at its depth), else what differs. */
  compare(dict: ReadonlyMap<string, string>, depth: number): string | null {
    let raw: string;
    try {
      raw = fs.readFileSync(this.path, 'utf8');
    } catch {
      return depth > 0 ? 'kv.json is missing' : null;
    }
    let parsed: { depth?: unknown; data?: unknown };
    try {
      parsed = JSON.parse(raw);
    } catch {
      return 'kv.json is not valid JSON';
    }
    if (parsed.depth !== depth) return `kv.json reflects depth ${String(parsed.depth)}, the chain is decided to ${depth}`;
    const data = (parsed.data ?? {}) as Record<string, unknown>;
    const keys = Object.keys(data);
    if (keys.length !== dict.size) return `kv.json has ${keys.length} keys, the chain gives ${dict.size}`;
    for (const k of keys) if (dict.get(k) !== data[k]) return `kv.json disagrees with the chain on key ${JSON.stringify(k)}`;
    return null;
  }
}
