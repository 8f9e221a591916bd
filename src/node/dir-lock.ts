/**
 * One node process per data folder. Two processes writing one chain.log would overwrite each
 * other's records, and the second one's start-up repair (cutting what looks like a torn tail)
 * would cut the first one's write in progress. The lock is a file holding the owner's pid: a
 * lock whose process is gone (a crash, `failProcess`) or a zombie (exited, not yet reaped) is
 * taken over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export class DirLock {
  private constructor(private readonly file: string) {}

  /** Takes the folder's lock, or throws a one-line explanation naming the process that holds it. */
  static take(dir: string): DirLock {
    const file = path.join(dir, 'LOCK');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
        return new DirLock(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new Error(`${dir} is in use by another process (pid ${owner}); stop it first (if no chainkv node runs there, delete ${file})`);
      }
      fs.rmSync(file, { force: true }); // left by a process that is gone
    }
    throw new Error(`cannot take the lock ${file}: another process keeps creating it`);
  }

  release(): void {
    fs.rmSync(this.file, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: exists, owned by someone else
  }
  // A zombie (exited, not yet reaped by its parent) still answers kill(pid, 0) but writes nothing.
  return processState(pid) !== 'Z';
}

/** The one-letter state of a process from /proc/PID/stat (R, S, D, Z, ...), or null if unknown. */
export function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may contain spaces and parentheses; the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || null;
  } catch {
    return null; // not Linux, or gone: kill() already answered
  }
}
