/**
 * One node process: the consensus core wired to the disk store, the ZeroMQ transport and a
 * clock. Everything here is plumbing; every decision is the core's.
 *
 * Group commit: the outputs of all steps taken in one turn of the event loop are gathered and
 * their records written with one write. Messages that do not depend on those records (a
 * leader's accepts, decides, replies) leave at once; the others (promises, accepted replies,
 * prepares) wait for the fsync, which runs right there, on the event loop: whatever arrives
 * meanwhile queues in ZeroMQ and is handled as one batch in the next turn, so under load one
 * fsync serves many messages. (An fsync in libuv's thread pool costs two more thread wake-ups
 * per fsync; on this 2-core machine that measured 5-15% fewer operations per second.) Then the
 * core is told (`synced`), so a leader counts its own vote only for blocks that are durable.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Block } from '../../messages';
import { ClusterConfig, endpointUrl } from '../config';
import { CoreConfig, defaultCoreConfig, Input, Outbound, Replica, Role } from '../core/replica';
import { DurableRecord } from '../core/durable';
import { ChainStore, loadState } from '../store/chain-store';
import { FileDisk } from '../store/disk';
import { Transport } from '../net/transport';
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
}

export interface BlockView {
  depth: number;
  block: Block;
  hash: string;
  status: 'decided' | 'tentative';
}

const TICK_MS = 10;

export class ChainNode {
  readonly name: string;
  replica!: Replica;
  private transport!: Transport;
  private store!: ChainStore;
  private kv!: KvSnapshot;
  private ticker: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private inbox: Input[] = [];
  private stopped = false;
  private lock: DirLock | null = null;

  constructor(readonly o: NodeOptions) {
    this.name = `P${o.id}`;
  }

  /** Loads the chain from disk (verifying it), binds the socket and starts the clock. */
  async start(): Promise<void> {
    const o = this.o;
    fs.mkdirSync(o.dataDir, { recursive: true });
    this.lock = DirLock.take(o.dataDir);
    const disk = new FileDisk(path.join(o.dataDir, 'chain.log'));
    const t0 = Date.now();
    const report = loadState(disk);
    for (const w of report.warnings) o.log(`[store] ${w}`);
    this.store = new ChainStore(disk);
    const core: CoreConfig = { ...defaultCoreConfig(o.id, o.delayMs, o.config.nodes.length), ...o.core };
    this.replica = new Replica(core, report.state, (() => {
      const buf = new Uint32Array(256);
      let i = buf.length;
      return () => {
        if (i === buf.length) { crypto.getRandomValues(buf); i = 0; }
        return buf[i++];
      };
    })(), { voteFloor: report.voteFloor });
    const st = report.state;
    o.log(`[store] loaded ${report.records} records in ${Date.now() - t0} ms: ${st.commit} decided block(s), ${st.end - st.commit} tentative, promised ${st.promised ?? 'nothing'}; ${report.tampered ? 'kept only the part that verifies' : 'chain verified'}`);
    this.kv = new KvSnapshot(path.join(o.dataDir, 'kv.json'));
    const kvCheck = this.kv.compare(this.replica.sm.dict, st.commit);
    if (kvCheck) o.log(`[store] ${kvCheck}; the dictionary was rebuilt from the decided chain`);
    this.kv.save(this.replica.sm.dict, st.commit);

    const peers = new Map<string, string>();
    for (const e of [...o.config.nodes, ...o.config.clients]) peers.set(e.name, endpointUrl(e));
    const me = o.config.nodes[o.id - 1];
    this.transport = new Transport({
      self: this.name,
      bind: `tcp://${me.host === 'localhost' ? '127.0.0.1' : me.host}:${me.port}`,
      peers,
      delayMs: o.delayMs,
      onMessage: (from, msg) => this.input({ type: 'message', from, msg }),
      trace: o.traceMessages ? (l) => o.log(l) : undefined,
      warn: (l) => o.log(`[net] ${l}`),
    });
    await this.transport.start();
    this.transport.connectAll();
    await this.transport.waitForPeers(300, (name) => name.startsWith('P')); // clients need not be up
    this.ticker = setInterval(() => this.input({ type: 'tick' }), TICK_MS);
    o.log(`${this.name} listening on ${this.transport.endpoint} (delay ${o.delayMs} ms)`);
  }

  get links() {
    return this.transport.links;
  }

  /** Inputs wait for the end of this event-loop turn, then go to the core as one batch. */
  private input(input: Input): void {
    if (this.stopped) return;
    this.inbox.push(input);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Runs the batch: the core's step, one write, early messages, an fsync, the rest. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.inbox.length === 0) return;
    let inputs = this.inbox;
    this.inbox = [];
    while (inputs.length > 0) {
      const out = this.replica.stepBatch(inputs, Date.now());
      inputs = [];
      for (const e of out.events) this.o.log(e);
      if (this.o.traceMessages) for (const e of out.blockEvents) this.o.log(e);
      if (out.decided.length > 0) this.kv.markDirty();
      this.persist(out.persist, false);
      const late: Outbound[] = [];
      for (const s of out.send) {
        if (s.afterSync) late.push(s);
        else this.transport.send(s.to, s.msg, s.address);
      }
      // Decide tags alone need no fsync (a lost one is re-learned); promises, accepts and learned blocks do.
      if (out.sync || late.length > 0) {
        if (this.o.fsync !== false) this.persist([], true);
        for (const s of late) this.transport.send(s.to, s.msg, s.address);
        inputs = [{ type: 'synced', through: out.seq }];
      }
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
      queue: r.pendingOps().length, failedLinks: this.links.failed(),
    };
  }

  /** The chain as stored here: decided blocks, then tentative ones. */
  blocks(): BlockView[] {
    const d = this.replica.durable;
    return d.log.map((block, depth) => ({ depth, block, hash: d.hashes[depth], status: depth < d.commit ? 'decided' : 'tentative' }));
  }

  /** Stops the clock and the sockets; pending records are written first (a clean stop, not a crash). */
  stop(): void {
    if (this.stopped) return;
    this.flush();
    if (this.store) this.persist([], this.o.fsync !== false); // a clean stop leaves everything durable
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.transport?.close();
    try {
      this.kv?.save(this.replica.sm.dict, this.replica.commit);
      this.store?.close();
    } catch (e) {
      this.o.log(`[store] on stop: ${(e as Error).message} (the chain is durable; kv.json is rebuilt on start)`);
    }
    this.lock?.release();
  }
}
