/**
 * What a node checks before it starts, so that a start that cannot work fails with one line
 * saying what to do, and a start that fails anyway leaves nothing behind (no LOCK, no kv.json,
 * no empty folder).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Endpoint } from '../config';

/** Can this process listen on the node's host:port? null if so, else why not and what to do. */
export function checkListen(e: Endpoint, source: string): Promise<string | null> {
  const host = e.host === 'localhost' ? '127.0.0.1' : e.host;
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `[${e.name}] ${e.host}:${e.port} in ${source}`;
      if (err.code === 'EADDRINUSE') resolve(`${where}: the port is already in use by another process (another node on the same port, or ${e.name} already running); stop it or change the port`);
      else if (err.code === 'EADDRNOTAVAIL') resolve(`${where}: ${e.host} is not an address of this machine; use 127.0.0.1 or one of this machine's addresses`);
      else if (err.code === 'EACCES') resolve(`${where}: not allowed to listen on port ${e.port} (ports below 1024 need privileges); use a port above 1024`);
      else resolve(`${where}: cannot listen (${err.code ?? err.message})`);
    });
    server.listen({ host, port: e.port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

const WHY: Record<string, string> = {
  EACCES: 'permission denied', EROFS: 'read-only file system', ENOENT: 'a parent folder is missing',
  ENOTDIR: 'a part of the path is a file', ENOSPC: 'no space left on the device', EEXIST: 'a file of that name exists',
};

/** What was in the data folder before the start: so a failed start can undo exactly what it created. */
export interface DataDirState {
  dir: string;
  /** Folders this start creates (the data folder and any missing parents), deepest last. */
  createdDirs: string[];
  /** Files that existed before. */
  existing: Set<string>;
}

/** Creates the data folder (if needed) and checks it is writable; throws a one-line Error if not. */
export function prepareDataDir(dir: string): DataDirState {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let d = abs; !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  const state: DataDirState = { dir: abs, createdDirs: missing, existing: new Set() };
  const fail = (what: string, e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    undoStart(state);
    return new Error(`cannot use data folder ${abs}: ${what} failed (${code}${WHY[code] ? `: ${WHY[code]}` : ''}); choose another --data-dir or fix its permissions`);
  };
  try {
    fs.mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw fail('creating it', e);
  }
  for (const f of fs.readdirSync(abs)) state.existing.add(f);
  const probe = path.join(abs, `.write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    throw fail('writing to it', e);
  }
  return state;
}

/** Removes what a failed start created: new files (a LOCK only if it is ours) and new folders. */
export function undoStart(s: DataDirState): void {
  try {
    if (fs.existsSync(s.dir)) {
      for (const f of fs.readdirSync(s.dir)) {
        if (s.existing.has(f)) continue;
        const file = path.join(s.dir, f);
        if (f === 'LOCK' && fs.readFileSync(file, 'utf8').trim() !== String(process.pid)) continue;
        fs.rmSync(file, { force: true, recursive: true });
      }
    }
    for (const d of [...s.createdDirs].reverse()) {
      if (fs.existsSync(d) && fs.readdirSync(d).length === 0) fs.rmdirSync(d);
    }
  } catch { /* best effort: the start already failed with its own message */ }
}
