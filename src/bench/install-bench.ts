/**
 * Fast catch-up benchmark (issue 15 item 6): four nodes hold a generated chain of N decided
 * blocks (written offline by chain-gen, as a leader under load would), a fifth starts empty, N
 * blocks behind. Measured on real processes: how long until the fifth serves at the leader's
 * decided depth (it installs a peer's checkpoint, then repairs the blocks after it), and how long
 * until its backfill of the N blocks below the checkpoint completes (blocks.dat whole again).
 * The `install` part of `npm run bench` (`--install-blocks N`; the operations are the benchmark's
 * workload over `--keys` keys: the dictionary, and so the checkpoint transferred, grows with it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateChain } from './chain-gen';
import { ChainkvCluster } from './chainkv';
import { sleep } from './util';

export interface InstallResult {
  blocks: number;
  keys: number;
  /** From spawning P5 until it listened. */
  readyMs: number;
  /** From spawning P5 until its decided depth reached the leader's. */
  servingMs: number;
  /** From spawning P5 until its backfill completed. */
  backfillMs: number;
  loadAvg: number[];
}

export async function measureInstall(o: { blocks: number; keys: number; dir: string; log: (line: string) => void }): Promise<InstallResult> {
  const { blocks, keys, dir } = o;
  const log = (l: string) => o.log(`install: ${l}`);
  log(`${blocks.toLocaleString('en-US')} blocks behind (${keys.toLocaleString('en-US')} keys), in ${dir}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
  const cluster = await ChainkvCluster.create({ dir, clients: 1 });
  try {
    const gen = generateChain(path.join(dir, 'generated.log'), blocks, { keys });
    log(`generated chain.log: ${gen.blocks.toLocaleString('en-US')} blocks, ${(gen.bytes / 2 ** 20).toFixed(0)} MiB, in ${(gen.ms / 1000).toFixed(1)} s`);
    for (let id = 1; id <= 4; id++) fs.copyFileSync(gen.path, path.join(cluster.dataDir(id), 'chain.log'));
    fs.rmSync(gen.path);
    let t = performance.now();
    await Promise.all([1, 2, 3, 4].map((id) => cluster.startNode(id, 900_000)));
    log(`P1..P4 up (first start: full replay of the chain, blocks.dat written) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    // Their first checkpoint is written once blocks.dat has caught up (20,000 blocks a turn), from
    // 100,000 blocks on; below that the peer asked takes one when asked.
    const until = performance.now() + (blocks >= 100_000 ? 600_000 : 0);
    for (const id of [1, 2, 3, 4]) {
      while (performance.now() < until && !fs.readdirSync(cluster.dataDir(id)).some((f) => /^checkpoint-\d+\.ckpt$/.test(f))) await sleep(200);
    }
    const leader = await cluster.elect();
    const clients = await cluster.connectClients();
    await cluster.warmUp(clients);
    const leaderDepth = (await cluster.status(leader)).depth;
    log(`leader P${leader} at depth ${leaderDepth.toLocaleString('en-US')}; starting P5 empty; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    t = performance.now();
    const { readyMs } = await cluster.startNode(5);
    let servingMs = 0;
    let backfillMs = 0;
    for (;;) {
      const s = await cluster.status(5, 30_000);
      const at = performance.now() - t;
      if (!servingMs && s.depth >= leaderDepth) {
        servingMs = at;
        log(`P5 at the leader's decided depth ${s.depth.toLocaleString('en-US')} after ${(servingMs / 1000).toFixed(2)} s (listening after ${(readyMs / 1000).toFixed(2)} s); ${s.catchUp?.backfill ? `backfill ${s.catchUp.backfill.done} of ${s.catchUp.backfill.of}` : ''}`);
        // It answers a client from there: a get through P5.
        const c = clients[0].client;
        const g = await c.get('warmup');
        log(`a get answered (leader ${g.leader}, depth ${g.depth}) ${((performance.now() - t) / 1000).toFixed(2)} s after P5 started`);
      }
      if (servingMs && s.catchUp && s.catchUp.backfill === null && s.catchUp.backfills > 0) {
        backfillMs = at;
        break;
      }
      if (at > 900_000) throw new Error(`P5 not done within 900 s: ${JSON.stringify(s)}`);
      await sleep(servingMs ? 200 : 20);
    }
    const lines = fs.readFileSync(cluster.logPath(5), 'utf8').split('\n').filter((l) => /installed|backfill complete|fetching its checkpoint/.test(l));
    for (const l of lines) log(`P5: ${l}`);
    log(`${blocks.toLocaleString('en-US')} blocks behind: serving at the leader's depth after ${(servingMs / 1000).toFixed(2)} s; full backfill after ${(backfillMs / 1000).toFixed(1)} s; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    await Promise.all(clients.map((c) => c.close()));
    return { blocks, keys, readyMs, servingMs, backfillMs, loadAvg: os.loadavg() };
  } finally {
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true }); // (1,000,000 blocks: about 2 GB of folders)
  }
}
