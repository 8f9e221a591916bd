/**
 * Issue 15's store figures that need more than one chain size or an A/B: the restart of a node
 * with a very long chain (generated on disk, `bigrestart`), and what checkpoints cost a loaded
 * cluster (`ckptcost`).
 */
import * as path from 'node:path';
import { BenchOptions, closeAll, RELOAD_CHILD, runChild, startChainkv } from './bench';
import { generateNodeFolder } from './chain-gen';
import { fmt, median } from './util';
import { RunResult, runClosedLoop } from './workload';

export interface BigRestartResult {
  blocks: number;
  generateMs: number;
  chainBytes: number;
  blocksDatBytes: number;
  checkpointBytes: number;
  /** chain.log + blocks.dat, per block. */
  diskBytesPerBlock: number;
  /** Median restart (choose and check the checkpoint, index blocks.dat, Replica ready to vote), fresh process. */
  restartMs: number;
  cpuMs: number;
  /** Worst peak RSS over the trials. */
  hwmMB: number | null;
  trials: { totalMs: number; cpuMs: number; hwmMB: number | null }[];
}

/** A node folder of `o.bigBlocks` blocks written in one streaming pass, then restarted from its checkpoint. */
export async function runBigRestart(o: BenchOptions, root: string): Promise<BigRestartResult> {
  const dir = path.join(root, 'big-node');
  o.progress(`bigrestart: generating a ${fmt.int(o.bigBlocks)}-block node folder (chain.log, blocks.dat, a checkpoint)`);
  const g = generateNodeFolder(dir, o.bigBlocks, { cluster: 'bench', node: 'P1' }, { keys: o.keys, progress: o.progress });
  o.log(`bigrestart: generated a ${fmt.int(g.blocks)}-block node folder in ${fmt.int(g.ms)} ms: chain.log ${(g.chainBytes / 2 ** 20).toFixed(0)} MiB, blocks.dat ${(g.blocksDatBytes / 2 ** 20).toFixed(0)} MiB, checkpoint ${fmt.int(g.checkpointBytes)} bytes`);
  const trials: BigRestartResult['trials'] = [];
  for (let i = 0; i < o.reloadTrials; i++) {
    o.progress(`bigrestart: restart from the checkpoint, trial ${i + 1}/${o.reloadTrials} (fresh process)`);
    const r = await runChild(['--expose-gc', RELOAD_CHILD, 'restart', dir]);
    if (r.fromCheckpoint !== g.blocks || r.decided !== g.blocks || r.tampered) throw new Error(`restart of the ${g.blocks}-block folder: ${JSON.stringify(r)}`);
    trials.push({ totalMs: r.totalMs as number, cpuMs: r.cpuMs as number, hwmMB: r.hwmMB as number | null });
  }
  const hwms = trials.map((t) => t.hwmMB).filter((v): v is number => v !== null);
  const res: BigRestartResult = {
    blocks: g.blocks, generateMs: g.ms, chainBytes: g.chainBytes, blocksDatBytes: g.blocksDatBytes, checkpointBytes: g.checkpointBytes,
    diskBytesPerBlock: (g.chainBytes + g.blocksDatBytes) / g.blocks,
    restartMs: median(trials.map((t) => t.totalMs)), cpuMs: median(trials.map((t) => t.cpuMs)), hwmMB: hwms.length ? Math.max(...hwms) : null, trials,
  };
  o.log(`bigrestart: ${fmt.int(res.blocks)} blocks: restart from the checkpoint ${fmt.int(res.restartMs)} ms (median of ${trials.length}: ${trials.map((t) => fmt.int(t.totalMs)).join(', ')}; CPU ${fmt.int(res.cpuMs)} ms), peak RSS ${res.hwmMB?.toFixed(0)} MB; disk ${res.diskBytesPerBlock.toFixed(0)} bytes per block (chain.log ${(g.chainBytes / g.blocks).toFixed(0)} + blocks.dat ${(g.blocksDatBytes / g.blocks).toFixed(0)})`);
  return res;
}

