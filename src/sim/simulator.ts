/**
 * Deterministic fault simulation: five real consensus cores (`Replica`) over a simulated
 * network and in-memory disks, three closed-loop clients (`ClientCore`), one seeded PRNG.
 * A seed replays the exact run. Messages are copied through the real codec, records through
 * the real checksummed record log, and a crash drops (or tears) whatever was not fsynced.
 *
 * A run has two phases: faults (swarm testing: the seed picks which faults and how often),
 * then heal (all links fixed, every node up, no drops) in which liveness is required.
 * Safety properties are checked on every decided block and at the end; see `checkRun`.
 */
import { Accept, AnyMessage, Ballot, ClientReply, NoLeader, decode, describe, encode, OpName } from '../../messages';
import { blockHash, verifyChain } from '../chain';
import { checkLinearizable, HistoryOp } from '../check/linearizability';
import { ClientCore } from '../client/client-core';
import { InvariantError } from '../core/invariant';
import { CoreConfig, Input, Mutation, Outbound, Output, pname, Replica, requestId } from '../core/replica';
import { ChainStore, loadState } from '../store/chain-store';
import { DurableRecord } from '../core/durable';
import { MemDisk } from '../store/disk';
import { Prng } from './prng';

export interface SimOptions {
  seed: number;
  /** Keep every trace line (otherwise only the last `traceTail`). */
  trace?: boolean;
  traceTail?: number;
  mutation?: Mutation;
  /** Length of the fault phase, simulated ms. */
  faultMs?: number;
  /** Time allowed after the heal for every client to finish and every chain to converge. */
  healMs?: number;
  /** Operations each client must complete after the heal. */
  opsAfterHeal?: number;
  /** The core's lazyMs (default 30; 0 sends held-back blocks and owed decides on every tick). */
  lazyMs?: number;
}

export interface Violation {
  property: 'agreement' | 'validity' | 'linearizability' | 'durability' | 'at-most-once' | 'liveness' | 'invariant' | 'vacuous';
  detail: string;
  at: number;
}

export interface SimStats {
  simMs: number;
  messages: number;
  dropped: number;
  crashes: number;
  elections: number;
  decided: number;
  opsCompleted: number;
  opsDuringFaults: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  violation?: Violation;
  /** The swarm this seed drew (fault kinds and rates). */
  swarm: string;
  trace: string[];
  stats: SimStats;
}

const NODES = 5;
const CLIENTS = 3;
const TICK_MS = 10;
const KEYS = ['k0', 'k1', 'k2'];

interface Swarm {
  baseDelayMs: number;
  jitterMs: number;
  drop: number;
  dup: number;
  crashes: number;
  precisecrashes: number;
  partitions: number;
  linkFlaps: number;
  duel: number;
  clientTimeoutMs: number;
  /** Upper bound of an fsync's duration. */
  diskMs: number;
}

function drawSwarm(r: Prng): Swarm {
  return {
    baseDelayMs: r.int(1, 20),
    jitterMs: r.chance(0.7) ? r.int(0, 60) : 0,
    drop: r.chance(0.5) ? r.float() * 0.3 : 0,
    dup: r.chance(0.4) ? r.float() * 0.5 : 0,
    // Some seeds get a crash storm: many crashes with quick restarts, which is where forgotten state bites.
    crashes: r.chance(0.25) ? r.int(8, 20) : r.chance(0.6) ? r.int(1, 5) : 0,
    precisecrashes: r.chance(0.5) ? r.int(1, 6) : 0,
    partitions: r.chance(0.6) ? r.int(1, 4) : 0,
    linkFlaps: r.chance(0.5) ? r.int(1, 8) : 0,
    duel: r.chance(0.5) ? r.float() * 0.6 : 0,
    clientTimeoutMs: r.int(300, 900),
    diskMs: r.pick([0, 1, 3, 10, 60]),
  };
}

function swarmText(s: Swarm): string {
  return `delay=${s.baseDelayMs}+${s.jitterMs}ms drop=${s.drop.toFixed(2)} dup=${s.dup.toFixed(2)} crashes=${s.crashes} precise-crashes=${s.precisecrashes} partitions=${s.partitions} link-flaps=${s.linkFlaps} duel=${s.duel.toFixed(2)} client-timeout=${s.clientTimeoutMs}ms fsync<=${s.diskMs}ms`;
}

