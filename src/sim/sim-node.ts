/**
 * One simulated node process: the real host loop (`src/host/host-loop.ts`) around a core, over
 * an in-memory disk that loses what was not fsynced, with its own clock (offset, rate error,
 * late timers) and the ability to be frozen (SIGSTOP, a GC pause) while the others go on.
 *
 * It also keeps what its disk holds *durably* (`synced`: the records an fsync has covered, applied
 * to a DurableState of their own), so the simulator can check that a node's messages never vouch
 * for more than its disk holds, and that a restart remembers what it vouched for.
 */
import { Accepted, Ballot } from '../../messages';
import { DurableRecord, DurableState } from '../core/durable';
import { Outbound, Output, pname, Replica } from '../core/replica';
import { HostLoop } from '../host/host-loop';
import { StateMachine } from '../core/state-machine';
import { BlockFile } from '../store/block-file';
import { ChainStore, LoadOptions, LoadReport, missingInstallRecord } from '../store/chain-store';
import { checkpointStateMachine, CheckpointMutation, CheckpointPolicy, chooseCheckpoint, stateMachineFromBlocks, StoreUpkeep } from '../store/checkpoint';
import { MemDisk } from '../store/disk';
import { CheckpointCrash, MemCheckpointDir } from './mem-checkpoints';
import { Prng } from './prng';

/** What a node's `accepted` reply vouched for: under `term`, blocks `hashes` from depth `from` (its decided prefix then). */
export interface Vouched {
  term: Ballot;
  from: number;
  hashes: string[];
}

/**
 * Whether `state` still holds what `v` vouched for, or legitimately moved past it: a later term's
 * accept replaced the tentative blocks, or decided blocks that differ overruled them.
 */
export function stillHolds(state: DurableState, v: Vouched): string | null {
  if (state.suffixBallot && Ballot.compareTerm(state.suffixBallot, v.term) > 0) return null;
  for (let i = 0; i < v.hashes.length; i++) {
    const depth = v.from + i;
    if (depth < state.commit) {
      if (state.hash(depth) !== v.hashes[i]) return null; // overruled by a decided block: it lost, and all above it
      continue;
    }
    if (depth >= state.end || state.hash(depth) !== v.hashes[i]) {
      return `it vouched (accepted under ${v.term}) for block ${depth} ${v.hashes[i].slice(0, 10)}, but holds ${depth < state.end ? state.hash(depth)!.slice(0, 10) : 'nothing'} there (suffix term ${state.suffixBallot ?? '-'})`;
    }
  }
  return null;
}

/** Thrown by the simulated disk: the node process dies here (a crash point or a disk error). */
export class NodeDies extends Error {}

export type Armed = DurableRecord['t'] | 'write' | 'fsync' | 'eio' | 'enospc' | CheckpointCrash;

export interface SimNodeEnv {
  /** Global simulated time. */
  now(): number;
  at(time: number, fn: () => void): void;
  send(from: string, out: Outbound): void;
  log(line: string): void;
  observe(node: SimNode, out: Output): void;
  /** A check failed: stop the run. */
  fail(property: 'durability' | 'invariant' | 'checkpoint', detail: string): never;
  makeReplica(node: SimNode, report: LoadReport, sm?: StateMachine): Replica;
  load(disk: MemDisk, from?: LoadOptions['from']): LoadReport;
  /** Counts checkpoint events for the run's statistics. */
  count(what: 'checkpoints' | 'checkpointRestarts' | 'checkpointFallbacks'): void;
  /** This seed's checkpoint policy, and a planted checkpoint bug (a mutant). */
  checkpoints: { policy: CheckpointPolicy; mutation?: CheckpointMutation; rng: Prng; damageAtStart: number; compareWithReplay: boolean; installThresholdBlocks?: number };
}

