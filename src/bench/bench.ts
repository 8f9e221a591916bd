/**
 * `npm run bench`: chainkv against etcd on this machine, in one run. See bench-main.ts for
 * the options. Every part returns plain data; the CLI prints it as text or one JSON object.
 */
import { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChainkvClient, ChainkvCluster, ChainLogStats } from './chainkv';
import { EVENT_PREFIX } from '../events/reporter';
import { generateChain, GeneratedChain } from './chain-gen';
import { EtcdCluster, findEtcd } from './etcd';
import { FsyncResult, measureFsync } from './fsync';
import { measureMessageFloor, MessageFloorResult } from './message-floor';
import { cleanupAll, keepTempDirs, makeTempDir, spawnTracked, waitExit } from './procs';
import { ProfileSummary, profileText, summarizeProfile } from './profile';
import { InstallResult, measureInstall } from './install-bench';
import { BigRestartResult, CheckpointCostResult, runBigRestart, runCheckpointCost } from './store-bench';
import { fmt, MachineInfo, machineInfo, median, procMemory, sleep, table } from './util';
import { KvClient, RunResult, runClosedLoop } from './workload';

export const PARTS = ['fsync', 'msgfloor', 'chainkv', 'chainkv-plain', 'etcd', 'etcd-tls', 'catchup', 'reload', 'rss', 'bigrestart', 'ckptcost', 'install'] as const;
export type Part = (typeof PARTS)[number];

export interface BenchOptions {
  clients: number[];
  seconds: number;
  /** Runs per system and client count (alternating); the summary shows the median by ops/s. */
  repeat: number;
  keys: number;
  quick: boolean;
  parts: Set<Part>;
  etcdBin?: string;
  catchupBlocks: number;
  catchupClients: number;
  reloadBlocks: number;
  reloadTrials: number;
  /** Chain lengths the `rss` part measures a loaded cluster at. */
  rssBlocks: number[];
  rssSeconds: number;
  /** The `bigrestart` part's chain length (a node folder generated on disk). */
  bigBlocks: number;
  /** The `ckptcost` part's frequent policy: a checkpoint every this many blocks. */
  ckptEveryBlocks: number;
  /** The `install` part: how far behind the fifth node starts. */
  installBlocks: number;
  fsyncSamples: number;
  /** Run chainkv nodes under `node --cpu-prof` and summarise the profiles into this folder. */
  cpuProfDir?: string;
  /** Start the nodes with --events (the web view's event lines) and report how much they wrote. */
  events?: boolean;
  /** Parent of the temp dir (default: the OS temp dir). */
  tmp?: string;
  keep: boolean;
  /** Result lines (stdout, or stderr with --json). */
  log: (line: string) => void;
  /** Progress lines (stderr). */
  progress: (line: string) => void;
}

export interface CatchupResult {
  node: string;
  leader: string;
  /** Blocks the node was behind when restarted. */
  blocksBehind: number;
  leaderDepth: number;
  /** From spawning the process until it listened (its own chain loaded and verified). */
  startMs: number;
  /** From spawning the process until its decided depth equalled the leader's. */
  catchUpMs: number;
  /** catchUpMs - startMs: the repair itself. */
  repairMs: number;
  /** From listening until its depth first moved (how long the cluster took to notice it). */
  firstProgressMs: number | null;
  /** [ms since spawn, depth] samples while it caught up. */
  samples: [number, number][];
  driveOpsPerSec: number;
}

export interface ReloadResult {
  blocks: number;
  chainBytes: number;
  generateMs: number;
  trials: { loadStateMs: number; dictMs: number; totalMs: number; cpuMs: number; hwmMB: number | null; heapRetainedMB: number; bytesPerBlock: number | null }[];
  /** Median over trials of loadState + dictionary rebuild (wall clock). */
  totalMs: number;
  /** Median CPU time (user + system) of the same: its cost without contention for the CPU (GC threads may add to it). */
  cpuMs: number;
  breakdown?: { readMs: number; parseMs: number; replayMs: number; verifyMs: number; dictMs: number };
  /** The same chain as a node's folder with a checkpoint at its head (issue 15). */
  checkpoint?: CheckpointRestartResult;
}

export interface CheckpointRestartResult {
  /** Median restart (choose and check the checkpoint, replay what follows, Replica ready to vote), fresh process. */
  restartMs: number;
  trials: { totalMs: number; cpuMs: number; hwmMB: number | null; heapRetainedMB: number }[];
  /** Median CPU time of the restart. */
  cpuMs: number;
  /** Worst peak RSS over the restart trials. */
  hwmMB: number | null;
  /** The first start of the folder without a checkpoint (full replay, writes blocks.dat), and the checkpoint it wrote. */
  prepareMs: number;
  writeMs: number;
  checkpointBytes: number;
  appendMs: number;
  blocksDatBytes: number;
  chainBytes: number;
  /** npm run verify on that folder: time and peak RSS. */
  verify?: { ms: number; hwmMB: number | null; ok: boolean };
}

export interface RssResult {
  blocks: number;
  /** Per node, after loading the chain and before any traffic. */
  afterLoadMB: Record<string, number>;
  /** Per node, peak after a closed-loop run on top of the loaded chain. */
  peakMB: Record<string, number>;
  maxPeakMB: number;
  /** The node's own "[store] loaded ... in N ms" line, per node. */
  nodeLoadMs: Record<string, number>;
  startMs: Record<string, number>;
  load?: RunResult;
  /**
   * The first start on the copied chain.log (no blocks.dat, no checkpoint: a full replay, then
   * blocks.dat and a checkpoint are written). The figures above are of the restart after it.
   */
  firstStart?: { afterLoadMB: Record<string, number>; startMs: Record<string, number>; nodeLoadMs: Record<string, number> };
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  ok: boolean | null;
  note?: string;
}

