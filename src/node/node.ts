/**
 * One node process: the consensus core wired to the disk store, the ZeroMQ transport and a
 * clock. Everything here is plumbing; every decision is the core's.
 *
 * The host loop (batching, group commit, fsync-then-send) is `src/host/host-loop.ts`, the same
 * code the simulator runs. Here it gets the real clock, sockets and disk. The fsync runs inline,
 * on the event loop: whatever arrives meanwhile queues in ZeroMQ and is handled as one batch in
 * the next turn, so under load one fsync serves many messages. (An fsync in libuv's thread pool
 * costs two more thread wake-ups per fsync; on this 2-core machine that measured 5-15% fewer
 * operations per second.)
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Block } from '../../messages';
import { ClusterConfig, endpointUrl } from '../config';
import { CoreConfig, defaultCoreConfig, Replica, Role } from '../core/replica';
import { HostLoop } from '../host/host-loop';
import { DurableRecord } from '../core/durable';
import { ChainStore } from '../store/chain-store';
import { BlockFile } from '../store/block-file';
import { missingInstallRecord } from '../store/chain-store';
import { checkpointStateMachine, CheckpointPolicy, DEFAULT_CHECKPOINT_POLICY, StoreUpkeep } from '../store/checkpoint';
import { clusterId, openChainStore } from '../store/open';
import { Transport } from '../net/transport';
import { chainTail, EventReporter, kvSample } from '../events/reporter';
import { LinkSecurity } from '../security/link-security';
import { DirLock } from './dir-lock';
import { KvSnapshot } from './kv-snapshot';

export interface NodeOptions {
  id: number;
  config: ClusterConfig;
  /** Folder for this node's files (persist/P<id> by default). */
  dataDir: string;
  delayMs: number;
  /** Print every message sent and received. */
  traceMessages: boolean;
  /** Where log lines go. */
  log: (line: string) => void;
  /** Fsync (off only for experiments; the benchmark keeps it on). */
  fsync?: boolean;
  core?: Partial<CoreConfig>;
  /** With --events: where the structured event lines go (src/events/reporter.ts; the web view). */
  events?: (line: string) => void;
  /** CurveZMQ with this node's key ring, or plain (`--insecure`). */
  security: LinkSecurity;
  /** When to checkpoint and how many decided blocks to keep in memory (store/checkpoint.ts). */
  checkpoint?: Partial<CheckpointPolicy>;
}

/** What `status` reports (one JSON line with --json); the cluster console and the benchmark read it. */
export interface NodeStatus {
  node: string;
  role: Role;
  /** The node it believes leads (itself when leader), or null for unknown. */
  leader: string | null;
  ballot: string | null;
  promised: string | null;
  /** Decided blocks. */
  depth: number;
  tentative: number;
  queue: number;
  failedLinks: string[];
  /** Fast catch-up: a checkpoint fetch under way, and the blocks below an installed one still being backfilled. */
  catchUp?: CatchUpStatus;
}

export interface BlockView {
  depth: number;
  /** Null: a decided block not held yet (below an installed checkpoint, being backfilled) up to `to`. */
  block: Block | null;
  hash: string;
  status: 'decided' | 'tentative' | 'backfilling';
  to?: number;
}

import { CatchUpStatus } from './catch-up';
export { CatchUpStatus, catchUpText } from './catch-up';

const TICK_MS = 10;

export class ChainNode {
  readonly name: string;
  replica!: Replica;
  private transport!: Transport;
  private store!: ChainStore;
  private blockFile!: BlockFile;
  private upkeep!: StoreUpkeep;
  private voteFloor = 0;
  private kv!: KvSnapshot;
  private host!: HostLoop;
  private ticker: NodeJS.Timeout | null = null;
  private stopped = false;
  private lock: DirLock | null = null;
  private reporter: EventReporter | null = null;

  constructor(readonly o: NodeOptions) {
    this.name = `P${o.id}`;
  }

