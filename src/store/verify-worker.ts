/**
 * The node console's `verifyChain` runs `verifyDataDir` here, in a worker thread, so the node
 * goes on serving while its files are read (see verify-files.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyDataDir } from './verify-files';

const { dir } = workerData as { dir: string };
const report = verifyDataDir(dir, { progress: (p) => parentPort!.postMessage({ progress: p }) });
parentPort!.postMessage({ report });