export interface BenchResults {
  machine: MachineInfo;
  options: { clients: number[]; seconds: number; repeat: number; keys: number; quick: boolean; catchupBlocks: number; reloadBlocks: number };
  fsync?: FsyncResult;
  /** One ZeroMQ message between two Node processes: its round trip and its CPU. */
  messageFloor?: MessageFloorResult;
  /** The same for plain, CurveZMQ, and CurveZMQ plus the per-frame MAC: what security costs per message. */
  messageFloors?: MessageFloorResult[];
  /** Every run, in order (--repeat gives several per client count). chainkv: CurveZMQ links (the default). */
  chainkv: RunResult[];
  /** chainkv with --insecure (plain links), to show what security costs. */
  chainkvPlain: RunResult[];
  /** etcd with TLS between clients and members and between members, with client certificates. */
  etcdTls: RunResult[];
  /** Secure against secure: chainkv (CurveZMQ) / etcd (TLS). */
  secureRatios: { clients: number; throughput: number; p50: number }[];
  /** What security costs each system: secure / plain ops per second. */
  securityCost: { clients: number; chainkv?: number; etcd?: number }[];
  chainkvPeakRssMB?: Record<string, number>;
  /** The leader's chain.log after the runs: how many blocks each write (accept record) carried. */
  chainkvLeaderLog?: ChainLogStats;
  /** With --events: the event lines each node of the secure chainkv wrote during each run (what the console would relay to a page). */
  chainkvEvents?: { clients: number; node: string; lines: number; perSec: number; kbPerSec: number; longest: number }[];
  etcd: RunResult[];
  etcdInfo?: { bin: string; version: string; peakRssMB?: Record<string, number> } | { skipped: string };
  /** Plain against plain: chainkv --insecure / etcd over http (the comparison before security). */
  ratios: { clients: number; throughput: number; p50: number }[];
  catchup?: CatchupResult;
  reload?: ReloadResult;
  /** One per chain length of `rssBlocks`. */
  rss?: RssResult[];
  bigRestart?: BigRestartResult;
  checkpointCost?: CheckpointCostResult;
  install?: InstallResult;
  profiles?: ProfileSummary[];
  targets: Target[];
  errors: string[];
}

export const RELOAD_CHILD = path.resolve(__dirname, 'reload-child.js');

/** The run with the median ops/s among `system`'s runs with `n` clients (the only one without --repeat). */
export function pickRun(runs: RunResult[], n: number): RunResult | undefined {
  const mine = runs.filter((r) => r.clients === n).sort((a, b) => a.opsPerSec - b.opsPerSec);
  return mine[Math.floor((mine.length - 1) / 2)];
}

export function runTable(rows: RunResult[]): string {
  return table(
    ['system', 'clients', 'operations', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'server CPU ms/op', 'server CPU %', 'client CPU %', 'retried', 'errors'],
    rows.map((r) => [
      r.system, String(r.clients), fmt.int(r.operations), fmt.int(r.opsPerSec), fmt.ms(r.latency.p50Ms), fmt.ms(r.latency.p99Ms), fmt.ms(r.latency.maxMs),
      r.serverCpuMsPerOp === null ? '-' : r.serverCpuMsPerOp.toFixed(2), r.serverCpuPct === null ? '-' : r.serverCpuPct.toFixed(0), r.clientCpuPct.toFixed(0),
      String(r.retried), String(r.errors),
    ]),
    [false, true, true, true, true, true, true, true, true, true, true, true],
  );
}