type Event =
  | { type: 'deliver'; from: string; to: string; bytes: string }
  | { type: 'tick' }
  | { type: 'fault'; run: () => void }
  | { type: 'synced'; node: number; incarnation: number }
  | { type: 'client-next'; client: number };

interface Scheduled {
  at: number;
  seq: number;
  ev: Event;
}

/** A binary min-heap on (time, insertion order): ties run in the order they were scheduled. */
class EventQueue {
  private heap: Scheduled[] = [];
  private seq = 0;
  get size(): number { return this.heap.length; }
  push(at: number, ev: Event): void {
    const h = this.heap;
    h.push({ at, seq: this.seq++, ev });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[i], h[p])) { [h[i], h[p]] = [h[p], h[i]]; i = p; } else break;
    }
  }
  pop(): Scheduled | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
const less = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

class StopRun extends Error {}

interface SimNode {
  id: number;
  disk: MemDisk;
  store: ChainStore;
  replica: Replica | null;
  /**
   * Crash right after the next step that persists a record of this type (any: null), before
   * it sends: mid-proposal, after a promise, between a tentative write and its accepted reply.
   */
  crashAfterPersist: false | { type: DurableRecord['t'] | null | 'fsync' };
  /** Bumped on every restart, so a disk completion scheduled before a crash is ignored. */
  incarnation: number;
  /** Written but not yet fsynced: outputs waiting for the disk, with the messages that must wait too. */
  waiting: { seq: number; late: Outbound[] }[];
  syncInFlight: boolean;
  /** The promise this node's disk held at its last completed fsync: a restart must remember at least that. */
  syncedPromise: Ballot | null;
}

interface SimClient {
  core: ClientCore;
  name: string;
  /** Operations completed after the heal. */
  afterHeal: number;
  done: boolean;
  history: HistoryOp[];
  current: HistoryOp | null;
}

