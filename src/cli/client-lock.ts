/**
 * One process per client identity and cluster. Two processes both calling themselves C1 number
 * their requests independently, and the nodes refuse the lower numbers as stale retries: the
 * older C1 would be silently starved. So a client takes a lock for its name and its cluster (the
 * nodes' endpoints) and a second one is refused with a clear message. The lock is a file with
 * the owner's pid (as the node's data folder LOCK); a lock whose process is gone is taken over.
 * It is local to this machine, which is where the spec's clients run.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClusterConfig, endpointUrl } from '../config';
import { DirLock } from '../node/dir-lock';

export function clientLockDir(id: string, config: ClusterConfig, root = path.join(os.tmpdir(), 'chainkv-clients')): string {
  const cluster = crypto.createHash('sha256').update(config.nodes.map(endpointUrl).join(' ')).digest('hex').slice(0, 16);
  return path.join(root, `${cluster}-${id}`);
}

/** Takes the lock, or throws a one-line explanation naming the process that holds it. */
export function takeClientLock(id: string, config: ClusterConfig, root?: string): { release(): void } {
  const dir = clientLockDir(id, config, root);
  fs.mkdirSync(dir, { recursive: true });
  try {
    const lock = DirLock.take(dir);
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        lock.release();
        try {
          fs.rmdirSync(dir); // the folder too, unless another process took it meanwhile
        } catch { /* not empty or gone: fine */ }
      },
    };
  } catch (e) {
    const pid = /\(pid ([0-9]+)\)/.exec((e as Error).message)?.[1];
    if (!pid) throw e;
    throw new Error(`${id} is already in use by another client process (pid ${pid}) of this cluster; two ${id}s would starve each other's requests. Stop that one, or use another client number`);
  }
}