export interface CheckpointCostResult {
  clients: number;
  /** The frequent policy's interval (decided blocks between checkpoints). */
  everyBlocks: number;
  /** Runs in the order they ran (alternating). */
  runs: { policy: 'default' | 'frequent'; result: RunResult }[];
  /** Median ops/s with frequent checkpoints over the median with the default policy. */
  throughputRatio: number;
  /** The frequent cluster's checkpoints during its runs, from the nodes' logs. */
  checkpoints: { count: number; medianMs: number; maxMs: number; medianBytes: number };
}

/**
 * Two clusters, one with the default policy (one every 100,000 blocks: none in a short run) and
 * one checkpointing every `ckptEveryBlocks` blocks, measured alternately under the same 64-client
 * load: the throughput ratio is what checkpoints cost, and the nodes' log lines say how long each
 * one held the event loop.
 */
export async function runCheckpointCost(o: BenchOptions, root: string): Promise<CheckpointCostResult> {
  const n = Math.max(...o.clients);
  const every = o.ckptEveryBlocks;
  const base = await startChainkv(o, path.join(root, 'ckpt-default'), n);
  try {
    const freq = await startChainkv(o, path.join(root, 'ckpt-frequent'), n, false, ['--checkpoint-blocks', String(every)]);
    try {
      const runs: CheckpointCostResult['runs'] = [];
      for (let round = 0; round < Math.max(2, o.repeat); round++) {
        for (const [policy, ck] of [['default', base], ['frequent', freq]] as const) {
          o.progress(`ckptcost: ${policy} policy, round ${round + 1}: ${n} clients for ${o.seconds} s`);
          await ck.cluster.warmUp(ck.clients);
          const result = await runClosedLoop({ system: `chainkv (${policy === 'default' ? 'default checkpoints' : `checkpoint every ${fmt.int(every)} blocks`})`, clients: ck.clients, seconds: o.seconds, keys: o.keys, seed: round, progress: o.progress });
          ck.cluster.assertAlive();
          runs.push({ policy, result });
          o.log(`ckptcost: ${policy} policy, round ${round + 1}: ${fmt.int(result.opsPerSec)} ops/s, p50 ${fmt.ms(result.latency.p50Ms)} ms, p99 ${fmt.ms(result.latency.p99Ms)} ms`);
        }
      }
      const lines = freq.ids.flatMap((id) => freq.cluster.grepLog(id, (l) => l.includes('[store] checkpoint at depth')));
      const parsed = lines.map((l) => /: ([0-9]+) bytes in ([0-9.]+) ms/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
      const ms = parsed.map((m) => Number(m[2]));
      const bytes = parsed.map((m) => Number(m[1]));
      const med = (p: 'default' | 'frequent') => median(runs.filter((r) => r.policy === p).map((r) => r.result.opsPerSec));
      const res: CheckpointCostResult = {
        clients: n, everyBlocks: every, runs, throughputRatio: med('frequent') / med('default'),
        checkpoints: { count: parsed.length, medianMs: ms.length ? median(ms) : NaN, maxMs: ms.length ? Math.max(...ms) : NaN, medianBytes: bytes.length ? median(bytes) : NaN },
      };
      o.log(`ckptcost: ${n} clients, a checkpoint every ${fmt.int(every)} blocks: ${fmt.ratio(res.throughputRatio)} the throughput of the default policy (medians ${fmt.int(med('frequent'))} / ${fmt.int(med('default'))} ops/s); ` +
        `${res.checkpoints.count} checkpoints on the 5 nodes, each ${fmt.ms(res.checkpoints.medianMs)} ms median (max ${fmt.ms(res.checkpoints.maxMs)} ms), ${fmt.int(res.checkpoints.medianBytes)} bytes`);
      return res;
    } finally {
      await closeAll(freq.clients);
      await freq.cluster.stopAll();
    }
  } finally {
    await closeAll(base.clients);
    await base.cluster.stopAll();
  }
}