export function runSim(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: Prng;
  private readonly netRng: Prng;
  private readonly faultRng: Prng;
  private readonly clientRng: Prng;
  private readonly swarm: Swarm;
  private readonly lazyMs: number;
  /** Holes in torn writes: its own stream, so adding it changed no other draw. */
  private readonly diskRng: Prng;
  private readonly q = new EventQueue();
  private now = 0;
  private readonly nodes: SimNode[] = [];
  private readonly clients: SimClient[] = [];
  private readonly down = new Set<string>();
  private readonly lastDelivery = new Map<string, number>();
  private healed = false;
  private trace: string[] = [];
  private violation: Violation | undefined;
  private readonly stats: SimStats = { simMs: 0, messages: 0, dropped: 0, crashes: 0, elections: 0, decided: 0, opsCompleted: 0, opsDuringFaults: 0 };
  /** depth -> hash of the block decided there, by anyone, ever. */
  private readonly decidedAt = new Map<number, { hash: string; by: string }>();
  /** "term@depth" -> hash of the block proposed there: one proposal per ballot and depth, ever. */
  private readonly proposals = new Map<string, { hash: string; by: string }>();
  /** Every operation any client issued, by request id, to check validity. */
  private readonly issued = new Map<string, { op: OpName; key: string; value?: string }>();
  private readonly faultMs: number;
  private readonly healMs: number;
  private readonly opsAfterHeal: number;
  private readonly coreCfg: (id: number) => CoreConfig;

  constructor(private readonly o: SimOptions) {
    this.rng = new Prng(o.seed);
    const swarmRng = this.rng.fork();
    this.swarm = drawSwarm(swarmRng);
    // Drawn after the swarm from its own stream, so the other streams are those of older versions.
    this.lazyMs = o.lazyMs ?? swarmRng.pick([0, 30, 30, 150]);
    this.diskRng = swarmRng.fork();
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.clientRng = this.rng.fork();
    this.faultMs = o.faultMs ?? 3000;
    this.healMs = o.healMs ?? 20000;
    this.opsAfterHeal = o.opsAfterHeal ?? 3;
    this.coreCfg = (id) => ({
      id, nodes: NODES, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: this.lazyMs,
      batchMax: 16, windowMax: 8, queueMax: 1000, mutation: o.mutation,
    });
  }

  private log(line: string): void {
    this.trace.push(`${String(this.now).padStart(6)} ${line}`);
    if (!this.o.trace && this.trace.length > 2 * (this.o.traceTail ?? 400)) this.trace = this.trace.slice(-(this.o.traceTail ?? 400));
  }

  private fail(property: Violation['property'], detail: string): never {
    this.violation = { property, detail, at: this.now };
    this.log(`VIOLATION ${property}: ${detail}`);
    throw new StopRun();
  }

  run(): SimResult {
    this.log(`seed ${this.o.seed}: ${swarmText(this.swarm)} lazy=${this.lazyMs}ms${this.o.mutation ? ` mutation=${this.o.mutation}` : ''}`);
    for (let id = 1; id <= NODES; id++) {
      const disk = new MemDisk();
      const node: SimNode = { id, disk, store: new ChainStore(disk), replica: null, crashAfterPersist: false, incarnation: 0, waiting: [], syncInFlight: false, syncedPromise: null };
      this.nodes.push(node);
      this.start(node);
    }
    for (let c = 1; c <= CLIENTS; c++) {
      const name = `C${c}`;
      this.clients.push({
        name, afterHeal: 0, done: false, history: [], current: null,
        core: new ClientCore({ id: name, nodes: NODES, replyTo: name, timeoutMs: this.swarm.clientTimeoutMs, hint: 1 + (c % NODES) }),
      });
      this.q.push(this.clientRng.int(0, 20), { type: 'client-next', client: c - 1 });
    }
    this.q.push(TICK_MS, { type: 'tick' });
    this.scheduleFaults();
    this.q.push(this.faultMs, { type: 'fault', run: () => this.heal() });
    try {
      this.loop();
      this.checkRun();
    } catch (e) {
      if (!(e instanceof StopRun)) {
        if (e instanceof InvariantError) {
          this.violation = { property: 'invariant', detail: e.message, at: this.now };
          this.log(`VIOLATION invariant: ${e.message}`);
        } else {
          throw e;
        }
      }
    }
    this.stats.simMs = this.now;
    return { seed: this.o.seed, ok: !this.violation, violation: this.violation, swarm: swarmText(this.swarm), trace: this.trace, stats: this.stats };
  }

  private loop(): void {
    const deadline = this.faultMs + this.healMs;
    // A run needs tens of thousands of events; millions mean messages are multiplying.
    let budget = 2_000_000;
    for (;;) {
      const s = this.q.pop();
      if (!s) this.fail('liveness', 'event queue ran dry');
      if (--budget === 0) this.fail('liveness', `message storm: 2,000,000 events by t=${s.at}ms with ${this.q.size} still queued`);
      this.now = s.at;
      if (this.now > deadline) this.fail('liveness', this.livenessReport());
      const ev = s.ev;
      switch (ev.type) {
        case 'deliver': this.deliver(ev.from, ev.to, ev.bytes); break;
        case 'tick':
          for (const n of this.nodes) if (n.replica) this.step(n, { type: 'tick' });
          for (const c of this.clients) this.clientTick(c);
          if (this.healed && this.clients.every((c) => c.done) && this.converged()) return;
          this.q.push(this.now + TICK_MS, { type: 'tick' });
          break;
        case 'fault': ev.run(); break;
        case 'synced': this.diskSynced(this.nodes[ev.node - 1], ev.incarnation); break;
        case 'client-next': this.clientNext(this.clients[ev.client]); break;
      }
    }
  }

  // ---- nodes ----

  private start(node: SimNode): void {
    const report = loadState(node.disk, { forgetPromises: this.o.mutation === 'forget-promise' });
    for (const w of report.warnings) this.log(`${pname(node.id)} store: ${w}`);
    // Nothing here edits files: damage after a crash must read as a torn write, never as tampering.
    if (report.tampered) this.fail('invariant', `${pname(node.id)} took a crash for tampering: ${report.warnings.join('; ')}`);
    const had = node.syncedPromise;
    const has = report.state.promised;
    if (had && (!has || Ballot.compareTerm(has, had) < 0)) {
      this.fail('invariant', `${pname(node.id)} restarted promising ${has ?? 'nothing'}, but its disk had fsynced a promise of ${had}`);
    }
    const r = this.rng.fork();
    node.store = new ChainStore(node.disk);
    node.replica = new Replica(this.coreCfg(node.id), report.state, () => r.u32(), { voteFloor: report.voteFloor });
    node.crashAfterPersist = false;
    node.incarnation++;
    node.waiting = [];
    node.syncInFlight = false;
    this.log(`${pname(node.id)} up: depth ${report.state.commit} decided, ${report.state.end - report.state.commit} tentative, promised ${report.state.promised ?? '-'}`);
  }

  private crash(node: SimNode, why: string): void {
    if (!node.replica) return;
    const unsynced = node.disk.unsyncedBytes;
    const keep = unsynced > 0 && this.faultRng.chance(0.5) ? this.faultRng.int(0, unsynced) : 0;
    // Half the torn writes also lose a page in the middle (it reads back as zero fill).
    const holes: [number, number][] = keep > 1 && this.diskRng.chance(0.5) ? [[this.diskRng.int(0, Math.min(keep - 2, 100)), this.diskRng.int(1, 64)]] : [];
    node.disk.crash(keep, holes);
    node.replica = null;
    this.stats.crashes++;
    this.log(`${pname(node.id)} CRASH (${why}); kept ${keep}/${unsynced} unsynced bytes${holes.length ? `, ${holes[0][1]} of them lost at +${holes[0][0]}` : ''}`);
  }

  private step(node: SimNode, input: Input): void {
    const replica = node.replica!;
    const wasLeader = replica.isLeader;
    const out: Output = replica.step(input, this.now);
    node.store.write(out.persist, false); // fsync comes later, when the simulated disk gets to it
    if (this.o.trace) for (const e of out.blockEvents) this.log(`${pname(node.id)} ${e}`);
    for (const e of out.events) {
      if (this.o.trace) this.log(`${pname(node.id)} ${e}`);
      if (e.startsWith('elected leader')) this.stats.elections++;
    }
    if (!wasLeader && replica.isLeader) this.log(`${pname(node.id)} is LEADER ${replica.ballot}`);
    for (const d of out.decided) {
      const hash = blockHash(d.block);
      const prev = this.decidedAt.get(d.depth);
      if (prev && prev.hash !== hash) this.fail('agreement', `depth ${d.depth}: ${pname(node.id)} decided ${requestId(d.block.operation)} (${hash.slice(0, 10)}) but ${prev.by} decided ${prev.hash.slice(0, 10)}`);
      if (!prev) {
        this.decidedAt.set(d.depth, { hash, by: pname(node.id) });
        this.stats.decided++;
      }
    }
    const armed = node.crashAfterPersist;
    if (armed && armed.type !== 'fsync' && out.persist.some((r) => armed.type === null || r.t === armed.type)) {
      this.crash(node, `after persisting ${out.persist.map((r) => r.t).join('+')}, before sending ${out.send.length} message(s)`);
      return;
    }
    const late: Outbound[] = [];
    for (const s of out.send) {
      if (s.msg.kind === 'accept') this.checkProposal(pname(node.id), s.msg as Accept);
      if (s.afterSync) late.push(s);
      else this.send(pname(node.id), s.to, s.msg);
    }
    if (out.sync || late.length > 0) {
      // Messages that promise durability wait for an fsync covering everything written so far
      // (as in the node, decide tags alone do not ask for one; a crash may lose them).
      node.waiting.push({ seq: out.seq, late });
      if (!node.syncInFlight) {
        node.syncInFlight = true;
        this.q.push(this.now + this.netRng.int(0, this.swarm.diskMs), { type: 'synced', node: node.id, incarnation: node.incarnation });
      }
    }
  }

  /** The simulated fsync finished: what was written is durable; held messages go; the core hears of it. */
  private diskSynced(node: SimNode, incarnation: number): void {
    if (!node.replica || node.incarnation !== incarnation) return;
    if (node.crashAfterPersist && node.crashAfterPersist.type === 'fsync') {
      // Power lost just before the fsync completed: whatever messages already left stay sent.
      this.crash(node, `before an fsync completed (${node.waiting.length} output(s) unsynced)`);
      return;
    }
    node.disk.sync();
    node.syncedPromise = node.replica.durable.promised;
    const done = node.waiting;
    node.waiting = [];
    node.syncInFlight = false;
    let through = 0;
    for (const w of done) {
      through = Math.max(through, w.seq);
      for (const s of w.late) this.send(pname(node.id), s.to, s.msg);
    }
    if (through > 0) this.step(node, { type: 'synced', through });
  }

  /** Paxos needs one proposer per ballot, and one block per (term, depth) from it. */
  private checkProposal(by: string, m: Accept): void {
    for (let i = 0; i < m.blocks.length; i++) {
      const key = `${m.ballot.seq},${m.ballot.pid}@${m.ballot.depth + i}`;
      const hash = blockHash(m.blocks[i]);
      const prev = this.proposals.get(key);
      if (!prev) this.proposals.set(key, { hash, by });
      else if (prev.hash !== hash) this.fail('agreement', `two different blocks proposed under term <${m.ballot.seq},${m.ballot.pid}> at depth ${m.ballot.depth + i} (by ${prev.by} and ${by})`);
    }
  }

  // ---- network ----

  private linkKey(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private send(from: string, to: string, msg: AnyMessage): void {
    this.stats.messages++;
    const text = this.o.trace ? describe(msg) : '';
    if (this.down.has(this.linkKey(from, to))) {
      this.stats.dropped++;
      if (this.o.trace) this.log(`${from} -> ${to} ${text} [link down: dropped]`);
      return;
    }
    const s = this.swarm;
    const faulty = !this.healed;
    if (faulty && this.netRng.chance(s.drop)) {
      this.stats.dropped++;
      if (this.o.trace) this.log(`${from} -> ${to} ${text} [dropped]`);
      return;
    }
    const bytes = encode(from, msg);
    const copies = faulty && this.netRng.chance(s.dup) ? 2 : 1;
    // FIFO within a link (what TCP under ZeroMQ gives); across links, jitter reorders.
    const key = `${from}>${to}`;
    for (let i = 0; i < copies; i++) {
      const at = Math.max(this.now + s.baseDelayMs + this.netRng.int(0, s.jitterMs), this.lastDelivery.get(key) ?? 0);
      this.lastDelivery.set(key, at);
      this.q.push(at, { type: 'deliver', from, to, bytes });
    }
    if (this.o.trace) this.log(`${from} -> ${to} ${text}${copies > 1 ? ' [duplicated]' : ''}`);
  }

  private deliver(from: string, to: string, bytes: string): void {
    if (this.down.has(this.linkKey(from, to))) {
      this.stats.dropped++;
      return;
    }
    const d = decode(bytes);
    if (!d.ok) throw new Error(`simulator produced an undecodable frame: ${d.reason}`);
    if (to.startsWith('C')) {
      const c = this.clients[Number(to.slice(1)) - 1];
      if (d.msg.kind === 'no-leader') {
        for (const o of c.core.onNoLeader(d.msg as NoLeader, Number(from.slice(1)), this.now)) this.send(c.name, pname(o.to), o.msg);
      } else {
        this.clientReply(c, d.msg as ClientReply);
      }
      return;
    }
    const node = this.nodes[Number(to.slice(1)) - 1];
    if (!node.replica) return; // a crashed node receives nothing
    this.step(node, { type: 'message', from: d.from, msg: d.msg });
  }

  // ---- faults ----

  private scheduleFaults(): void {
    const s = this.swarm;
    const r = this.faultRng;
    const at = () => r.int(50, this.faultMs - 50);
    for (let i = 0; i < s.crashes; i++) {
      const t = at();
      const target = r.chance(0.5) ? 'leader' : r.int(1, NODES);
      const downFor = s.crashes >= 8 ? r.int(5, 150) : r.chance(0.3) ? Infinity : r.int(20, 1500);
      this.q.push(t, { type: 'fault', run: () => {
        const node = target === 'leader' ? this.nodes.find((n) => n.replica?.isLeader) ?? this.nodes[r.int(0, NODES - 1)] : this.nodes[(target as number) - 1];
        if (!node.replica) return;
        this.crash(node, target === 'leader' ? 'fault: crash the leader' : 'fault: crash');
        if (downFor !== Infinity) this.q.push(this.now + downFor, { type: 'fault', run: () => this.restart(node) });
      } });
    }
    for (let i = 0; i < s.precisecrashes; i++) {
      const t = at();
      const downFor = r.int(20, 1000);
      const type = r.pick([null, 'promise', 'accept', 'decide', 'fsync'] as const);
      const onLeader = r.chance(0.5);
      this.q.push(t, { type: 'fault', run: () => {
        const node = (onLeader && this.nodes.find((n) => n.replica?.isLeader)) || this.nodes[r.int(0, NODES - 1)];
        if (!node.replica) return;
        node.crashAfterPersist = { type };
        this.log(`${pname(node.id)} armed: crash ${type === 'fsync' ? 'before its next fsync completes' : `after its next ${type ?? 'write'}, before sending`}`);
        this.q.push(this.now + downFor, { type: 'fault', run: () => this.restart(node) });
      } });
    }
    for (let i = 0; i < s.partitions; i++) {
      const t = at();
      const len = r.int(100, 1500);
      const isolateLeader = r.chance(0.4);
      const split = r.int(1, 2);
      this.q.push(t, { type: 'fault', run: () => {
        const ids = [1, 2, 3, 4, 5];
        for (let k = ids.length - 1; k > 0; k--) { const j = r.int(0, k); [ids[k], ids[j]] = [ids[j], ids[k]]; }
        let minority = ids.slice(0, split);
        const leader = this.nodes.find((n) => n.replica?.isLeader);
        if (isolateLeader && leader) minority = [leader.id, ...ids.filter((x) => x !== leader.id).slice(0, split - 1)];
        const cut: string[] = [];
        for (const a of minority) for (let b = 1; b <= NODES; b++) if (!minority.includes(b)) { this.down.add(this.linkKey(pname(a), pname(b))); cut.push(this.linkKey(pname(a), pname(b))); }
        this.log(`PARTITION {${minority.map(pname).join(',')}} | rest${isolateLeader && leader ? ' (old leader isolated)' : ''}`);
        this.q.push(this.now + len, { type: 'fault', run: () => { for (const k of cut) this.down.delete(k); this.log(`partition {${minority.map(pname).join(',')}} healed`); } });
      } });
    }
    for (let i = 0; i < s.linkFlaps; i++) {
      const t = at();
      const a = r.int(1, NODES);
      let b = r.int(1, NODES - 1);
      if (b >= a) b++;
      const len = r.int(50, 1200);
      this.q.push(t, { type: 'fault', run: () => {
        const k = this.linkKey(pname(a), pname(b));
        this.down.add(k);
        this.log(`failLink(${pname(a)},${pname(b)})`);
        this.q.push(this.now + len, { type: 'fault', run: () => { this.down.delete(k); this.log(`fixLink(${pname(a)},${pname(b)})`); } });
      } });
    }
  }

  private restart(node: SimNode): void {
    if (node.replica) {
      if (!node.crashAfterPersist) return;
      this.crash(node, 'armed crash never fired: crash now');
    }
    this.start(node);
  }

  private heal(): void {
    this.healed = true;
    this.down.clear();
    this.log('HEAL: all links fixed, all nodes up, no more drops or duplicates');
    for (const n of this.nodes) if (!n.replica || n.crashAfterPersist) this.restart(n);
  }

  // ---- clients ----

  private clientNext(c: SimClient): void {
    if (c.done || c.core.busy) return;
    if (this.healed && c.afterHeal >= this.opsAfterHeal) {
      c.done = true;
      return;
    }
    const r = this.clientRng;
    const op: OpName = r.chance(0.5) ? 'put' : 'get';
    const key = r.pick(KEYS);
    const value = op === 'put' ? JSON.stringify({ phone_number: `${c.name}-${r.int(0, 1e6)}` }) : undefined;
    const out = c.core.submit(op, key, value, this.now);
    const req = c.core.pending!.req;
    this.issued.set(`${c.name}#${req}`, { op, key, value });
    c.current = { client: c.name, op, key, value, call: this.now, ret: Infinity };
    c.history.push(c.current);
    for (const o of out) this.send(c.name, pname(o.to), o.msg);
  }

  private clientTick(c: SimClient): void {
    const duel = this.swarm.duel > 0 && !this.healed && this.clientRng.chance(this.swarm.duel);
    for (const o of c.core.onTick(this.now, { duel })) this.send(c.name, pname(o.to), o.msg);
  }

  private clientReply(c: SimClient, msg: ClientReply): void {
    const done = c.core.onReply(msg, this.now);
    if (!done || !c.current) return;
    c.current.ret = this.now;
    if (done.op === 'get') c.current.result = done.result;
    else if (done.result !== 'ack') this.fail('validity', `${c.name}#${done.req} put answered ${done.result}`);
    (c.current as HistoryOp & { depth?: number; rid?: string }).depth = done.depth;
    (c.current as HistoryOp & { rid?: string }).rid = `${c.name}#${done.req}`;
    c.current = null;
    this.stats.opsCompleted++;
    if (this.healed) c.afterHeal++;
    else this.stats.opsDuringFaults++;
    this.q.push(this.now + this.clientRng.int(0, 30), { type: 'client-next', client: Number(c.name.slice(1)) - 1 });
  }

  // ---- checks ----

  private converged(): boolean {
    const first = this.nodes[0].replica;
    if (!first) return false;
    for (const n of this.nodes) {
      const r = n.replica;
      if (!r || r.commit !== first.commit || r.durable.headHash(r.commit) !== first.durable.headHash(first.commit)) return false;
    }
    return true;
  }

  private livenessReport(): string {
    const clients = this.clients.map((c) => `${c.name}:${c.done ? 'done' : c.core.pending ? `waiting #${c.core.pending.req} (${c.core.pending.attempts} tries)` : 'idle'}`).join(' ');
    const nodes = this.nodes.map((n) => n.replica ? `${pname(n.id)}:${n.replica.currentRole}@${n.replica.commit}/${n.replica.durable.end}` : `${pname(n.id)}:down`).join(' ');
    return `not done ${this.healMs}ms after the heal: ${clients}; ${nodes}`;
  }

  private checkRun(): void {
    const chains = this.nodes.map((n) => n.replica!.durable);
    // Agreement and validity over every node's whole decided prefix.
    const longest = chains.reduce((a, b) => (b.commit > a.commit ? b : a));
    for (const [i, d] of chains.entries()) {
      const check = verifyChain(d.log.slice(0, d.commit));
      if (!check.ok) this.fail('validity', `${pname(i + 1)} decided chain breaks at ${check.depth}: ${check.reason}`);
      for (let k = 0; k < d.commit; k++) {
        if (d.hashes[k] !== longest.hashes[k]) this.fail('agreement', `${pname(i + 1)} and the longest chain differ at depth ${k}`);
      }
    }
    const depthOf = new Map<string, number>();
    for (let k = 0; k < longest.commit; k++) {
      const op = longest.log[k].operation;
      const rid = requestId(op);
      const sent = this.issued.get(rid);
      if (!sent || sent.op !== op.op || sent.key !== op.key || sent.value !== op.value) this.fail('validity', `block ${k} holds ${rid}, which no client sent`);
      if (depthOf.has(rid)) this.fail('at-most-once', `${rid} is decided twice: depths ${depthOf.get(rid)} and ${k}`);
      depthOf.set(rid, k);
    }
    // Replay the chain: what each operation must have answered.
    const dict = new Map<string, string>();
    const answer = new Map<string, string>();
    for (let k = 0; k < longest.commit; k++) {
      const op = longest.log[k].operation;
      if (op.op === 'put') { dict.set(op.key, op.value!); answer.set(requestId(op), 'ack'); }
      else answer.set(requestId(op), dict.get(op.key) ?? 'NO_KEY');
    }
    const history = this.clients.flatMap((c) => c.history) as (HistoryOp & { rid?: string; depth?: number })[];
    const completed = history.filter((h) => h.ret !== Infinity);
    for (const h of completed) {
      const k = depthOf.get(h.rid!);
      if (k === undefined) this.fail('durability', `${h.rid} (${h.op} ${h.key}) was answered but is not in the decided chain`);
      if (k !== h.depth) this.fail('validity', `${h.rid} was answered with depth ${h.depth} but sits at ${k}`);
      if (h.op === 'get' && answer.get(h.rid!) !== h.result) this.fail('linearizability', `${h.rid} got ${h.result} but the chain says ${answer.get(h.rid!)}`);
    }
    // Real-time order: an operation that finished before another began sits below it.
    const byCall = [...completed].sort((a, b) => a.call - b.call);
    let maxDepthEnded = -1;
    let endedIdx = 0;
    const byRet = [...completed].sort((a, b) => a.ret - b.ret);
    for (const h of byCall) {
      while (endedIdx < byRet.length && byRet[endedIdx].ret < h.call) maxDepthEnded = Math.max(maxDepthEnded, byRet[endedIdx++].depth!);
      if (h.depth! <= maxDepthEnded) this.fail('linearizability', `${h.rid} began after an operation at depth ${maxDepthEnded} had returned, yet sits at ${h.depth}`);
    }
    const lin = checkLinearizable(history);
    if (!lin.ok) this.fail('linearizability', `key ${lin.key}: ${lin.reason}`);
    const total = this.opsAfterHeal * CLIENTS;
    if (completed.length < total) this.fail('vacuous', `only ${completed.length} operations completed (need ${total})`);
  }
}