  /** Loads the chain from disk (verifying it), binds the socket and starts the clock. */
  async start(): Promise<void> {
    const o = this.o;
    fs.mkdirSync(o.dataDir, { recursive: true });
    this.lock = DirLock.take(o.dataDir);
    const t0 = Date.now();
    const identity = { cluster: clusterId(o.config.nodes), node: this.name };
    const { report, store, disk, blocks, checkpoints, sm } = openChainStore({ dir: o.dataDir, identity });
    for (const w of report.warnings) o.log(`[store] ${w}`);
    this.store = store;
    this.blockFile = blocks;
    const lost = missingInstallRecord(report);
    if (lost) {
      this.persist([lost], o.fsync !== false);
      o.log(`[store] wrote again the install record of checkpoint ${report.checkpoint!.depth} (a crash came between the checkpoint and its record)`);
    }
    this.voteFloor = report.voteFloor;
    const core: CoreConfig = { ...defaultCoreConfig(o.id, o.delayMs, o.config.nodes.length), ...o.core };
    this.replica = new Replica(core, report.state, (() => {
      const buf = new Uint32Array(256);
      let i = buf.length;
      return () => {
        if (i === buf.length) { crypto.getRandomValues(buf); i = 0; }
        return buf[i++];
      };
    })(), { voteFloor: report.voteFloor, sm: sm ?? (report.checkpoint ? checkpointStateMachine(report.checkpoint) : undefined) });
    const st = report.state;
    const from = report.checkpoint ? `from checkpoint ${report.checkpoint.depth} + ` : '';
    o.log(`[store] loaded ${from}${report.records} records in ${Date.now() - t0} ms: ${st.commit} decided block(s), ${st.end - st.commit} tentative, promised ${st.promised ?? 'nothing'}; ${report.tampered ? 'kept only the part that verifies' : from ? 'replayed blocks verified against its anchor' : 'chain verified'}`);
    const reconciled = StoreUpkeep.reconcile(blocks, this.replica);
    if (reconciled) o.log(`[store] ${reconciled}`);
    this.upkeep = new StoreUpkeep({
      chain: disk, syncChain: () => this.persist([], o.fsync !== false), blocks, dir: checkpoints,
      policy: { ...DEFAULT_CHECKPOINT_POLICY, ...o.checkpoint }, identity, startedFrom: report.checkpoint, now: () => Date.now(),
      installThresholdBlocks: core.installThresholdBlocks, voteFloor: report.voteFloor,
    });
    const resume = StoreUpkeep.backfillInput(blocks, this.replica);
    this.kv = new KvSnapshot(path.join(o.dataDir, 'kv.json'));
    const kvCheck = this.kv.compare(this.replica.sm.dict, st.commit);
    if (kvCheck) o.log(`[store] ${kvCheck}; the dictionary was rebuilt from the decided chain`);
    this.kv.save(this.replica.sm.dict, st.commit);

    if (o.events) {
      const d = this.replica.durable;
      this.reporter = new EventReporter(this.name, {
        state: () => this.status(),
        chainVersion: () => `${this.replica.commit} ${d.end} ${d.end > 0 ? d.hash(d.end - 1) ?? '' : ''}`,
        chain: () => {
          // (the newest blocks: in memory, or read from blocks.dat; none of a hole being backfilled)
          const from = Math.max(0, d.end - 8);
          const tail = d.range(from, d.end, Infinity, Infinity, () => 0);
          const blocks: Block[] = [];
          const hashes: string[] = [];
          blocks.length = hashes.length = from + tail.length; // (sparse: only the tail is looked at)
          tail.forEach((b, i) => { blocks[from + i] = b; hashes[from + i] = d.hash(from + i) ?? ''; });
          return chainTail(blocks, hashes, this.replica.commit);
        },
        kv: () => kvSample(this.replica.sm.dict),
      }, o.events);
    }
    const reporter = this.reporter;
    const fsync = o.fsync !== false;
    this.host = new HostLoop(this.replica, {
      now: () => Date.now(),
      write: (records) => this.persist(records, false),
      sync: (done) => {
        if (fsync) this.persist([], true);
        done();
      },
      send: (s) => this.transport.send(s.to, s.msg, s.address),
      defer: (fn) => setImmediate(() => {
        fn();
        this.afterTurn();
      }),
      observe: (out) => {
        for (const e of out.events) o.log(e);
        if (reporter) for (const e of out.events) reporter.log(e);
        if (o.traceMessages) for (const e of out.blockEvents) o.log(e);
        if (out.decided.length > 0 || out.install) this.kv.markDirty();
      },
      install: (inst) => this.upkeep.install(this.replica, inst),
      serveCheckpoint: (req) => this.upkeep.serve(this.replica, req),
      backfill: (from, blocks) => {
        const problem = this.upkeep.backfill(this.replica, from, blocks);
        if (problem) o.log(`[store] ${problem}`);
      },
    });
    const peers = new Map<string, string>();
    for (const e of [...o.config.nodes, ...o.config.clients]) peers.set(e.name, endpointUrl(e));
    const me = o.config.nodes[o.id - 1];
    this.transport = new Transport({
      self: this.name,
      bind: `tcp://${me.host === 'localhost' ? '127.0.0.1' : me.host}:${me.port}`,
      peers,
      delayMs: o.delayMs,
      onMessage: (from, msg) => this.host.input({ type: 'message', from, msg }),
      trace: o.traceMessages ? (l) => o.log(l) : undefined,
      warn: (l) => o.log(`[net] ${l}`),
      security: o.security,
      isNode: (name) => o.config.nodes.some((n) => n.name === name),
      observe: reporter ?? undefined,
    });
    await this.transport.start();
    this.transport.connectAll();
    await this.transport.waitForPeers(300, (name) => name.startsWith('P')); // clients need not be up
    this.ticker = setInterval(() => this.host.input({ type: 'tick' }), TICK_MS);
    if (resume) this.host.input(resume); // (a backfill a stop or crash interrupted)
    o.log(`${this.name} listening on ${this.transport.endpoint} (delay ${o.delayMs} ms, ${o.security.mode === 'curve' ? `CurveZMQ, keys in ${o.security.ring.dir ?? 'memory'}` : 'INSECURE plain TCP'})`);
    this.reporter?.start();
  }

