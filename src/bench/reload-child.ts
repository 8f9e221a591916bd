/**
 * Child process for the reload measurement (run in a fresh process so nothing is cached or
 * JIT-warm): `node reload-child.js node|breakdown CHAIN_LOG`. Prints one JSON line.
 *
 * - node: what a node does on start — loadState(FileDisk) (read, parse, checksum, replay,
 *   verify every hash pointer and nonce), then build the Replica, whose constructor rebuilds
 *   the dictionary from the decided prefix.
 * - breakdown: the same steps timed one by one (read, parse+checksum, replay, verify, dict).
 * - prepare / restart: the same chain as a node's data folder with a checkpoint (see checkpointMode).
 */
import * as fs from 'node:fs';
import { Block } from '../../messages';
import { verifyChain } from '../chain';
import { DurableRecord, DurableState } from '../core/durable';
import { defaultCoreConfig, Replica } from '../core/replica';
import { StateMachine } from '../core/state-machine';
import { loadState } from '../store/chain-store';
import { checkpointStateMachine, DEFAULT_CHECKPOINT_POLICY, StoreUpkeep } from '../store/checkpoint';
import { openChainStore } from '../store/open';
import { verifyDataDir } from '../store/verify-files';
import { FileDisk } from '../store/disk';
import { loadRecords } from '../store/record-log';
import { procMemory } from './util';

function isRecord(v: unknown): v is DurableRecord {
  const t = (v as { t?: unknown } | null)?.t;
  return t === 'promise' || t === 'accept' || t === 'decide' || t === 'learn';
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

function main(): void {
  const [mode, file] = process.argv.slice(2);
  if (!file) throw new Error('usage: reload-child.js node|breakdown CHAIN_LOG');
  if (mode === 'node') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const disk = new FileDisk(file);
    const report = loadState(disk);
    const loadStateMs = ms(t0);
    const t1 = process.hrtime.bigint();
    const replica = new Replica(defaultCoreConfig(1, 0, 5), report.state, () => 4, { voteFloor: report.voteFloor });
    const dictMs = ms(t1);
    const totalMs = ms(t0);
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    disk.close();
    const peak = procMemory(process.pid);
    gc?.();
    const mu = process.memoryUsage();
    process.stdout.write(JSON.stringify({
      mode, loadStateMs, dictMs, totalMs, cpuMs,
      records: report.records, decided: replica.commit, keys: replica.sm.dict.size,
      tampered: report.tampered, warnings: report.warnings,
      /** Peak RSS of this process during the load; RSS and live heap after a full GC (what the node keeps). */
      hwmMB: peak?.hwmMB ?? null, rssAfterGcMB: mu.rss / 2 ** 20, heapRetainedMB: (mu.heapUsed - heapBefore) / 2 ** 20,
      bytesPerBlock: replica.commit > 0 ? (mu.heapUsed - heapBefore) / replica.commit : null,
    }) + '\n');
    void replica.durable.end;
    return;
  }
  if (mode === 'breakdown') {
    let t = process.hrtime.bigint();
    const buf = fs.readFileSync(file);
    const readMs = ms(t);
    t = process.hrtime.bigint();
    const loaded = loadRecords(buf, isRecord);
    const parseMs = ms(t);
    t = process.hrtime.bigint();
    const state = DurableState.replay(loaded.records);
    const replayMs = ms(t);
    t = process.hrtime.bigint();
    const check = verifyChain(state.log as Block[]);
    const verifyMs = ms(t);
    t = process.hrtime.bigint();
    const sm = new StateMachine();
    for (let d = 0; d < state.commit; d++) sm.apply(state.log[d]);
    const dictMs = ms(t);
    process.stdout.write(JSON.stringify({
      mode, bytes: buf.length, records: loaded.records.length, readMs, parseMs, replayMs, verifyMs, dictMs,
      ok: check.ok, decided: state.commit,
    }) + '\n');
    return;
  }
  if (mode === 'prepare' || mode === 'restart') return checkpointMode(mode, file);
  if (mode === 'verify') {
    // npm run verify's work on a node's folder (chain.log and blocks.dat), streaming.
    const t0 = process.hrtime.bigint();
    const r = verifyDataDir(file);
    process.stdout.write(JSON.stringify({ mode, ms: ms(t0), ok: r.ok, decided: r.decided, blocksDat: r.blocksDat, firstBad: r.firstBad, hwmMB: procMemory(process.pid)?.hwmMB ?? null }) + '\n');
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

const IDENTITY = { cluster: 'bench', node: 'P1' };

/**
 * - prepare DIR: opens DIR (a chain.log) as a node would, full replay, then writes blocks.dat and
 *   a checkpoint at the decided head, as a running node would have: times the checkpoint.
 * - restart DIR: what a node does on start with a checkpoint: choose and check it, replay what
 *   follows, build the Replica from its dictionary (ready to vote). Times it; peak RSS.
 */
function checkpointMode(mode: 'prepare' | 'restart', dir: string): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const opened = openChainStore({ dir, identity: IDENTITY });
  const r = opened.report;
  const replica = new Replica(defaultCoreConfig(1, 0, 5), r.state, () => 4, { voteFloor: r.voteFloor, sm: r.checkpoint ? checkpointStateMachine(r.checkpoint) : undefined });
  StoreUpkeep.reconcile(opened.blocks, replica);
  const totalMs = ms(t0);
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const upkeep = new StoreUpkeep({
    chain: opened.disk, syncChain: () => opened.store.write([], true), blocks: opened.blocks, dir: opened.checkpoints,
    policy: { ...DEFAULT_CHECKPOINT_POLICY, everyBlocks: 1, appendPerTurn: Number.MAX_SAFE_INTEGER }, identity: IDENTITY, startedFrom: r.checkpoint, now: () => performance.now(),
  });
  let checkpoint: { ms: number; bytes: number } | null = null;
  let appendMs = 0;
  if (mode === 'prepare') {
    const t1 = process.hrtime.bigint();
    const u = upkeep.afterTurn(replica, r.voteFloor); // blocks.dat for the whole chain, compaction, then the checkpoint
    appendMs = ms(t1) - (u.checkpoint?.ms ?? 0);
    if (!u.checkpoint) throw new Error('no checkpoint was taken');
    checkpoint = { ms: u.checkpoint.ms, bytes: u.checkpoint.bytes };
  }
  const peak = procMemory(process.pid);
  gc?.();
  const mu = process.memoryUsage();
  process.stdout.write(JSON.stringify({
    mode, totalMs, cpuMs, fromCheckpoint: r.checkpoint?.depth ?? null, records: r.records, decided: replica.commit, inMemoryFrom: replica.durable.base,
    warnings: r.warnings, tampered: r.tampered, checkpoint, appendMs, blocksDatBytes: opened.blocks.bytes, chainBytes: opened.disk.size(),
    hwmMB: peak?.hwmMB ?? null, heapRetainedMB: (mu.heapUsed - heapBefore) / 2 ** 20,
  }) + '\n');
  opened.store.close();
  opened.blocks.close();
}

main();