export async function closeAll(clients: KvClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

const mbList = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');

/**
 * The throughput/latency comparison. Both clusters run at once (idle
 * while the other is measured) and the runs alternate, chainkv then etcd for each client
 * count, so that a change in background load hits both alike.
 */
async function runComparison(o: BenchOptions, root: string, res: BenchResults): Promise<void> {
  const started: { name: string; results: RunResult[]; run: (n: number) => Promise<RunResult>; stop: () => Promise<void> }[] = [];
  const chainkv = async (name: 'chainkv' | 'chainkv-plain', results: RunResult[]) => {
    const ck = await startChainkv(o, path.join(root, name), Math.max(...o.clients), name === 'chainkv-plain');
    o.log(`${name}: 5 nodes up (fsync on, delay 0, ${name === 'chainkv' ? 'CurveZMQ' : 'plain TCP'} on 127.0.0.1:${ck.cluster.config.nodes.map((n) => n.port).join(',')}), leader P${ck.leader}`);
    started.push({
      name, results,
      run: async (n) => {
        const clients = ck.clients.slice(0, n);
        o.progress(`${name}: warm-up of ${n} clients`);
        ck.cluster.assertAlive();
        const w = await ck.cluster.warmUp(clients);
        const serverPids = ck.ids.map((id) => ck.cluster.pid(id)).filter((p): p is number => p !== undefined);
        const logFrom = ck.ids.map((id) => fs.statSync(ck.cluster.logPath(id)).size);
        const t0 = Date.now();
        const r = await runClosedLoop({ system: name, clients, seconds: o.seconds, keys: o.keys, seed: n, progress: o.progress, serverPids });
        ck.cluster.assertAlive();
        if (o.events && name === 'chainkv') {
          const secs = (Date.now() - t0) / 1000;
          for (const [i, id] of ck.ids.entries()) {
            const e = { clients: n, node: `P${id}`, ...eventStats(ck.cluster.logPath(id), logFrom[i], secs) };
            (res.chainkvEvents ??= []).push(e);
            o.log(`chainkv --events, ${n} clients: ${e.node} wrote ${fmt.int(e.lines)} event lines (${e.perSec.toFixed(1)} a second, ${e.kbPerSec.toFixed(1)} KB/s, the longest ${fmt.int(e.longest)} characters)`);
          }
        }
        o.log(`${runTable([r]).split('\n').slice(-1)[0]}   (leader ${w.leader})`);
        return r;
      },
      stop: async () => {
        if (name === 'chainkv') {
          res.chainkvPeakRssMB = Object.fromEntries(ck.ids.map((id) => [`P${id}`, procMemory(ck.cluster.pid(id) ?? -1)?.hwmMB ?? NaN]));
          const leader = await ck.cluster.leader();
          if (leader !== null) {
            const st = ck.cluster.logStats(leader);
            res.chainkvLeaderLog = st;
            o.log(`chainkv: leader ${st.node}'s chain.log after the runs: ${fmt.int(st.acceptedBlocks)} blocks in ${fmt.int(st.accepts)} accept records (${st.blocksPerAccept.toFixed(2)} blocks per accept record), ${fmt.int(st.decides)} decide records, ${(st.bytes / 2 ** 20).toFixed(1)} MiB`);
          }
        }
        o.progress(`${name}: stopping the cluster`);
        await closeAll(ck.clients);
        await ck.cluster.stopAll();
      },
    });
  };
  const etcd = async (name: 'etcd' | 'etcd-tls', results: RunResult[], bin: { bin: string; version: string }) => {
    o.progress(`${name} ${bin.version}: starting 5 members`);
    const et = await EtcdCluster.start(bin.bin, path.join(root, name), 5, name === 'etcd-tls');
    o.log(`${name} ${bin.version}: 5 members up (fsync on${name === 'etcd-tls' ? ', TLS with client certificates for clients and peers' : ''}), leader ${(await et.leader())?.name}`);
    started.push({
      name, results,
      run: async (n) => {
        const clients = await et.clients(n);
        try {
          const r = await runClosedLoop({ system: name, clients, seconds: o.seconds, keys: o.keys, seed: n, progress: o.progress, serverPids: et.pids() });
          o.log(runTable([r]).split('\n').slice(-1)[0]);
          return r;
        } finally {
          await closeAll(clients);
        }
      },
      stop: async () => {
        if (name === 'etcd' && res.etcdInfo && 'version' in res.etcdInfo) res.etcdInfo.peakRssMB = Object.fromEntries(et.members.map((m) => [m.name, procMemory(m.child?.pid ?? -1)?.hwmMB ?? NaN]));
        o.progress(`${name}: stopping the cluster`);
        await et.stop();
      },
    });
  };
  try {
    // All clusters run at once (idle while another is measured) and the runs alternate, so a
    // change in background load hits every system alike.
    if (o.parts.has('chainkv')) await chainkv('chainkv', res.chainkv);
    if (o.parts.has('chainkv-plain')) await chainkv('chainkv-plain', res.chainkvPlain);
    if (o.parts.has('etcd') || o.parts.has('etcd-tls')) {
      const found = findEtcd(o.etcdBin);
      if (!found) {
        const why = 'etcd not found (install the Debian package etcd-server, or pass --etcd-bin PATH): etcd runs skipped';
        res.etcdInfo = { skipped: why };
        o.log(`etcd: ${why}`);
      } else {
        res.etcdInfo = { ...found };
        if (o.parts.has('etcd-tls')) await etcd('etcd-tls', res.etcdTls, found);
        if (o.parts.has('etcd')) await etcd('etcd', res.etcd, found);
      }
    }
    for (let rep = 1; rep <= o.repeat; rep++) for (const n of o.clients) for (const sys of started) sys.results.push(await sys.run(n));
  } finally {
    for (const sys of started) await sys.stop().catch((e: Error) => o.log(`${sys.name}: stopping: ${e.message}`));
  }
}

interface StartedChainkv {
  cluster: ChainkvCluster;
  clients: ChainkvClient[];
  ids: number[];
  leader: number;
}

let profileStarts = 0;

/** The `@event` lines a node's log gained from byte `from` on: how many, per second over `secs`, and the longest. */
function eventStats(logPath: string, from: number, secs: number): { lines: number; perSec: number; kbPerSec: number; longest: number } {
  let lines = 0;
  let bytes = 0;
  let longest = 0;
  for (const l of fs.readFileSync(logPath).subarray(from).toString('utf8').split('\n')) {
    if (!l.startsWith(EVENT_PREFIX)) continue;
    lines++;
    bytes += l.length + 1;
    longest = Math.max(longest, l.length);
  }
  return { lines, perSec: lines / secs, kbPerSec: bytes / 1024 / secs, longest };
}

/** A fresh 5-node cluster in `dir` with `clients` connected clients and an elected leader. */
export async function startChainkv(o: BenchOptions, dir: string, clients: number, insecure = false, nodeArgs: string[] = []): Promise<StartedChainkv> {
  const profDir = o.cpuProfDir ? path.resolve(o.cpuProfDir) : undefined;
  if (profDir) fs.mkdirSync(profDir, { recursive: true });
  const tag = path.basename(dir);
  const cluster = await ChainkvCluster.create({
    dir,
    clients,
    insecure,
    nodeFlags: profDir ? (id) => ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${tag}-P${id}-${++profileStarts}.cpuprofile`] : undefined,
    nodeArgs: [...(o.events ? ['--events'] : []), ...nodeArgs],
  });
  try {
    const ids = cluster.config.nodes.map((_, i) => i + 1);
    o.progress(`${tag}: starting 5 nodes`);
    await cluster.startAll();
    o.progress(`${tag}: connecting ${clients} clients`);
    const connected = await cluster.connectClients();
    o.progress(`${tag}: electing a leader`);
    return { cluster, clients: connected, ids, leader: await cluster.elect() };
  } catch (e) {
    await cluster.stopAll();
    throw e;
  }
}

/** Catch-up on a fresh cluster (so the restarted node's own chain is short and its start is quick). */
async function runCatchup(o: BenchOptions, root: string, res: BenchResults): Promise<void> {
  const ck = await startChainkv(o, path.join(root, 'catchup'), o.catchupClients);
  try {
    res.catchup = await measureCatchup(o, ck.cluster, ck.ids, ck.clients);
  } finally {
    o.progress('catch-up: stopping the cluster');
    await closeAll(ck.clients);
    await ck.cluster.stopAll();
  }
}

async function measureCatchup(o: BenchOptions, cluster: ChainkvCluster, ids: number[], clients: ChainkvClient[]): Promise<CatchupResult> {
  const leader = await cluster.elect();
  const victim = (leader % ids.length) + 1;
  o.progress(`catch-up: stopping P${victim}`);
  await cluster.stopNode(victim);
  const before = (await cluster.status(leader)).depth;
  await cluster.warmUp(clients);
  const drive = await runClosedLoop({
    system: 'chainkv catch-up drive', clients, seconds: 600, keys: o.keys, seed: 7, putsOnly: true, maxOps: o.catchupBlocks, progress: o.progress,
  });
  const lead = (await cluster.leader()) ?? leader;
  const leaderDepth = (await cluster.status(lead)).depth;
  o.progress(`catch-up: restarting P${victim}, ${leaderDepth - before}+ blocks behind`);
  const t0 = performance.now();
  const { readyMs } = await cluster.startNode(victim);
  const own = (await cluster.status(victim)).depth;
  let depth = own;
  const samples: [number, number][] = [[Math.round(performance.now() - t0), depth]];
  let firstProgressMs: number | null = null;
  while (depth < leaderDepth) {
    if (performance.now() - t0 > 120_000) throw new Error(`P${victim} did not catch up within 120 s (depth ${depth} of ${leaderDepth})`);
    await sleep(5);
    const d = (await cluster.status(victim)).depth;
    const at = performance.now() - t0;
    if (d !== depth) {
      samples.push([Math.round(at), d]);
      if (firstProgressMs === null) firstProgressMs = at - readyMs;
    }
    depth = d;
  }
  const catchUpMs = performance.now() - t0;
  const r: CatchupResult = {
    node: `P${victim}`, leader: `P${lead}`, blocksBehind: leaderDepth - Math.min(own, before), leaderDepth,
    startMs: readyMs, catchUpMs, repairMs: catchUpMs - readyMs, firstProgressMs, samples, driveOpsPerSec: drive.opsPerSec,
  };
  o.log(`catch-up: P${victim} restarted ${fmt.int(r.blocksBehind)} blocks behind (driven by ${clients.length} clients at ${fmt.int(drive.opsPerSec)} puts/s); listening after ${fmt.int(r.startMs)} ms, at the leader's depth ${fmt.int(leaderDepth)} after ${fmt.int(r.catchUpMs)} ms (repair ${fmt.int(r.repairMs)} ms, of which ${fmt.int(r.firstProgressMs ?? NaN)} ms before its depth first moved)`);
  o.log(`catch-up: depth over time (ms since spawn: depth): ${samples.map(([t, d]) => `${t}:${d}`).join(' ')}`);
  return r;
}

export function runChild(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawnTracked(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void waitExit(child).then(() => {
      if (child.exitCode !== 0) return reject(new Error(`${path.basename(args.find((a) => a.endsWith('.js')) ?? args[0])} failed (${child.exitCode ?? child.signalCode}): ${err.trim()}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

async function runReload(o: BenchOptions, chain: GeneratedChain): Promise<ReloadResult> {
  const trials: ReloadResult['trials'] = [];
  for (let i = 0; i < o.reloadTrials; i++) {
    o.progress(`reload: trial ${i + 1}/${o.reloadTrials} (${fmt.int(chain.blocks)} blocks, fresh process)`);
    const r = await runChild(['--expose-gc', RELOAD_CHILD, 'node', chain.path]);
    if (r.decided !== chain.blocks || r.tampered) throw new Error(`reload found ${r.decided} decided blocks (expected ${chain.blocks}); warnings: ${JSON.stringify(r.warnings)}`);
    trials.push({
      loadStateMs: r.loadStateMs as number, dictMs: r.dictMs as number, totalMs: r.totalMs as number, cpuMs: r.cpuMs as number,
      hwmMB: r.hwmMB as number | null, heapRetainedMB: r.heapRetainedMB as number, bytesPerBlock: r.bytesPerBlock as number | null,
    });
  }
  const b = await runChild([RELOAD_CHILD, 'breakdown', chain.path]);
  const res: ReloadResult = {
    blocks: chain.blocks, chainBytes: chain.bytes, generateMs: chain.ms, trials,
    totalMs: median(trials.map((t) => t.totalMs)),
    cpuMs: median(trials.map((t) => t.cpuMs)),
    breakdown: { readMs: b.readMs as number, parseMs: b.parseMs as number, replayMs: b.replayMs as number, verifyMs: b.verifyMs as number, dictMs: b.dictMs as number },
  };
  const bd = res.breakdown!;
  o.log(`reload: ${fmt.int(chain.blocks)} blocks (${(chain.bytes / 2 ** 20).toFixed(1)} MiB chain.log): loadState + dictionary ${fmt.int(res.totalMs)} ms (median of ${trials.length}: ${trials.map((t) => fmt.int(t.totalMs)).join(', ')}; CPU ${fmt.int(res.cpuMs)} ms); ` +
    `steps: read ${fmt.ms(bd.readMs)}, parse+crc ${fmt.ms(bd.parseMs)}, replay+hash ${fmt.ms(bd.replayMs)}, verify ${fmt.ms(bd.verifyMs)}, dict ${fmt.ms(bd.dictMs)} ms`);
  const t = trials[0];
  o.log(`reload: memory: peak RSS during the load ${t.hwmMB?.toFixed(0)} MB; heap kept after it ${t.heapRetainedMB.toFixed(0)} MB (${t.bytesPerBlock?.toFixed(0)} bytes per block)`);
  res.checkpoint = await runCheckpointRestart(o, chain);
  return res;
}

/** The chain as a node's folder: one full start that writes blocks.dat and a checkpoint, then restarts from it. */
async function runCheckpointRestart(o: BenchOptions, chain: GeneratedChain): Promise<CheckpointRestartResult> {
  const dir = path.join(path.dirname(chain.path), 'checkpointed-node');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(chain.path, path.join(dir, 'chain.log'));
  o.progress(`reload: first start of a ${fmt.int(chain.blocks)}-block folder (full replay, writes blocks.dat and a checkpoint)`);
  const p = await runChild([RELOAD_CHILD, 'prepare', dir]);
  const ck = p.checkpoint as { ms: number; bytes: number };
  const trials: CheckpointRestartResult['trials'] = [];
  for (let i = 0; i < o.reloadTrials; i++) {
    o.progress(`reload: restart from the checkpoint, trial ${i + 1}/${o.reloadTrials}`);
    const r = await runChild(['--expose-gc', RELOAD_CHILD, 'restart', dir]);
    if (r.fromCheckpoint !== chain.blocks || r.decided !== chain.blocks || r.tampered) throw new Error(`restart from the checkpoint: ${JSON.stringify(r)}`);
    trials.push({ totalMs: r.totalMs as number, cpuMs: r.cpuMs as number, hwmMB: r.hwmMB as number | null, heapRetainedMB: r.heapRetainedMB as number });
  }
  o.progress('reload: npm run verify on the folder');
  const v = await runChild([RELOAD_CHILD, 'verify', dir]);
  if (!v.ok || v.decided !== chain.blocks) throw new Error(`verify: ${JSON.stringify(v)}`);
  const hwms = trials.map((t) => t.hwmMB).filter((x): x is number => x !== null);
  const res: CheckpointRestartResult = {
    restartMs: median(trials.map((t) => t.totalMs)), cpuMs: median(trials.map((t) => t.cpuMs)), trials, hwmMB: hwms.length ? Math.max(...hwms) : null,
    prepareMs: p.totalMs as number, writeMs: ck.ms, checkpointBytes: ck.bytes, appendMs: p.appendMs as number,
    blocksDatBytes: p.blocksDatBytes as number, chainBytes: p.chainBytes as number,
    verify: { ms: v.ms as number, hwmMB: v.hwmMB as number | null, ok: true },
  };
  o.log(`reload: from a checkpoint at depth ${fmt.int(chain.blocks)}: restart ${fmt.int(res.restartMs)} ms (median of ${trials.length}: ${trials.map((t) => fmt.int(t.totalMs)).join(', ')}; CPU ${fmt.int(res.cpuMs)} ms), peak RSS ${res.hwmMB?.toFixed(0)} MB, heap kept ${trials[0].heapRetainedMB.toFixed(0)} MB; ` +
    `the first start without one ${fmt.int(res.prepareMs)} ms, then blocks.dat written in ${fmt.int(res.appendMs)} ms (${(res.blocksDatBytes / 2 ** 20).toFixed(1)} MiB) and the checkpoint in ${fmt.ms(res.writeMs)} ms (${fmt.int(res.checkpointBytes)} bytes); ` +
    `disk per block: chain.log ${fmt.int(res.chainBytes / chain.blocks)} + blocks.dat ${fmt.int(res.blocksDatBytes / chain.blocks)} bytes; ` +
    `npm run verify of the folder: ${fmt.int(res.verify!.ms)} ms, peak RSS ${res.verify!.hwmMB?.toFixed(0)} MB`);
  return res;
}

async function runRss(o: BenchOptions, root: string, chain: GeneratedChain): Promise<RssResult> {
  // (A checkpoint at most every `blocks` blocks, so that the first start writes one however short the chain.)
  const cluster = await ChainkvCluster.create({ dir: path.join(root, `rss-${chain.blocks}`), clients: 64, nodeArgs: ['--checkpoint-blocks', String(Math.min(100_000, chain.blocks))] });
  const ids = cluster.config.nodes.map((_, i) => i + 1);
  for (const id of ids) fs.copyFileSync(chain.path, path.join(cluster.dataDir(id), 'chain.log'));
  try {
    // One at a time: each start is then what restarting one node costs (not five sharing the cores).
    const startEach = async (what: string) => {
      o.progress(`rss: ${what} 5 nodes on a ${fmt.int(chain.blocks)}-block chain`);
      const offsets = ids.map((id) => (fs.existsSync(cluster.logPath(id)) ? fs.statSync(cluster.logPath(id)).size : 0));
      const starts: { readyMs: number }[] = [];
      for (const id of ids) starts.push(await cluster.startNode(id));
      const startMs = Object.fromEntries(ids.map((id, i) => [`P${id}`, starts[i].readyMs]));
      const afterLoadMB = Object.fromEntries(ids.map((id) => [`P${id}`, procMemory(cluster.pid(id)!)?.hwmMB ?? NaN]));
      const nodeLoadMs: Record<string, number> = {};
      ids.forEach((id, i) => {
        const m = cluster.grepLog(id, (l) => l.includes('[store] loaded'), offsets[i]).map((l) => /in ([0-9]+) ms/.exec(l)).find(Boolean);
        if (m) nodeLoadMs[`P${id}`] = Number(m[1]);
      });
      return { startMs, afterLoadMB, nodeLoadMs, offsets };
    };
    // The first start replays the whole chain.log and writes blocks.dat and a checkpoint; the
    // numbers that count are those of the restart from that checkpoint.
    const first = await startEach('first start (full replay) of');
    o.progress('rss: waiting for every node to write blocks.dat and a checkpoint');
    const deadline = performance.now() + 600_000;
    while (!ids.every((id, i) => cluster.grepLog(id, (l) => l.includes('[store] checkpoint at depth'), first.offsets[i]).length > 0)) {
      if (performance.now() > deadline) throw new Error('the nodes wrote no checkpoint within 600 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const id of ids) await cluster.stopNode(id);
    const { startMs, afterLoadMB, nodeLoadMs } = await startEach('restart (from the checkpoint) of');
    const firstStart = { afterLoadMB: first.afterLoadMB, startMs: first.startMs, nodeLoadMs: first.nodeLoadMs };
    let load: RunResult | undefined;
    if (o.rssSeconds > 0) {
      const clients = await cluster.connectClients();
      try {
        await cluster.elect();
        await cluster.warmUp(clients);
        load = await runClosedLoop({ system: `chainkv (${fmt.int(chain.blocks)}-block chain)`, clients, seconds: o.rssSeconds, keys: o.keys, seed: 99, progress: o.progress });
      } finally {
        await closeAll(clients);
      }
    }
    const peakMB = Object.fromEntries(ids.map((id) => [`P${id}`, procMemory(cluster.pid(id)!)?.hwmMB ?? NaN]));
    const r: RssResult = { blocks: chain.blocks, afterLoadMB, peakMB, maxPeakMB: Math.max(...Object.values(peakMB)), nodeLoadMs, startMs, load, firstStart };
    o.log(`rss: at ${fmt.int(chain.blocks)} blocks, first start (full replay): peak RSS ${mbList(firstStart.afterLoadMB)} MB, loaded in ${Object.values(firstStart.nodeLoadMs).join(', ')} ms`);
    o.log(`rss: at ${fmt.int(chain.blocks)} blocks, restarted from a checkpoint: peak RSS (VmHWM) after load: ${mbList(afterLoadMB)} MB; after ${o.rssSeconds} s of 64 clients: ${mbList(peakMB)} MB` +
      (load ? ` (${fmt.int(load.opsPerSec)} ops/s, p50 ${fmt.ms(load.latency.p50Ms)} ms)` : ''));
    o.log(`rss: node start on ${fmt.int(chain.blocks)} blocks: listening after ${Object.values(startMs).map((v) => fmt.int(v)).join(', ')} ms; the nodes' own "[store] loaded" times ${Object.values(nodeLoadMs).join(', ')} ms`);
    return r;
  } finally {
    await cluster.stopAll();
  }
}

function targets(res: BenchResults, o: BenchOptions): Target[] {
  const t: Target[] = [];
  const scaled = o.quick ? 'quick run: not comparable to the targets' : undefined;
  // The throughput targets compare like with like: secure against secure when both ran, else plain against plain.
  const ratio = (n: number) => res.secureRatios.find((r) => r.clients === n) ?? res.ratios.find((r) => r.clients === n);
  const against = (n: number) => (res.secureRatios.some((r) => r.clients === n) ? 'etcd TLS' : 'etcd');
  const ck = (n: number) => pickRun(res.chainkv, n);
  const noEtcd = { measured: 'no etcd run to compare with', ok: null };
  const r3 = ratio(3);
  if (r3) t.push({ name: 'throughput, 3 clients', target: `>= 1.5x ${against(3)}`, measured: fmt.ratio(r3.throughput), ok: r3.throughput >= 1.5, note: scaled });
  else if (ck(3)) t.push({ name: 'throughput, 3 clients', target: '>= 1.5x etcd', ...noEtcd });
  const c3 = ck(3);
  if (c3) t.push({ name: 'p50 latency, 3 clients', target: '<= 1 ms', measured: `${fmt.ms(c3.latency.p50Ms)} ms`, ok: c3.latency.p50Ms <= 1, note: scaled });
  const r64 = ratio(64);
  if (r64) t.push({ name: 'throughput, 64 clients', target: `>= 1.0x ${against(64)}`, measured: fmt.ratio(r64.throughput), ok: r64.throughput >= 1.0, note: scaled });
  else if (ck(64)) t.push({ name: 'throughput, 64 clients', target: '>= 1.0x etcd', ...noEtcd });
  if (res.catchup) {
    const note = res.catchup.blocksBehind < 10_000 ? `only ${fmt.int(res.catchup.blocksBehind)} blocks behind` : scaled;
    t.push({ name: `catch-up of ${fmt.int(res.catchup.blocksBehind)} blocks`, target: '<= 2 s for 10,000', measured: `${fmt.int(res.catchup.catchUpMs)} ms`, ok: res.catchup.catchUpMs <= 2000, note });
  }
  if (res.reload) {
    const note = res.reload.blocks < 100_000 ? `only ${fmt.int(res.reload.blocks)} blocks` : scaled;
    t.push({ name: `reload of ${fmt.int(res.reload.blocks)} blocks`, target: '<= 1.5 s for 100,000', measured: `${fmt.int(res.reload.totalMs)} ms`, ok: res.reload.totalMs <= 1500, note });
    const ck = res.reload.checkpoint;
    if (ck) {
      const small = res.reload.blocks < 1_000_000 ? `only ${fmt.int(res.reload.blocks)} blocks` : scaled;
      t.push({ name: `restart from checkpoint, ${fmt.int(res.reload.blocks)} blocks`, target: '<= 1.5 s for 1,000,000', measured: `${fmt.int(ck.restartMs)} ms`, ok: ck.restartMs <= 1500, note: small });
      if (ck.hwmMB !== null) t.push({ name: `restart peak RSS, ${fmt.int(res.reload.blocks)} blocks`, target: '<= 200 MB', measured: `${ck.hwmMB.toFixed(0)} MB`, ok: ck.hwmMB <= 200, note: small });
    }
  }
  for (const rss of res.rss ?? []) {
    const note = rss.blocks < 100_000 ? `only ${fmt.int(rss.blocks)} blocks` : scaled;
    t.push({ name: `peak RSS per node at ${fmt.int(rss.blocks)} blocks`, target: '<= 150 MB', measured: `${rss.maxPeakMB.toFixed(0)} MB`, ok: rss.maxPeakMB <= 150, note });
  }
  const rssRuns = res.rss ?? [];
  if (rssRuns.length >= 2) {
    const [small, big] = [rssRuns[0], rssRuns[rssRuns.length - 1]];
    const growth = big.maxPeakMB / small.maxPeakMB;
    t.push({ name: `RSS flat: ${fmt.int(small.blocks)} -> ${fmt.int(big.blocks)} blocks`, target: '<= 1.2x (flat)', measured: `${small.maxPeakMB.toFixed(0)} -> ${big.maxPeakMB.toFixed(0)} MB (${fmt.ratio(growth)})`, ok: growth <= 1.2, note: scaled });
  }
  const inst = res.install;
  if (inst) {
    const small = inst.blocks < 1_000_000 ? `only ${fmt.int(inst.blocks)} blocks` : scaled;
    t.push({ name: `serving ${fmt.int(inst.blocks)} blocks behind`, target: '<= 10 s for 1,000,000', measured: `${(inst.servingMs / 1000).toFixed(2)} s (backfill ${(inst.backfillMs / 1000).toFixed(1)} s)`, ok: inst.servingMs <= 10_000, note: small });
  }
  const big = res.bigRestart;
  if (big) {
    const small = big.blocks < 10_000_000 ? `only ${fmt.int(big.blocks)} blocks` : scaled;
    t.push({ name: `restart from checkpoint, ${fmt.int(big.blocks)} blocks`, target: '<= 2 s for 10,000,000', measured: `${fmt.int(big.restartMs)} ms`, ok: big.restartMs <= 2000, note: small });
    if (big.hwmMB !== null) t.push({ name: `restart peak RSS, ${fmt.int(big.blocks)} blocks`, target: '<= 200 MB', measured: `${big.hwmMB.toFixed(0)} MB`, ok: big.hwmMB <= 200, note: small });
  }
  return t;
}

export function summaryText(res: BenchResults): string {
  const m = res.machine;
  const lines: string[] = [];
  lines.push('', `=== chainkv benchmark summary ===`);
  if (m.loadAvg[0] > m.nproc / 2) lines.push(`WARNING: the machine was busy when the bench started (load average ${m.loadAvg.join(' ')} on ${m.nproc} CPUs): numbers are noisy`);
  lines.push(`machine: ${m.nproc} x ${m.cpuModel}, ${m.memGiB} GiB, ${m.kernel}, node ${m.node}, ${m.date}, load average at start ${m.loadAvg.join(' ')}`);
  if (res.etcdInfo && 'version' in res.etcdInfo) lines.push(`etcd: ${res.etcdInfo.version} (${res.etcdInfo.bin})`);
  else if (res.etcdInfo && 'skipped' in res.etcdInfo) lines.push(`etcd: ${res.etcdInfo.skipped}`);
  lines.push(`workload: closed loop, 50% put / 50% get, ${fmt.int(res.options.keys)} keys, values like {"phone_number":"111-222-3333"}, ${res.options.seconds} s per run` +
    (res.options.repeat > 1 ? `, ${res.options.repeat} runs each (alternating), the median by ops/s shown` : ''));
  if (res.fsync) lines.push(`disk fsync floor (append ${res.fsync.bytes} B + fsync, ${res.fsync.samples} samples): median ${fmt.ms(res.fsync.medianMs)} ms, p99 ${fmt.ms(res.fsync.latency.p99Ms)} ms`);
  for (const m of res.messageFloors ?? (res.messageFloor ? [res.messageFloor] : [])) lines.push(messageFloorLine(m));
  const rows: RunResult[] = [];
  for (const n of res.options.clients) {
    for (const runs of [res.chainkv, res.etcdTls, res.chainkvPlain, res.etcd]) {
      const r = pickRun(runs, n);
      if (r) rows.push(r);
    }
  }
  if (rows.length) lines.push('', runTable(rows));
  if (res.secureRatios.length) {
    lines.push('', 'secure vs secure (chainkv CurveZMQ / etcd TLS):', table(['clients', 'ops/s ratio', 'p50 ratio'],
      res.secureRatios.map((r) => [String(r.clients), fmt.ratio(r.throughput), fmt.ratio(r.p50)]), [true, true, true]));
  }
  if (res.ratios.length) {
    lines.push('', 'plain vs plain (chainkv --insecure / etcd http):', table(['clients', 'ops/s ratio', 'p50 ratio'],
      res.ratios.map((r) => [String(r.clients), fmt.ratio(r.throughput), fmt.ratio(r.p50)]), [true, true, true]));
  }
  if (res.securityCost.length) {
    lines.push('', 'cost of security (secure ops/s / plain ops/s):', table(['clients', 'chainkv CurveZMQ/plain', 'etcd TLS/http'],
      res.securityCost.map((r) => [String(r.clients), r.chainkv === undefined ? '-' : fmt.ratio(r.chainkv), r.etcd === undefined ? '-' : fmt.ratio(r.etcd)]), [true, true, true]));
  }
  if (res.chainkvLeaderLog || res.chainkvPeakRssMB) lines.push('');
  if (res.chainkvLeaderLog) {
    const st = res.chainkvLeaderLog;
    lines.push(`chainkv leader's log: ${st.blocksPerAccept.toFixed(2)} blocks per accept record (${fmt.int(st.acceptedBlocks)} blocks in ${fmt.int(st.accepts)} accept records)`);
  }
  if (res.chainkvPeakRssMB) lines.push(`chainkv peak RSS per node after the runs: ${Object.entries(res.chainkvPeakRssMB).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')} MB`);
  if (res.etcdInfo && 'peakRssMB' in res.etcdInfo && res.etcdInfo.peakRssMB) lines.push(`etcd peak RSS per member after the runs: ${Object.entries(res.etcdInfo.peakRssMB).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')} MB`);
  if (res.catchup) lines.push(`catch-up: ${res.catchup.node} restarted ${fmt.int(res.catchup.blocksBehind)} blocks behind: at the leader's depth after ${fmt.int(res.catchup.catchUpMs)} ms (process start ${fmt.int(res.catchup.startMs)} ms + repair ${fmt.int(res.catchup.repairMs)} ms)`);
  if (res.reload) lines.push(`reload: ${fmt.int(res.reload.blocks)}-block chain loaded, verified and the dictionary rebuilt in ${fmt.int(res.reload.totalMs)} ms (CPU ${fmt.int(res.reload.cpuMs)} ms; fresh process, median of ${res.reload.trials.length})`);
  const ck = res.reload?.checkpoint;
  if (ck) lines.push(`restart from a checkpoint: ${fmt.int(res.reload!.blocks)}-block chain ready to vote in ${fmt.int(ck.restartMs)} ms (CPU ${fmt.int(ck.cpuMs)} ms), peak RSS ${ck.hwmMB?.toFixed(0) ?? '?'} MB (before: ${fmt.int(res.reload!.totalMs)} ms, CPU ${fmt.int(res.reload!.cpuMs)} ms, ${res.reload!.trials[0].hwmMB?.toFixed(0) ?? '?'} MB); checkpoint write ${fmt.ms(ck.writeMs)} ms, ${fmt.int(ck.checkpointBytes)} bytes; disk per block ${fmt.int(ck.chainBytes / res.reload!.blocks)} (chain.log) + ${fmt.int(ck.blocksDatBytes / res.reload!.blocks)} (blocks.dat) bytes`);
  for (const rss of res.rss ?? []) {
    lines.push(`rss: peak per node at ${fmt.int(rss.blocks)} blocks, restarted from a checkpoint, after the 64-client run${rss.load ? ` (${fmt.int(rss.load.opsPerSec)} ops/s)` : ''}: max ${rss.maxPeakMB.toFixed(0)} MB (${Object.entries(rss.peakMB).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')})` +
      (rss.firstStart ? `; the first start (full replay) peaked at ${Math.max(...Object.values(rss.firstStart.afterLoadMB)).toFixed(0)} MB` : ''));
  }
  const big = res.bigRestart;
  if (big) lines.push(`bigrestart: a ${fmt.int(big.blocks)}-block node ready to vote from its checkpoint in ${fmt.int(big.restartMs)} ms (CPU ${fmt.int(big.cpuMs)} ms), peak RSS ${big.hwmMB?.toFixed(0) ?? '?'} MB; disk ${big.diskBytesPerBlock.toFixed(0)} bytes per block`);
  if (res.install) lines.push(`install: a node ${fmt.int(res.install.blocks)} blocks behind served at the leader's depth after ${(res.install.servingMs / 1000).toFixed(2)} s (listening after ${(res.install.readyMs / 1000).toFixed(2)} s); its backfill of every block below the checkpoint completed after ${(res.install.backfillMs / 1000).toFixed(1)} s`);
  const cc = res.checkpointCost;
  if (cc) lines.push(`ckptcost: ${cc.clients} clients with a checkpoint every ${fmt.int(cc.everyBlocks)} blocks: ${fmt.ratio(cc.throughputRatio)} the default policy's throughput; ${cc.checkpoints.count} checkpoints, ${fmt.ms(cc.checkpoints.medianMs)} ms median each (max ${fmt.ms(cc.checkpoints.maxMs)} ms)`);
  if (res.targets.length) {
    lines.push('', 'targets:');
    for (const t of res.targets) {
      const mark = t.ok === null ? '[ -- ]' : t.ok ? '[ ok ]' : '[MISS]';
      lines.push(`  ${mark} ${t.name.padEnd(36)} target ${t.target.padEnd(22)} measured ${t.measured}${t.note ? `  (${t.note})` : ''}`);
    }
  }
  if (res.profiles?.length) {
    lines.push('', 'CPU profiles of the chainkv nodes:');
    for (const p of res.profiles) lines.push(profileText(p));
  }
  if (res.errors.length) lines.push('', 'errors:', ...res.errors.map((e) => `  ${e}`));
  return lines.join('\n');
}

export async function runBench(o: BenchOptions): Promise<BenchResults> {
  const res: BenchResults = {
    machine: machineInfo(),
    options: { clients: o.clients, seconds: o.seconds, repeat: o.repeat, keys: o.keys, quick: o.quick, catchupBlocks: o.catchupBlocks, reloadBlocks: o.reloadBlocks },
    chainkv: [], chainkvPlain: [], etcd: [], etcdTls: [], ratios: [], secureRatios: [], securityCost: [], targets: [], errors: [],
  };
  if (o.tmp) fs.mkdirSync(o.tmp, { recursive: true });
  const root = makeTempDir('chainkv-bench-', o.tmp ?? os.tmpdir());
  if (o.keep) keepTempDirs();
  if (res.machine.loadAvg[0] > res.machine.nproc / 2) {
    o.log(`WARNING: this machine is busy (load average ${res.machine.loadAvg[0]} on ${res.machine.nproc} CPUs): other programs share the CPUs and disk, expect noisy numbers`);
  }
  o.log(`chainkv bench: ${res.machine.nproc} x ${res.machine.cpuModel}, node ${res.machine.node}, temp dir ${root}${o.keep ? ' (kept)' : ''}`);
  const step = async (name: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      const msg = `${name}: ${(e as Error).message}`;
      res.errors.push(msg);
      o.log(`ERROR ${msg}`);
    }
  };
  try {
    if (o.parts.has('fsync')) {
      await step('fsync', async () => {
        res.fsync = measureFsync(root, o.fsyncSamples);
        o.log(`fsync floor: append ${res.fsync.bytes} B + fsync, median ${fmt.ms(res.fsync.medianMs)} ms (p99 ${fmt.ms(res.fsync.latency.p99Ms)} ms, ${res.fsync.samples} samples)`);
      });
    }
    if (o.parts.has('msgfloor')) {
      await step('message floor', async () => {
        res.messageFloors = [];
        for (const mode of ['plain', 'curve', 'curve+mac'] as const) {
          o.progress(`message floor (${mode}): ZeroMQ ping-pong between two Node processes`);
          const m = await measureMessageFloor(o.quick ? 2000 : 20_000, mode);
          res.messageFloors.push(m);
          if (mode === 'plain') res.messageFloor = m;
          o.log(messageFloorLine(m));
        }
      });
    }
    if (['chainkv', 'chainkv-plain', 'etcd', 'etcd-tls'].some((p) => o.parts.has(p as Part))) await step('comparison', () => runComparison(o, root, res));
    if (o.parts.has('catchup')) await step('catch-up', () => runCatchup(o, root, res));
    const vs = (a: RunResult | undefined, b: RunResult | undefined) => (a && b ? { throughput: a.opsPerSec / b.opsPerSec, p50: a.latency.p50Ms / b.latency.p50Ms } : null);
    for (const n of o.clients) {
      const plain = vs(pickRun(res.chainkvPlain, n), pickRun(res.etcd, n));
      if (plain) res.ratios.push({ clients: n, ...plain });
      const secure = vs(pickRun(res.chainkv, n), pickRun(res.etcdTls, n));
      if (secure) res.secureRatios.push({ clients: n, ...secure });
      const ck = vs(pickRun(res.chainkv, n), pickRun(res.chainkvPlain, n));
      const et = vs(pickRun(res.etcdTls, n), pickRun(res.etcd, n));
      if (ck || et) res.securityCost.push({ clients: n, chainkv: ck?.throughput, etcd: et?.throughput });
    }
    const chains = new Map<number, GeneratedChain>();
    const chainOf = (blocks: number): GeneratedChain => {
      let chain = chains.get(blocks);
      if (!chain) {
        o.progress(`generating a ${fmt.int(blocks)}-block chain`);
        chain = generateChain(path.join(root, `chain-${blocks}.log`), blocks, { keys: o.keys });
        o.log(`generated a valid ${fmt.int(chain.blocks)}-block chain.log (${(chain.bytes / 2 ** 20).toFixed(1)} MiB) in ${fmt.int(chain.ms)} ms`);
        chains.set(blocks, chain);
      }
      return chain;
    };
    if (o.parts.has('reload')) await step('reload', async () => void (res.reload = await runReload(o, chainOf(o.reloadBlocks))));
    if (o.parts.has('rss')) {
      for (const blocks of o.rssBlocks) await step(`rss at ${blocks} blocks`, async () => void (res.rss ??= []).push(await runRss(o, root, chainOf(blocks))));
    }
    if (o.parts.has('bigrestart')) await step('bigrestart', async () => void (res.bigRestart = await runBigRestart(o, root)));
    if (o.parts.has('ckptcost')) await step('ckptcost', async () => void (res.checkpointCost = await runCheckpointCost(o, root)));
    if (o.parts.has('install')) await step('install', async () => void (res.install = await measureInstall({ blocks: o.installBlocks, keys: o.keys, dir: path.join(root, 'install'), log: o.log })));
    if (o.cpuProfDir && fs.existsSync(o.cpuProfDir)) {
      const files = fs.readdirSync(o.cpuProfDir).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => path.join(o.cpuProfDir!, f));
      res.profiles = files.map((f) => summarizeProfile(f));
    }
  } finally {
    if (res.errors.length > 0 && !o.keep) {
      keepTempDirs();
      o.log(`the temp dir ${root} is kept for inspection (node logs: chainkv/P*.log, etcd/m*.log)`);
    }
    await cleanupAll();
  }
  res.targets = targets(res, o);
  return res;
}

function messageFloorLine(m: MessageFloorResult): string {
  return `message floor${m.mode && m.mode !== 'plain' ? ` (${m.mode})` : ''} (ZeroMQ DEALER -> ROUTER between two Node processes, ${fmt.int(m.roundTrips)} round trips): RTT median ${fmt.ms(m.rtt.p50Ms)} ms, p99 ${fmt.ms(m.rtt.p99Ms)} ms; CPU ${Math.round(m.cpuUsPerMessage)} µs per one-way message (both processes, all threads)`;
}

/** For --help: is etcd here? */
export function etcdNote(): string {
  const e = findEtcd();
  return e ? `etcd found: ${e.version} (${e.bin})` : 'etcd not found: the etcd runs will be skipped (Debian: apt-get install etcd-server)';
}