/** Why a restart from a checkpoint differs from a full replay of the same chain.log (null: it does not). */
export function differsFromReplay(fromCkpt: LoadReport, full: LoadReport, sm: StateMachine): string | null {
  const a = fromCkpt.state;
  const b = full.state;
  if (a.commit !== b.commit || a.end !== b.end) return `decided ${a.commit}/end ${a.end}, a full replay gives ${b.commit}/${b.end}`;
  if (String(a.promised) !== String(b.promised) || String(a.suffixBallot) !== String(b.suffixBallot)) return `promised ${a.promised}/suffix term ${a.suffixBallot}, a full replay gives ${b.promised}/${b.suffixBallot}`;
  if (fromCkpt.voteFloor !== full.voteFloor) return `vote floor ${fromCkpt.voteFloor}, a full replay gives ${full.voteFloor}`;
  for (let d = a.base; d < a.end; d++) if (a.hash(d) !== b.hash(d)) return `block ${d} differs from a full replay's`;
  if (b.base > 0) return null; // (chain.log holds an install: its blocks below are not in it; the simulator checks the installed dictionary when it is installed)
  const replayed = new StateMachine();
  for (let d = 0; d < b.commit; d++) replayed.apply(b.held(d));
  const dict = (m: StateMachine) => JSON.stringify([...m.dict].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  if (dict(sm) !== dict(replayed)) return `its dictionary differs from the decided chain's: ${dict(sm).slice(0, 200)} vs ${dict(replayed).slice(0, 200)}`;
  if (JSON.stringify([...sm.sessions]) !== JSON.stringify([...replayed.sessions])) return `its request-dedupe sessions differ from the decided chain's (${sm.sessions.size} vs ${replayed.sessions.size})`;
  return null;
}

export class SimNode {
  readonly name: string;
  readonly disk = new MemDisk();
  /** blocks.dat, blocks.idx and the checkpoint folder. */
  readonly blocksDisk = new MemDisk();
  readonly blocksIdxDisk = new MemDisk();
  readonly checkpoints: MemCheckpointDir;
  private upkeep: StoreUpkeep | null = null;
  private voteFloor = 0;
  host: HostLoop | null = null;
  /** Bumped on every start, so events scheduled for an earlier life are ignored. */
  incarnation = 0;
  /** What this node's disk holds durably (see the file comment). */
  synced = new DurableState();
  private unsynced: { mark: number; records: readonly DurableRecord[] }[] = [];
  /** The last `accepted` reply this node sent. */
  vouched: Vouched | null = null;
  /** Accepted replies written but not yet sent, with what each vouches for. */
  private readonly vouching = new WeakMap<object, Vouched>();
  frozenUntil = 0;
  private deferred: (() => void)[] = [];
  /** Dies at the next matching write or fsync. */
  armed: Armed | null = null;

  /**
   * `rng` draws fsync durations and turn lengths, `tear` what a crash keeps of unsynced writes;
   * `clock` is this node's clock against the simulator's.
   */
  constructor(readonly id: number, private readonly env: SimNodeEnv, private readonly rng: Prng, private readonly tear: Prng, private readonly clock: { offsetMs: number; rate: number }, private readonly opts: { diskMs: number; turnMs: number }) {
    this.name = pname(id);
    this.checkpoints = new MemCheckpointDir((why) => { throw new NodeDies(why); }, env.checkpoints.rng.fork());
    // (Its own stream, seeded from draws already made: the other streams, and so the schedules of
    // seeds drawn before blocks.idx existed, are unchanged.)
    this.idxTear = new Prng((Math.imul(id, 2654435761) ^ clock.offsetMs) >>> 0);
  }

  /** Tears of blocks.idx at a crash. */
  private readonly idxTear: Prng;

  get up(): boolean {
    return this.host !== null && !this.host.stopped;
  }
  get replica(): Replica | null {
    return this.up ? this.host!.core : null;
  }
  get frozen(): boolean {
    return this.up && this.env.now() < this.frozenUntil;
  }

  /** This node's own clock. */
  localNow(): number {
    return Math.floor(this.clock.offsetMs + this.env.now() * this.clock.rate);
  }

  /** Starts (or restarts) the process from its disk. Returns the load report. */
  start(): LoadReport {
    const before = this.synced;
    const ck = this.env.checkpoints;
    if (ck.rng.chance(ck.damageAtStart) && this.canLoseCheckpoints()) {
      const done = this.checkpoints.damageNewest(ck.rng);
      if (done) this.env.log(`${this.name} disk fault while down: ${done}`);
    }
    const blocks = new BlockFile(this.blocksDisk, { index: this.blocksIdxDisk });
    const chosen = chooseCheckpoint(this.checkpoints, this.disk, blocks, null);
    const report = this.env.load(this.disk, chosen.checkpoint ? { checkpoint: chosen.checkpoint, older: blocks } : undefined);
    for (const w of [...blocks.findings, ...chosen.warnings, ...report.warnings]) this.env.log(`${this.name} store: ${w}`);
    for (const w of chosen.warnings) if (w.includes('cannot be used')) this.env.count('checkpointFallbacks');
    if (report.checkpoint) this.env.count('checkpointRestarts');
    if (report.tampered) this.env.fail('invariant', `${this.name} took a crash for tampering: ${report.warnings.join('; ')}`);
    const has = report.state.promised;
    if (before.promised && (!has || Ballot.compareTerm(has, before.promised) < 0)) {
      this.env.fail('durability', `${this.name} restarted promising ${has ?? 'nothing'}, but its disk had fsynced a promise of ${before.promised}`);
    }
    if (this.vouched) {
      const lost = stillHolds(report.state, this.vouched);
      if (lost) this.env.fail('durability', `${this.name} restarted without a block it had vouched for: ${lost}`);
    }
    const lostInstall = missingInstallRecord(report);
    if (lostInstall) {
      new ChainStore(this.disk).write([lostInstall], true);
      this.env.log(`${this.name} store: wrote again the install record of checkpoint ${report.checkpoint!.depth}`);
    }
    // A second copy, from a full replay (the core's own is mutated as it runs); a restart from a
    // checkpoint must give exactly what the full replay gives.
    const full = this.env.load(this.disk);
    full.state.older ??= blocks;
    this.synced = full.state;
    let rebuilt: StateMachine | undefined;
    if (report.state.base > (report.checkpoint?.depth ?? 0)) {
      const sm = stateMachineFromBlocks(blocks, report.state.base, report.state.headHash(report.state.base));
      if (typeof sm === 'string') this.env.fail('checkpoint', `${this.name} restarted with an install at depth ${report.state.base} in chain.log, no usable checkpoint at or above it, and ${sm}`);
      rebuilt = sm;
      this.env.log(`${this.name} store: no checkpoint at or above the installed depth ${report.state.base}: dictionary rebuilt from blocks.dat`);
    }
    if (report.checkpoint && ck.compareWithReplay) {
      const sm = checkpointStateMachine(report.checkpoint);
      for (let d = report.state.base; d < report.state.commit; d++) sm.apply(report.state.held(d));
      const wrong = differsFromReplay(report, full, sm);
      if (wrong) this.env.fail('checkpoint', `${this.name} restarted from checkpoint ${report.checkpoint.depth}: ${wrong}`);
    }
    this.unsynced = [];
    this.incarnation++;
    this.frozenUntil = 0;
    this.deferred = [];
    this.armed = null;
    const replica = this.env.makeReplica(this, report, rebuilt);
    const reconciled = StoreUpkeep.reconcile(blocks, replica);
    if (reconciled) this.env.log(`${this.name} store: ${reconciled}`);
    this.voteFloor = report.voteFloor;
    this.upkeep = new StoreUpkeep({
      chain: this.disk, syncChain: () => this.syncAll(), blocks, dir: this.checkpoints, policy: ck.policy,
      identity: { cluster: 'sim', node: this.name }, startedFrom: report.checkpoint, now: () => this.localNow(),
      mutation: ck.mutation, isCrash: (e) => e instanceof NodeDies, installThresholdBlocks: ck.installThresholdBlocks, voteFloor: report.voteFloor,
    });
    const resume = StoreUpkeep.backfillInput(blocks, replica);
    const upkeep = this.upkeep;
    const life = this.incarnation;
    this.host = new HostLoop(replica, {
      now: () => this.localNow(),
      write: (records) => this.write(records),
      sync: (done) => {
        const mark = this.disk.mark();
        this.env.at(this.env.now() + this.rng.int(0, this.opts.diskMs), () => this.run(life, () => this.fsynced(mark, done)));
      },
      send: (out) => this.send(out),
      defer: (fn) => this.env.at(this.env.now() + this.rng.int(0, this.opts.turnMs), () => this.run(life, () => {
        fn();
        this.afterTurn();
      })),
      observe: (out) => {
        // What each accepted reply vouches for is what the core held when it wrote the records.
        const d = replica.durable;
        for (const o of out.send) {
          if (o.msg.kind !== 'accepted') continue;
          const m = o.msg as Accepted;
          const from = Math.min(d.commit, m.end);
          const hashes: string[] = [];
          for (let i = from; i < m.end; i++) hashes.push(d.hash(i)!);
          this.vouching.set(o.msg, { term: m.ballot, from, hashes });
        }
        this.env.observe(this, out);
      },
      install: (inst) => {
        if (this.armed === 'ckpt-write' || this.armed === 'ckpt-rename') this.checkpoints.armed = this.armed;
        return upkeep.install(replica, inst);
      },
      serveCheckpoint: (req) => upkeep.serve(replica, req),
      backfill: (from, blocks) => {
        const problem = upkeep.backfill(replica, from, blocks);
        if (problem) this.env.fail('invariant', `${this.name} ${problem}`);
      },
    });
    if (resume) this.host.input(resume);
    const st = report.state;
    this.env.log(`${this.name} up${report.checkpoint ? ` from checkpoint ${report.checkpoint.depth}` : ''}: depth ${st.commit} decided, ${st.end - st.commit} tentative, promised ${st.promised ?? '-'}`);
    return report;
  }

  /**
   * What this node holds for the final checks: its running core's state, or (down) what its disk
   * holds, with the blocks a backfill had still to bring (not held) when it went down.
   */
  atRest(): { state: DurableState; hole: { from: number; to: number } | null } {
    if (this.replica) return { state: this.replica.durable, hole: null };
    const blocks = new BlockFile(this.blocksDisk, { readOnly: true });
    this.synced.older = blocks;
    if (this.synced.base === 0) return { state: this.synced, hole: null };
    return { state: this.synced, hole: { from: blocks.count, to: blocks.hole ? blocks.upperFrom : Math.max(blocks.count, this.synced.base) } };
  }

  /**
   * Whether losing its checkpoints still lets this node start: it never installed one, or
   * blocks.dat holds every block below the installed depth (the dictionary is rebuilt from them).
   * Damage beyond that (a node that installed and lost every checkpoint before its backfill
   * completed) makes a node refuse to start, a known limit the simulator does not explore.
   */
  private canLoseCheckpoints(): boolean {
    return this.synced.base === 0 || new BlockFile(this.blocksDisk, { readOnly: true }).count >= this.synced.base;
  }

  /** A crash: the process dies; unsynced bytes are lost, except possibly a torn prefix (with a lost chunk). */
  crash(why: string): void {
    const tear = this.tear;
    if (!this.host) return;
    this.host.stop();
    this.host = null;
    const unsynced = this.disk.unsyncedBytes;
    const keep = unsynced > 0 && tear.chance(0.5) ? tear.int(0, unsynced) : 0;
    // Half the torn writes also lose a page in the middle (it reads back as zero fill).
    const holes: [number, number][] = keep > 1 && tear.chance(0.5) ? [[tear.int(0, Math.min(keep - 2, 100)), tear.int(1, 64)]] : [];
    this.disk.crash(keep, holes);
    const blocksUnsynced = this.blocksDisk.unsyncedBytes;
    const ckRng = this.env.checkpoints.rng; // (not `tear`: the seeds drawn before checkpoints existed keep their tears)
    const keepBlocks = blocksUnsynced > 0 && ckRng.chance(0.5) ? ckRng.int(0, blocksUnsynced) : 0;
    this.blocksDisk.crash(keepBlocks, keepBlocks > 1 && ckRng.chance(0.5) ? [[ckRng.int(0, keepBlocks - 2), ckRng.int(1, 64)]] : []);
    const idxUnsynced = this.blocksIdxDisk.unsyncedBytes;
    const keepIdx = idxUnsynced > 0 && this.idxTear.chance(0.5) ? this.idxTear.int(0, idxUnsynced) : 0;
    this.blocksIdxDisk.crash(keepIdx, keepIdx > 1 && this.idxTear.chance(0.5) ? [[this.idxTear.int(0, keepIdx - 2), this.idxTear.int(1, 64)]] : []);
    this.checkpoints.crash();
    this.checkpoints.armed = null;
    this.upkeep = null;
    this.unsynced = [];
    this.deferred = [];
    this.env.log(`${this.name} CRASH (${why}); kept ${keep}/${unsynced} unsynced bytes${holes.length ? `, ${holes[0][1]} of them lost at +${holes[0][0]}` : ''}`);
  }

  /** Feeds an input (a message, a tick) to the host, unless the node is down; waits while frozen. */
  input(life: number | null, input: Parameters<HostLoop['input']>[0]): void {
    this.run(life ?? this.incarnation, () => this.host!.input(input));
  }

  freeze(until: number): void {
    if (!this.up) return;
    this.frozenUntil = Math.max(this.frozenUntil, until);
    const life = this.incarnation;
    this.env.at(this.frozenUntil, () => {
      if (this.incarnation !== life || this.env.now() < this.frozenUntil) return;
      const work = this.deferred;
      this.deferred = [];
      this.env.log(`${this.name} thawed: ${work.length} event(s) waited`);
      for (const fn of work) this.run(life, fn);
    });
  }

  /** Runs `fn` in this life of the process: now, or after a freeze; never after a crash. */
  private run(life: number, fn: () => void): void {
    if (this.incarnation !== life || !this.up) return;
    if (this.frozen) {
      this.deferred.push(fn);
      return;
    }
    try {
      fn();
    } catch (e) {
      if (!(e instanceof NodeDies)) throw e;
      this.crash(e.message);
    }
  }

  /** After each turn, as in the node: blocks.dat, the memory window, checkpoints. */
  private afterTurn(): void {
    if (!this.up || !this.upkeep) return;
    if (this.armed === 'ckpt-write' || this.armed === 'ckpt-rename') this.checkpoints.armed = this.armed;
    const u = this.upkeep.afterTurn(this.host!.core, this.voteFloor);
    for (const l of u.lines) this.env.log(`${this.name} store: ${l}`);
    if (u.checkpoint) this.env.count('checkpoints');
    if (u.checkpoint) this.env.log(`${this.name} checkpoint at depth ${u.checkpoint.depth} (${u.checkpoint.bytes} bytes)`);
  }

  /** fsync of the whole chain.log (before a checkpoint): what it made durable joins `synced`. */
  private syncAll(): void {
    this.disk.sync();
    for (const u of this.unsynced) for (const r of u.records) this.synced.apply(r);
    this.unsynced = [];
  }

  private write(records: readonly DurableRecord[]): void {
    if (records.length === 0) return;
    new ChainStore(this.disk).write(records, false);
    this.unsynced.push({ mark: this.disk.mark(), records });
    const armed = this.armed;
    if (armed === 'enospc') throw new NodeDies('write failed: ENOSPC (disk full); the node stops');
    if (armed && armed !== 'fsync' && armed !== 'eio' && (armed === 'write' || records.some((r) => r.t === armed))) {
      throw new NodeDies(`after persisting ${records.map((r) => r.t).join('+')}, before sending`);
    }
  }

  private fsynced(mark: number, done: () => void): void {
    if (this.armed === 'fsync') throw new NodeDies('power lost before an fsync completed');
    if (this.armed === 'eio') throw new NodeDies('fsync failed: EIO; the node stops (what it wrote may be lost)');
    this.disk.syncTo(mark);
    while (this.unsynced.length > 0 && this.unsynced[0].mark <= mark) {
      for (const r of this.unsynced.shift()!.records) this.synced.apply(r);
    }
    done();
  }

  private send(out: Outbound): void {
    const v = this.vouching.get(out.msg);
    if (v) {
      // The reply may leave only once the disk holds what it vouches for (or has durably moved
      // past it: a later term, or decided blocks that overrule it).
      const lost = stillHolds(this.synced, v);
      if (lost) this.env.fail('durability', `${this.name} sent accepted up to ${v.from + v.hashes.length} under ${v.term} before its disk held it: ${lost}`);
      this.vouched = v;
    }
    this.env.send(this.name, out);
  }
}
