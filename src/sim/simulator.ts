/**
 * Deterministic fault simulation (after TigerBeetle's VOPR): five nodes running the real host
 * loop and core over a simulated network and in-memory disks, three closed-loop clients running
 * the real client core, one seeded PRNG. A seed replays the exact run. Messages are copied
 * through the real codec, records through the real checksummed record log, and a crash drops (or
 * tears) whatever was not fsynced.
 *
 * A run has two phases: faults (swarm testing: the seed picks which faults and how often, see
 * `swarm.ts`), then heal (all links fixed, every node up but two in some seeds, fast reliable
 * messages) in which every client must finish within a bound set in election timeouts.
 *
 * Checked as the run goes: agreement at every decision; one block per (term, depth); a majority
 * held each block durably when it was decided; no `accepted` reply vouching for more than the
 * sender's disk holds; no restart forgetting a fsynced promise or a block it vouched for; no
 * crash taken for tampering; progress whenever a majority has been connected and running for
 * `LIVENESS_ELECTIONS` election timeouts. At the end: `check/run-checks.ts`.
 */
import { Accept, AnyMessage, Block, ClientReply, decode, describe, encode, NoLeader, OpName, Redirect, Refused } from '../../messages';
import { blockHash } from '../chain';
import { checkRun, ClientOp, Property } from '../check/run-checks';
import { ClientCore } from '../client/client-core';
import { InvariantError } from '../core/invariant';
import { CoreConfig, defaultCoreConfig, Outbound, Output, pname, requestId, requestKey } from '../core/replica';
import { loadState } from '../store/chain-store';
import { checkpointStateMachine, CheckpointMutation, CheckpointPolicy } from '../store/checkpoint';
import { StateMachine } from '../core/state-machine';
import { InstallAction } from '../core/types';
import { EventQueue } from './event-queue';
import { makeReplica, Mutation } from './mutants';
import { SimNetwork } from './network';
import { Prng } from './prng';
import { Armed, SimNode } from './sim-node';
import { drawSwarm, Swarm, SwarmProfile, swarmText } from './swarm';

export interface SimOptions {
  seed: number;
  /** Keep every trace line (otherwise only the last `traceTail`). */
  trace?: boolean;
  traceTail?: number;
  mutation?: Mutation;
  /** Length of the fault phase, simulated ms (default: the seed's draw). */
  faultMs?: number;
  /** Operations each client must complete after the heal. */
  opsAfterHeal?: number;
  /** The core's lazyMs (default: the seed's draw of 0, 30 or 150). */
  lazyMs?: number;
  /** Which swarm to draw from (default `mixed`; `churn` aims at leader changes). */
  profile?: SwarmProfile;
  /**
   * Skip the checks that a restart from a checkpoint gives what a full replay gives and that an
   * installed dictionary is the decided chain's (to show the client-visible checks catch a
   * checkpoint mutant on their own).
   */
  endToEndChecksOnly?: boolean;
}