  /** The event reporter (--events), for the console's pause and resume lines. */
  get events(): EventReporter | null {
    return this.reporter;
  }

  get links() {
    return this.transport.links;
  }

  /** After each turn's batch: blocks.dat, memory window and checkpoints; kv.json, at most once a second. */
  private afterTurn(): void {
    if (this.stopped) return;
    try {
      const u = this.upkeep.afterTurn(this.replica, this.voteFloor);
      for (const l of u.lines) this.o.log(`[store] ${l}`);
      if (u.checkpoint) this.o.log(`[store] checkpoint at depth ${u.checkpoint.depth}: ${u.checkpoint.bytes} bytes in ${u.checkpoint.ms} ms`);
    } catch (e) {
      this.o.log(`[store] cannot write blocks.dat (${(e as Error).message}); the chain is the source of truth, will retry`);
    }
    const kvError = this.kv.maybeSave(this.replica.sm.dict, this.replica.commit);
    if (kvError) this.o.log(`[store] cannot save kv.json (${kvError}); the chain is the source of truth, will retry`);
  }

  private persist(records: readonly DurableRecord[], sync: boolean): void {
    try {
      this.store.write(records, sync);
    } catch (e) {
      // A record that is not on disk, or an fsync that failed, makes every later promise a lie: stop.
      this.o.log(`[store] FATAL: cannot ${sync ? 'fsync' : 'write'} chain.log: ${(e as Error).message}; stopping`);
      process.exit(70);
    }
  }

  status(): NodeStatus {
    const r = this.replica;
    return {
      node: this.name, role: r.currentRole, leader: r.leader ? `P${r.leader}` : null, ballot: r.ballot?.toString() ?? null,
      promised: r.durable.promised?.toString() ?? null, depth: r.commit, tentative: r.durable.end - r.commit,
      queue: r.pendingOps().length, failedLinks: this.links.failed(), catchUp: r.catchUp,
    };
  }

  /** Blocks held (decided, then tentative). */
  chainEnd(): number {
    return this.replica.durable.end;
  }

  /** The chain as stored here from `from` to `to`: decided blocks, then tentative ones (older ones read from blocks.dat). */
  blocks(from = 0, to = this.chainEnd()): BlockView[] {
    const d = this.replica.durable;
    const hole = this.blockFile.hole;
    const out: BlockView[] = [];
    for (let k = Math.max(0, from); k < Math.min(to, d.end); k++) {
      if (hole && k >= hole.from && k < hole.to && k < d.base) {
        const end = Math.min(to, hole.to);
        out.push({ depth: k, block: null, hash: '', status: 'backfilling', to: end });
        k = end - 1;
        continue;
      }
      const block = d.block(k);
      if (!block) break; // (unreadable: reported by the store)
      out.push({ depth: k, block, hash: d.hash(k)!, status: k < d.commit ? 'decided' : 'tentative' });
    }
    return out;
  }

  /** Stops the clock and the sockets; pending records are written first (a clean stop, not a crash). */
  stop(): void {
    if (this.stopped) return;
    this.host?.flush();
    this.host?.stop();
    if (this.store) this.persist([], this.o.fsync !== false); // a clean stop leaves everything durable
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.reporter?.stop();
    this.transport?.close();
    try {
      this.kv?.save(this.replica.sm.dict, this.replica.commit);
      this.store?.close();
      this.blockFile?.close();
    } catch (e) {
      this.o.log(`[store] on stop: ${(e as Error).message} (the chain is durable; kv.json is rebuilt on start)`);
    }
    this.lock?.release();
  }
}
