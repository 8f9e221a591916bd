/**
 * Child processes of the benchmark and their cleanup: every process started is registered,
 * and all are killed (SIGTERM, then SIGKILL) and the temp dir removed at the end — on success,
 * on error and on Ctrl-C / SIGTERM / SIGHUP.
 */
import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const live = new Set<ChildProcess>();
const tempDirs: string[] = [];
let cleaning: Promise<void> | null = null;

export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, opts);
  live.add(child);
  child.on('exit', () => live.delete(child));
  child.on('error', () => live.delete(child));
  return child;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when `child` has exited (at once if it already has). */
export function waitExit(child: ChildProcess, timeoutMs = Infinity): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = Number.isFinite(timeoutMs) ? setTimeout(() => resolve(false), timeoutMs) : null;
    child.once('exit', () => {
      if (t) clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (await waitExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitExit(child, 2000);
}

export function makeTempDir(prefix: string, parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  tempDirs.push(dir);
  return dir;
}

export function keepTempDirs(): void {
  tempDirs.length = 0;
}

/** Kills every live child and removes the temp dirs. Safe to call more than once. */
export function cleanupAll(): Promise<void> {
  if (!cleaning) {
    cleaning = (async () => {
      await Promise.all([...live].map((c) => stopProcess(c, 1000)));
      for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    })();
  }
  return cleaning;
}

/** Synchronous last resort (process 'exit'): SIGKILL whatever is still alive. */
function killAllNow(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const d of tempDirs.splice(0)) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

let installed = false;

/** Ctrl-C and friends: stop everything, then exit 130 (or 143). */
export function installSignalCleanup(onSignal?: (sig: string) => void): void {
  if (installed) return;
  installed = true;
  const handler = (sig: NodeJS.Signals) => {
    onSignal?.(sig);
    void cleanupAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  process.once('SIGHUP', handler);
  process.on('exit', killAllNow);
}