export interface Violation {
  property: Property;
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
  /** Client restarts (new sessions, numbered from a clock that may have stepped back). */
  clientRestarts: number;
  /** Requests refused as `busy` (a full queue). */
  busy: number;
  freezes: number;
  /** Messages that arrived more than an election timeout after they were sent. */
  lateMessages: number;
  /** Healthy-majority windows the liveness-during-faults check watched to the end. */
  livenessWindows: number;
  /** From the heal until every client finished and every chain converged. */
  recoveryMs: number;
  /** Checkpoints written; restarts that started from one; checkpoints found unusable (torn, damaged) at a restart. */
  checkpoints: number;
  checkpointRestarts: number;
  checkpointFallbacks: number;
  /** Fast catch-up: peer checkpoints installed, and backfills that completed (blocks.dat whole again). */
  installs: number;
  backfillsDone: number;
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
const MAJORITY = 3;
const TICK_MS = 10;
/** A majority connected and running this many election timeouts must complete an operation. */
export const LIVENESS_ELECTIONS = 8;
/** After the heal, every client must finish within this many rounds of an election timeout plus a client timeout. */
export const RECOVERY_ROUNDS = 3;
/**
 * Catch-up allowance per block a node lacked at the heal: repairs come a batch per round trip,
 * and tight-bounds seeds cap a batch at about four blocks (about 40 ms per round trip after the heal).
 */
export const CATCHUP_MS_PER_BLOCK = 15;

class StopRun extends Error {}

interface SimClient {
  name: string;
  index: number;
  core: ClientCore | null;
  /** Bumped on every restart: replies meant for an earlier life reach no one. */
  incarnation: number;
  /** This client's wall clock minus the simulator's (it numbers requests from it; it may step back). */
  clockOffsetMs: number;
  afterHeal: number;
  done: boolean;
  current: ClientOp | null;
}

export function runSim(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: Prng;
  private readonly swarm: Swarm;
  private readonly ckptRng: Prng;
  private readonly ckpt: CheckpointDraw;
  private readonly lazyMs: number;
  private readonly netRng: Prng;
  private readonly faultRng: Prng;
  private readonly clientRng: Prng;
  private readonly q = new EventQueue<() => void>();
  private readonly net: SimNetwork;
  private now = 0;
  private readonly nodes: SimNode[] = [];
  private readonly clients: SimClient[] = [];
  private readonly history: ClientOp[] = [];
  /** Nodes crashed for good (the seed's `minorityDown`): the heal does not bring them back. */
  private readonly gone = new Set<number>();
  private healed = false;
  private healedAt = Infinity;
  /** Decided blocks the furthest-behind live node lacked at the heal. */
  private lagAtHeal = 0;
  private trace: string[] = [];
  private violation: Violation | undefined;
  private readonly stats: SimStats = {
    simMs: 0, messages: 0, dropped: 0, crashes: 0, elections: 0, decided: 0, opsCompleted: 0, opsDuringFaults: 0,
    clientRestarts: 0, busy: 0, freezes: 0, lateMessages: 0, livenessWindows: 0, recoveryMs: 0,
    checkpoints: 0, checkpointRestarts: 0, checkpointFallbacks: 0, installs: 0, backfillsDone: 0,
  };
  /** depth -> the block decided there (to check an installed dictionary against the decided chain). */
  private readonly decidedBlocks = new Map<number, Block>();
  /** depth -> hash of the block decided there, by anyone, ever. */
  private readonly decidedAt = new Map<number, { hash: string; by: string }>();
  /** "term@depth" -> hash of the block proposed there: one proposal per ballot and depth, ever. */
  private readonly proposals = new Map<string, { hash: string; by: string }>();
  /** Every request id any client used, with its operation, to check validity. */
  private readonly issued = new Map<string, { op: OpName; key: string; value?: string }>();
  private readonly faultMs: number;
  private readonly opsAfterHeal: number;
  private readonly coreCfg: (id: number) => CoreConfig;
  private readonly keys: string[];
  private readonly churn: boolean;
  /** The majority watched by the liveness-during-faults check, the lives of its members, since when. */
  private healthy: { nodes: SimNode[]; lives: number[]; since: number; counted: boolean } | null = null;
  private lastCompletionAt = 0;

  constructor(private readonly o: SimOptions) {
    this.rng = new Prng(o.seed);
    // Checkpoints draw from a PRNG of their own, so the seeds drawn before they existed keep their schedules.
    this.ckptRng = new Prng((o.seed * 2654435761 + 0x5eed) % 2 ** 32);
    this.ckpt = drawCheckpoints(this.ckptRng, o.mutation, o.seed);
    const swarmRng = this.rng.fork();
    this.churn = o.profile === 'churn';
    this.swarm = drawSwarm(swarmRng, o.profile);
    this.lazyMs = o.lazyMs ?? swarmRng.pick([0, 30, 30, 150]);
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.clientRng = this.rng.fork();
    this.net = new SimNetwork(this.netRng, this.swarm);
    this.faultMs = o.faultMs ?? this.swarm.faultMs;
    this.opsAfterHeal = o.opsAfterHeal ?? 3;
    const production = this.swarm.production;
    this.keys = Array.from({ length: production ? 50 : 3 }, (_, i) => `k${i}`);
    this.coreCfg = (id) => production
      ? { ...defaultCoreConfig(id, 0, NODES), lazyMs: this.lazyMs } // the node's own timers, batches and windows
      : {
        id, nodes: NODES, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: this.lazyMs,
        batchMax: 16, windowMax: this.churn ? 32 : 8, queueMax: 1000,
        batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24, installThresholdBlocks: this.ckpt.installThresholdBlocks,
        ...(this.swarm.tightBounds ? { batchMaxBytes: 1500, windowMaxBytes: 2500, queueMax: 4, queueMaxBytes: 3000 } : {}),
      };
  }

  private get electionMs(): number {
    return this.coreCfg(1).electionTimeoutMs;
  }

  private at(time: number, fn: () => void): void {
    this.q.push(time, fn);
  }

  private log(line: string): void {
    this.trace.push(`${String(this.now).padStart(6)} ${line}`);
    if (!this.o.trace && this.trace.length > 2 * (this.o.traceTail ?? 400)) this.trace = this.trace.slice(-(this.o.traceTail ?? 400));
  }

  private fail(property: Property, detail: string): never {
    this.violation = { property, detail, at: this.now };
    this.log(`VIOLATION ${property}: ${detail}`);
    throw new StopRun();
  }

  run(): SimResult {
    this.log(`seed ${this.o.seed}${this.churn ? ' (churn)' : ''}: ${swarmText(this.swarm)} lazy=${this.lazyMs}ms${this.o.mutation ? ` mutation=${this.o.mutation}` : ''}`);
    try {
      for (let id = 1; id <= NODES; id++) this.addNode(id);
      for (let c = 1; c <= this.swarm.clients; c++) this.addClient(c);
      this.at(TICK_MS, () => this.monitor());
      this.scheduleFaults();
      this.at(this.faultMs, () => this.heal());
      this.loop();
      const finding = checkRun({
        chains: this.nodes.map((n) => ({ name: n.name, ...n.atRest() })),
        history: this.history,
        issued: this.issued,
        minCompleted: this.opsAfterHeal * this.swarm.clients,
      });
      if (finding) this.fail(finding.property, finding.detail);
    } catch (e) {
      if (!(e instanceof StopRun)) {
        if (!(e instanceof InvariantError)) throw e;
        this.violation = { property: 'invariant', detail: e.message, at: this.now };
        this.log(`VIOLATION invariant: ${e.message}`);
      }
    }
    this.stats.simMs = this.now;
    return { seed: this.o.seed, ok: !this.violation, violation: this.violation, swarm: swarmText(this.swarm), trace: this.trace, stats: this.stats };
  }

  private loop(): void {
    // A run needs tens of thousands of events; millions mean messages are multiplying.
    let budget = 3_000_000;
    for (;;) {
      const s = this.q.pop();
      if (!s) this.fail('liveness', 'event queue ran dry');
      if (--budget === 0) this.fail('liveness', `message storm: 3,000,000 events by t=${s.at}ms with ${this.q.size} still queued`);
      this.now = s.at;
      if (this.now > this.recoveryDeadline() && !this.clients.every((c) => c.done)) this.fail('liveness', this.livenessReport());
      if (this.now > this.convergenceDeadline()) this.fail('liveness', this.livenessReport());
      s.ev();
      if (this.healed && this.clients.every((c) => c.done) && this.converged()) {
        this.stats.recoveryMs = this.now - this.healedAt;
        return;
      }
    }
  }

  /**
   * After the heal: RECOVERY_ROUNDS rounds of (an election timeout and a client timeout): a
   * client notices the old leader is gone, asks another node, which is elected. (Measured over
   * 1,000 seeds: the slowest recovery took 2.07 such rounds, the median well under one.)
   */
  private recoveryDeadline(): number {
    // (+ a client timeout per node down for good: a client's round robin may try each once)
    return this.healedAt + RECOVERY_ROUNDS * (this.electionMs + this.swarm.clientTimeoutMs) + this.gone.size * this.swarm.clientTimeoutMs;
  }

  /** Every chain must match by then: the recovery bound plus catch-up of what the furthest-behind node lacked at the heal, plus the time the last decision takes to travel. */
  private convergenceDeadline(): number {
    // (+ a heartbeat and a lazy period: the last decision reaches followers on the next accept)
    const cfg = this.coreCfg(1);
    return this.recoveryDeadline() + this.lagAtHeal * CATCHUP_MS_PER_BLOCK + cfg.heartbeatMs + cfg.lazyMs;
  }

  // ---- nodes ----

  private addNode(id: number): void {
    const s = this.swarm;
    const rate = 1 + (this.rng.float() * 2 - 1) * s.skew;
    const node = new SimNode(id, {
      now: () => this.now,
      at: (t, fn) => this.at(t, fn),
      send: (from, out) => this.sendFromNode(from, out),
      log: (l) => this.log(l),
      observe: (n, out) => this.observe(n, out),
      fail: (p, d) => this.fail(p, d),
      makeReplica: (n, report, rebuilt) => {
        const r = this.rng.fork();
        const sm = rebuilt ?? (report.checkpoint ? checkpointStateMachine(report.checkpoint) : undefined);
        return makeReplica(this.o.mutation, this.coreCfg(n.id), report.state, () => r.u32(), { voteFloor: report.voteFloor, sm });
      },
      load: (disk, from) => loadState(disk, { forgetPromises: this.o.mutation === 'forget-promise', from }),
      count: (what) => this.stats[what]++,
      checkpoints: { ...this.ckpt, rng: this.ckptRng.fork(), compareWithReplay: !this.o.endToEndChecksOnly, installThresholdBlocks: this.coreCfg(id).installThresholdBlocks },
    }, this.rng.fork(), this.rng.fork(), { offsetMs: this.rng.int(0, 1_000_000), rate }, { diskMs: s.diskMs, turnMs: s.turnMs });
    this.nodes.push(node);
    node.start();
    const tickRng = this.rng.fork();
    const tick = () => {
      if (node.up && !node.frozen) node.input(null, { type: 'tick' });
      this.at(this.now + TICK_MS + tickRng.int(0, s.lateTimerMs), tick);
    };
    this.at(tickRng.int(1, TICK_MS), tick);
  }

  private observe(node: SimNode, out: Output): void {
    const replica = node.host!.core;
    if (this.o.trace) for (const e of out.blockEvents) this.log(`${node.name} ${e}`);
    if (out.install) this.checkInstall(node, out.install);
    for (const e of out.events) {
      if (this.o.trace) this.log(`${node.name} ${e}`);
      else if (e.startsWith('installed ') || e.startsWith('backfill complete')) this.log(`${node.name} ${e}`);
      if (e.startsWith('backfill complete')) this.stats.backfillsDone++;
      if (e.startsWith('elected leader')) {
        this.stats.elections++;
        this.log(`${node.name} is LEADER ${replica.ballot}`);
      }
    }
    for (const d of out.decided) {
      const hash = blockHash(d.block);
      const prev = this.decidedAt.get(d.depth);
      if (prev && prev.hash !== hash) this.fail('agreement', `depth ${d.depth}: ${node.name} decided ${requestId(d.block.operation)} (${hash.slice(0, 10)}) but ${prev.by} decided ${prev.hash.slice(0, 10)}`);
      if (!prev) {
        this.decidedAt.set(d.depth, { hash, by: node.name });
        this.decidedBlocks.set(d.depth, d.block);
        this.stats.decided++;
        // Decided means a majority holds it durably: count the disks, not the messages.
        const holders = this.nodes.filter((n) => n.synced.end > d.depth && n.synced.hash(d.depth) === hash);
        if (holders.length < MAJORITY) {
          this.fail('durability', `${node.name} decided block ${d.depth} (${requestId(d.block.operation)}) while only ${holders.length} node(s) held it durably (${holders.map((n) => n.name).join(',') || 'none'})`);
        }
      }
    }
  }

  /** An installed checkpoint is decided state: the dictionary and sessions of the decided chain at its depth. */
  private checkInstall(node: SimNode, inst: InstallAction): void {
    this.stats.installs++;
    const sm = new StateMachine();
    for (let k = 0; k < inst.base.depth; k++) {
      const b = this.decidedBlocks.get(k);
      if (!b) return; // (not seen decided yet: nothing to compare with)
      sm.apply(b);
    }
    if (blockHash(this.decidedBlocks.get(inst.base.depth - 1)!) !== inst.base.anchor) this.fail('checkpoint', `${node.name} installed ${inst.from}'s checkpoint at depth ${inst.base.depth} whose anchor is not the decided block ${inst.base.depth - 1}`);
    if (this.o.endToEndChecksOnly) return; // (client-visible checks only: see SimOptions)
    const sorted = (e: readonly [string, unknown][]) => JSON.stringify([...e].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    if (sorted(inst.dict) !== sorted([...sm.dict])) this.fail('checkpoint', `${node.name} installed ${inst.from}'s checkpoint at depth ${inst.base.depth}, whose dictionary is not the decided chain's: ${sorted(inst.dict).slice(0, 200)} vs ${sorted([...sm.dict]).slice(0, 200)}`);
    if (sorted(inst.sessions) !== sorted([...sm.sessions])) this.fail('checkpoint', `${node.name} installed ${inst.from}'s checkpoint at depth ${inst.base.depth}, whose request-dedupe sessions are not the decided chain's`);
  }

  private restart(node: SimNode): void {
    if (node.up) {
      if (!node.armed) return;
      node.crash('armed crash never fired: crash now');
      this.stats.crashes++;
    }
    node.start();
  }

  private crash(node: SimNode, why: string): void {
    if (!node.up) return;
    node.crash(why);
    this.stats.crashes++;
  }

  // ---- network ----

  private sendFromNode(from: string, out: Outbound): void {
    if (out.msg.kind === 'accept') this.checkProposal(from, out.msg as Accept);
    this.send(from, out.to, out.msg);
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

  private send(from: string, to: string, msg: AnyMessage): void {
    this.stats.messages++;
    const r = this.net.route(from, to, this.now);
    if (r.dropped) {
      this.stats.dropped++;
      if (this.o.trace) this.log(`${from} -> ${to} ${describe(msg)} [${r.dropped}: dropped]`);
      return;
    }
    const bytes = encode(from, msg);
    for (const at of r.arrivals) this.at(at, () => this.deliver(from, to, bytes));
    if (r.arrivals[0] - this.now > this.electionMs) this.stats.lateMessages++;
    if (this.o.trace) this.log(`${from} -> ${to} ${describe(msg)}${r.arrivals.length > 1 ? ' [duplicated]' : ''}${r.arrivals[0] - this.now > this.electionMs ? ` [late: ${r.arrivals[0] - this.now}ms]` : ''}`);
  }

  private deliver(from: string, to: string, bytes: string): void {
    if (this.net.isDown(from, to)) {
      this.stats.dropped++;
      return;
    }
    const d = decode(bytes);
    if (!d.ok) throw new Error(`simulator produced an undecodable frame: ${d.reason}`);
    if (to.startsWith('C')) return this.clientReceives(this.clients[Number(to.slice(1)) - 1], Number(from.slice(1)), d.msg);
    this.nodes[Number(to.slice(1)) - 1].input(null, { type: 'message', from: d.from, msg: d.msg });
  }

  // ---- faults ----

  private scheduleFaults(): void {
    const s = this.swarm;
    const r = this.faultRng;
    const at = () => r.int(50, this.faultMs - 50);
    const pickNode = (leaderFirst: boolean) => (leaderFirst && this.nodes.find((n) => n.replica?.isLeader)) || this.nodes[r.int(0, NODES - 1)];
    for (let i = 0; i < s.crashes; i++) {
      const t = at();
      const onLeader = r.chance(0.5);
      const downFor = s.crashes >= 8 ? r.int(5, 150) : r.chance(0.3) ? Infinity : r.int(20, 1500);
      this.at(t, () => {
        const node = pickNode(onLeader);
        if (!node.up || this.gone.has(node.id)) return;
        this.crash(node, onLeader ? 'fault: crash the leader' : 'fault: crash');
        if (downFor !== Infinity) this.at(this.now + downFor, () => { if (!this.gone.has(node.id) && !node.up) node.start(); });
      });
    }
    const armAndRestart = (type: Armed, downFor: number, onLeader: boolean) => () => {
      const node = pickNode(onLeader);
      if (!node.up || this.gone.has(node.id)) return;
      node.armed = type;
      this.log(`${node.name} armed: ${describeArmed(type)}`);
      this.at(this.now + downFor, () => { if (!this.gone.has(node.id)) this.restart(node); });
    };
    for (let i = 0; i < s.preciseCrashes; i++) {
      const t = at();
      // (churn: mostly a leader that dies right after recording a decision, before telling anyone)
      const type = this.churn && r.chance(0.6) ? 'decide' : r.pick(['write', 'promise', 'accept', 'decide', 'learn', 'fsync'] as const);
      this.at(t, armAndRestart(type, r.int(20, 1000), this.churn || r.chance(0.5)));
    }
    // Crashes inside a checkpoint write (a torn temp file; a rename the folder's fsync did not cover).
    for (let i = 0; i < this.ckpt.crashes; i++) {
      const c = this.ckptRng;
      this.at(c.int(50, this.faultMs - 50), armAndRestart(c.pick(['ckpt-write', 'ckpt-rename'] as const), c.int(100, 1500), c.chance(0.5)));
    }
    // Crashes at an install: right after its record, or inside its checkpoint write (armed on a node that is fetching).
    for (let i = 0; i < this.ckpt.installCrashes; i++) {
      const c = this.ckpt.installRng;
      const t = c.int(50, this.faultMs - 50);
      const type = c.pick(['install', 'ckpt-write', 'ckpt-rename'] as const);
      const downFor = c.int(50, 1000);
      this.at(t, () => {
        const node = this.nodes.find((n) => n.replica?.catchUp.fetch && !n.armed && !this.gone.has(n.id));
        if (!node) return;
        node.armed = type;
        this.log(`${node.name} armed while fetching a checkpoint: ${describeArmed(type)}`);
        this.at(this.now + downFor, () => { if (!this.gone.has(node.id)) this.restart(node); });
      });
    }
    // Crashes of a node that is backfilling (it resumes from what blocks.dat kept).
    for (let i = 0; i < this.ckpt.backfillCrashes; i++) {
      const c = this.ckpt.installRng;
      const t = c.int(50, this.faultMs - 50);
      const downFor = c.int(20, 800);
      this.at(t, () => {
        const node = this.nodes.find((n) => n.replica?.backfilling && !this.gone.has(n.id));
        if (!node) return;
        this.crash(node, 'fault: crash while backfilling');
        this.at(this.now + downFor, () => { if (!this.gone.has(node.id) && !node.up) node.start(); });
      });
    }
    for (let i = 0; i < s.diskFaults; i++) {
      const t = at();
      this.at(t, armAndRestart(r.pick(['eio', 'enospc'] as const), r.int(100, 1500), r.chance(0.5)));
    }
    if (s.minorityDown) {
      const t = at();
      const withLeader = r.chance(0.5);
      this.at(t, () => {
        const first = pickNode(withLeader);
        const second = this.nodes.filter((n) => n !== first)[r.int(0, NODES - 2)];
        for (const n of [first, second]) {
          this.gone.add(n.id);
          this.crash(n, 'fault: down for good (two of five)');
        }
      });
    }
    for (let i = 0; i < s.partitions; i++) {
      const t = at();
      const len = this.churn ? r.int(500, 3000) : r.int(100, Math.max(1500, 2 * this.electionMs));
      const isolateLeader = r.chance(this.churn ? 0.8 : 0.4);
      const split = this.churn && r.chance(0.8) ? 2 : r.int(1, 2);
      this.at(t, () => {
        const ids = [1, 2, 3, 4, 5];
        for (let k = ids.length - 1; k > 0; k--) { const j = r.int(0, k); [ids[k], ids[j]] = [ids[j], ids[k]]; }
        let minority = ids.slice(0, split);
        const leader = this.nodes.find((n) => n.replica?.isLeader);
        if (isolateLeader && leader) minority = [leader.id, ...ids.filter((x) => x !== leader.id).slice(0, split - 1)];
        const cut: [string, string][] = [];
        for (const a of minority) for (let b = 1; b <= NODES; b++) if (!minority.includes(b)) cut.push([pname(a), pname(b)], [pname(b), pname(a)]);
        for (const [x, y] of cut) this.net.cut(x, y);
        this.log(`PARTITION {${minority.map(pname).join(',')}} | rest${isolateLeader && leader ? ' (old leader isolated)' : ''}`);
        this.at(this.now + len, () => { for (const [x, y] of cut) this.net.fix(x, y); this.log(`partition {${minority.map(pname).join(',')}} healed`); });
      });
    }
    for (let i = 0; i < s.linkFlaps; i++) {
      const t = at();
      const a = r.int(1, NODES);
      let b = r.int(1, NODES - 1);
      if (b >= a) b++;
      const len = r.int(50, 1200);
      const oneWay = r.chance(s.oneWay);
      this.at(t, () => {
        const [x, y] = [pname(a), pname(b)];
        this.net.cut(x, y);
        if (!oneWay) this.net.cut(y, x);
        this.log(oneWay ? `link ${x} -> ${y} cut one way (${y} still reaches ${x})` : `failLink(${x},${y})`);
        this.at(this.now + len, () => { this.net.fix(x, y); this.net.fix(y, x); this.log(`fixLink(${x},${y})`); });
      });
    }
    for (let i = 0; i < s.stalls; i++) {
      const t = at();
      const fromLeader = r.chance(0.5);
      const a = r.int(1, NODES);
      const b = r.int(1, NODES - 1);
      const len = r.int(50, s.stallMaxMs);
      this.at(t, () => {
        // Half the stalls hold back the leader's messages: its accepts arrive after newer terms began.
        const src = fromLeader ? (this.nodes.find((n) => n.replica?.isLeader)?.id ?? a) : a;
        const dst = b >= src ? b + 1 : b;
        this.net.stall(pname(src), pname(dst), this.now + len);
        this.log(`link ${pname(src)} -> ${pname(dst)} stalls for ${len}ms (what it carries meanwhile arrives late, in order)`);
      });
    }
    for (let i = 0; i < s.freezes; i++) {
      const t = at();
      const onLeader = r.chance(0.5);
      const len = r.int(50, s.freezeMaxMs);
      this.at(t, () => {
        const node = pickNode(onLeader);
        if (!node.up) return;
        this.stats.freezes++;
        this.log(`${node.name} FROZEN for ${len}ms (its clock runs on; it handles nothing meanwhile)`);
        node.freeze(this.now + len);
      });
    }
    for (let i = 0; i < s.clientCrashes; i++) {
      const t = at();
      const c = this.clients[r.int(0, this.swarm.clients - 1)];
      const downFor = r.int(0, 500);
      const back = r.chance(s.clockBack) ? r.int(1, 3000) : 0;
      this.at(t, () => {
        if (!c.core) return;
        this.crashClient(c);
        this.at(this.now + downFor, () => this.startClient(c, back));
      });
    }
  }

  private heal(): void {
    this.healed = true;
    this.healedAt = this.now;
    this.net.heal();
    this.log(`HEAL: all links fixed, all nodes up${this.gone.size ? ` but ${[...this.gone].map(pname).join(',')} (down for good)` : ''}, fast reliable messages (${Math.max(0, this.net.lastInFlight - this.now)}ms of late messages still in flight)`);
    for (const n of this.nodes) {
      if (this.gone.has(n.id)) continue;
      if (!n.up || n.armed) this.restart(n);
      else if (n.frozen) n.freeze(this.now);
    }
    for (const c of this.clients) if (!c.core) this.startClient(c, 0);
    const commits = this.nodes.filter((n) => n.replica).map((n) => n.replica!.commit);
    // (plus the blocks a backfill still has to fetch)
    const holes = this.nodes.map((n) => { const b = n.replica?.catchUp.backfill; return b ? b.of - b.done : 0; });
    this.lagAtHeal = Math.max(...commits) - Math.min(...commits) + Math.max(0, ...holes);
  }

  /** Every 10 ms: client timers, and the liveness-during-faults check. */
  private monitor(): void {
    for (const c of this.clients) this.clientTick(c);
    if (!this.healed) this.watchLiveness();
    this.at(this.now + TICK_MS, () => this.monitor());
  }

  /**
   * Liveness during faults: whenever some majority has been up, unfrozen and fully connected
   * (every link both ways, unstalled, with timely delays) for LIVENESS_ELECTIONS election
   * timeouts while a client waited, an operation must have completed in that time.
   */
  private watchLiveness(): void {
    // The same majority must stay healthy the whole window (no member crashed and restarted in
    // between): with nodes crashing in turn, some majority is healthy at every instant while
    // the leader, whichever it is, keeps dying.
    const kept = this.healthy && this.isHealthy(this.healthy.nodes) && this.healthy.nodes.every((n, i) => n.incarnation === this.healthy!.lives[i]);
    if (!kept) {
      const set = this.healthyMajority();
      this.healthy = set ? { nodes: set, lives: set.map((n) => n.incarnation), since: this.now, counted: false } : null;
      if (!set) return;
    }
    const h = this.healthy!;
    const windowMs = LIVENESS_ELECTIONS * this.electionMs;
    if (!h.counted && this.now - h.since >= windowMs) {
      h.counted = true;
      this.stats.livenessWindows++;
    }
    const since = Math.max(h.since, this.lastCompletionAt);
    if (this.now - since < windowMs) return;
    const waiting = this.clients.filter((c) => c.core?.busy);
    if (waiting.length === 0) return;
    this.fail('liveness', `no operation completed in ${this.now - since}ms (${LIVENESS_ELECTIONS} election timeouts) while {${h.nodes.map((n) => n.name).join(',')}} was connected and running throughout; ${this.livenessReport()}`);
  }

  /** Up, not frozen, not about to crash, every link among them flowing both ways, timely delays. */
  private isHealthy(set: readonly SimNode[]): boolean {
    if (!this.net.delaysBelow(this.coreCfg(1).retransmitMs)) return false;
    if (!set.every((n) => n.up && !n.frozen && !n.armed)) return false;
    return set.every((a) => set.every((b) => a === b || this.net.isFlowing(a.name, b.name, this.now)));
  }

  private healthyMajority(): SimNode[] | null {
    const ok = this.nodes.filter((n) => n.up && !n.frozen && !n.armed);
    if (ok.length < MAJORITY) return null;
    // A healthy set of at least a majority (5 nodes: try the sets).
    for (let mask = (1 << ok.length) - 1; mask > 0; mask--) {
      const set = ok.filter((_, i) => mask & (1 << i));
      if (set.length >= MAJORITY && this.isHealthy(set)) return set;
    }
    return null;
  }

  // ---- clients ----

  private addClient(c: number): void {
    const client: SimClient = { name: `C${c}`, index: c - 1, core: null, incarnation: 0, clockOffsetMs: this.clientRng.int(1_000_000, 2_000_000), afterHeal: 0, done: false, current: null };
    this.clients.push(client);
    this.startClient(client, 0);
  }

  /** A client process starts: the real numbering scheme, microseconds of its own clock (which may have stepped back). */
  private startClient(c: SimClient, stepBackMs: number): void {
    if (c.core) return;
    c.clockOffsetMs -= stepBackMs;
    c.incarnation++;
    const lastReq = (this.now + c.clockOffsetMs) * 1000;
    const session = this.clientRng.u32().toString(16).padStart(8, '0');
    // A first life is given a leader hint (spread over the nodes, so requests start out
    // forwarded); a restarted one knows no leader, as a real client restarted without
    // --leader: it asks P1 to lead as it starts, whoever leads by then (ClientCore.start).
    const hint = c.incarnation === 1 ? 1 + ((c.index + c.incarnation) % NODES) : undefined;
    c.core = new ClientCore({ id: c.name, nodes: NODES, replyTo: c.name, timeoutMs: this.swarm.clientTimeoutMs, hint, lastReq, session });
    for (const o of c.core.start(this.now)) this.send(c.name, pname(o.to), o.msg);
    if (c.incarnation > 1) {
      this.stats.clientRestarts++;
      this.log(`${c.name} restarted${stepBackMs ? ` (its clock stepped back ${stepBackMs}ms)` : ''}: numbering from #${lastReq + 1}`);
    }
    const life = c.incarnation;
    this.at(this.now + this.clientRng.int(0, 20), () => { if (c.incarnation === life) this.clientNext(c); });
  }

  private crashClient(c: SimClient): void {
    c.core = null;
    if (c.current) this.log(`${c.name} CRASH with ${c.current.rid} in flight (it may or may not take effect)`);
    else this.log(`${c.name} CRASH`);
    c.current = null; // stays in the history as never returned
  }

  private clientNext(c: SimClient): void {
    const core = c.core;
    if (!core || c.done || core.busy) return;
    if (this.healed && c.afterHeal >= this.opsAfterHeal) {
      c.done = true;
      return;
    }
    const r = this.clientRng;
    const op: OpName = r.chance(0.5) ? 'put' : 'get';
    const key = r.pick(this.keys);
    const value = op === 'put' ? JSON.stringify({ phone_number: `${c.name}-${r.int(0, 1e6)}` }) : undefined;
    const out = core.submit(op, key, value, this.now);
    const rid = requestKey(core.pending!.op);
    this.issued.set(rid, { op, key, value });
    c.current = { client: c.name, op, key, value, call: this.now, ret: Infinity, rid };
    this.history.push(c.current);
    for (const o of out) this.send(c.name, pname(o.to), o.msg);
  }

  private clientTick(c: SimClient): void {
    if (!c.core) return;
    const duel = this.swarm.duel > 0 && !this.healed && this.clientRng.chance(this.swarm.duel);
    for (const o of c.core.onTick(this.now, { duel })) this.send(c.name, pname(o.to), o.msg);
  }

  private clientReceives(c: SimClient, from: number, msg: AnyMessage): void {
    const core = c.core;
    if (!core) return; // a crashed client receives nothing
    if (msg.kind === 'no-leader') {
      for (const o of core.onNoLeader(msg as NoLeader, from, this.now)) this.send(c.name, pname(o.to), o.msg);
    } else if (msg.kind === 'redirect') {
      core.onRedirect(msg as Redirect);
    } else if (msg.kind === 'refused') {
      const r = core.onRefused(msg as Refused, this.now);
      if ((msg as Refused).reason === 'busy' && core.pending?.req === (msg as Refused).req) this.stats.busy++;
      // Numbers only grow within a client session: a correct client is never stale.
      if (r.failed) this.fail('validity', `${c.name}: ${r.failed}`);
    } else if (msg.kind === 'reply') {
      this.clientReply(c, msg as ClientReply);
    }
  }

  private clientReply(c: SimClient, msg: ClientReply): void {
    const done = c.core!.onReply(msg, this.now);
    if (!done || !c.current) return;
    const h = c.current;
    h.ret = this.now;
    if (done.op === 'get') h.result = done.result;
    else if (done.result !== 'ack') this.fail('validity', `${h.rid} put answered ${done.result}`);
    h.depth = done.depth;
    c.current = null;
    this.stats.opsCompleted++;
    this.lastCompletionAt = this.now;
    if (this.healed) c.afterHeal++;
    else this.stats.opsDuringFaults++;
    const life = c.incarnation;
    this.at(this.now + this.clientRng.int(0, 30), () => { if (c.incarnation === life) this.clientNext(c); });
  }

  // ---- checks ----

  private converged(): boolean {
    const live = this.nodes.filter((n) => !this.gone.has(n.id));
    const first = live[0].replica;
    if (!first) return false;
    for (const n of live) {
      const r = n.replica;
      if (!r || r.commit !== first.commit || r.durable.headHash(r.commit) !== first.durable.headHash(first.commit) || r.backfilling) return false;
    }
    return true;
  }

  private livenessReport(): string {
    const clients = this.clients.map((c) => `${c.name}:${!c.core ? 'down' : c.done ? 'done' : c.core.pending ? `waiting #${c.core.pending.req} (${c.core.pending.attempts} tries)` : 'idle'}`).join(' ');
    const nodes = this.nodes.map((n) => n.replica ? `${n.name}:${n.replica.currentRole}@${n.replica.commit}/${n.replica.durable.end}${n.frozen ? '(frozen)' : ''} promised ${n.replica.durable.promised ?? '-'}` : `${n.name}:down`).join(' ');
    const when = this.healed ? `not done ${this.now - this.healedAt}ms after the heal (bounds: clients ${this.recoveryDeadline() - this.healedAt}ms, chains ${this.convergenceDeadline() - this.healedAt}ms for a lag of ${this.lagAtHeal} blocks)` : 'during faults';
    return `${when}: ${clients}; ${nodes}`;
  }
}

/**
 * This seed's checkpoints: most seeds take them often (every few blocks, so restarts start from
 * them and chains are compacted down to a small in-memory window); some never do (full replays).
 */
interface CheckpointDraw {
  policy: CheckpointPolicy;
  mutation?: CheckpointMutation;
  damageAtStart: number;
  crashes: number;
  /** Fast catch-up: how far behind a node installs a peer's checkpoint (small: often), and crashes of backfilling nodes. */
  installThresholdBlocks: number;
  backfillCrashes: number;
  installCrashes: number;
  installRng: Prng;
}

function drawCheckpoints(r: Prng, mutation: Mutation | undefined, seed: number): CheckpointDraw {
  const never = r.chance(0.15);
  return {
    policy: {
      everyBlocks: never ? Number.MAX_SAFE_INTEGER : r.int(2, 20),
      everyBytes: never ? Number.MAX_SAFE_INTEGER : r.pick([2_000, 20_000, 1 << 30]),
      windowBlocks: r.pick([0, 1, 5, 20, 1000]),
      appendPerTurn: r.pick([1, 3, 50, 20_000]),
    },
    mutation: mutation === 'checkpoint-tentative' || mutation === 'checkpoint-no-dedupe' ? mutation : undefined,
    damageAtStart: r.pick([0, 0, 0.2, 0.5]),
    crashes: r.pick([0, 0, 1, 3]),
    ...drawInstalls(new Prng((seed * 40503 + 0x1157) % 2 ** 32)),
  };
}

/**
 * Fast catch-up draws, from a PRNG of their own (so the draws of seeds before installs existed
 * are kept): how far behind a node installs (small: often), crashes right after an install
 * record or while backfilling.
 */
function drawInstalls(r: Prng): { installThresholdBlocks: number; backfillCrashes: number; installCrashes: number; installRng: Prng } {
  return {
    installThresholdBlocks: r.pick([3, 8, 20, 60, Number.MAX_SAFE_INTEGER]),
    backfillCrashes: r.pick([0, 1, 3]),
    installCrashes: r.pick([0, 1, 2]),
    installRng: r.fork(),
  };
}

function describeArmed(t: Armed): string {
  switch (t) {
    case 'ckpt-write': return 'crash while writing its next checkpoint';
    case 'ckpt-rename': return 'crash after renaming its next checkpoint into place, before the folder fsync';
    case 'fsync': return 'crash before its next fsync completes';
    case 'eio': return 'its next fsync fails (EIO): it must stop';
    case 'enospc': return 'its next write fails (ENOSPC, disk full): it must stop';
    case 'write': return 'crash after its next write, before sending';
    default: return `crash after its next ${t} record, before sending`;
  }
}

