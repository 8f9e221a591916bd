/**
 * How every tool starts a node or a client: the cluster console, the benchmark and the
 * end-to-end tests run exactly what `npm run node -- N` / `npm run client -- N` run.
 */
import * as path from 'node:path';

export const NODE_MAIN = path.join(__dirname, 'node-main.js');
export const CLIENT_MAIN = path.join(__dirname, 'client-main.js');

/**
 * V8 flags for a node process (package.json's "node" script passes the same). A 4 MB
 * young generation instead of V8's default growth to 32 MB keeps the peak memory of a node
 * that loads a long chain well below 150 MB; allocation there is short-lived either way.
 * A fixed old-generation growth of 30% (V8 otherwise lets a busy heap grow up to 4x before
 * a full collection) keeps a leader under heavy load on a 100,000-block chain below 150 MB
 * too (measured: 165 MB without it), for a few percent of throughput.
 */
export const NODE_V8_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=30'];

/** Arguments for `process.execPath` that start node N with `args`. */
export function nodeCommand(id: number | string, args: readonly string[]): string[] {
  return [...NODE_V8_FLAGS, NODE_MAIN, String(id), ...args];
}

/** Arguments for `process.execPath` that start client N with `args`. */
export function clientCommand(id: number | string, args: readonly string[]): string[] {
  return [CLIENT_MAIN, String(id), ...args];
}
