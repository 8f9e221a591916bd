/**
 * The consensus core of one node: Multi-Paxos over the hash-linked chain (seed spec 2.3).
 *
 * Pure and deterministic: `step(input, now)` takes one message or a timer tick and the
 * current time, and returns what to persist, what to send, what was decided and log lines.
 * It owns no socket, clock or random source (randomness for nonces is injected). The node
 * must persist (and fsync when `sync`) every record of an output before sending any of its
 * messages.
 *
 * Safety argument in brief (see README "Protocol"):
 * - A term (seq, pid) has one leader, who never reuses it (the promise to itself is durable).
 * - An acceptor keeps one tentative suffix, all accepted under `suffixBallot`. It moves to a
 *   new term only on an accept that starts at or below its first uncommitted index, so it
 *   then holds the new leader's whole log from there: the adopted chain and all after it.
 *   Within a term it only appends blocks that link (hash pointer) to what it holds.
 * - A new leader gets promises from a majority and adopts the suffix with the highest
 *   `suffixBallot` (longest among equals): any block a majority accepted under some term is
 *   in it. Acceptors refuse a prepare whose depth is below their decided prefix and send the
 *   missing decided blocks instead, so the leader's decided prefix is never behind a promiser.
 * - Decided is learned by hash: "commit c, head hash h" marks blocks decided only where the
 *   local block at c-1 hashes to h, which by the hash chain fixes the whole prefix.
 */
import * as crypto from 'node:crypto';
import {
  Accept, Accepted, AnyMessage, BackfillRequest, BackfillResponse, Ballot, Block, ClientReply, ClientRequest, Decide, Forward,
  HASH_HEX_CHARS, InstallChunk, InstallRequest, LeaderRequest, make, MAX_INSTALL_CHUNK_BYTES, MAX_TAIL_HASHES, Nack, NoLeader, Operation, PendingOp, Prepare, PromiseMsg, Redirect, Refused, RefusalReason, RepairRequest, RepairResponse,
} from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock, operationDigest, Random, short, verifyChain } from '../chain';
import { Checkpoint, decodeCheckpoint } from '../store/checkpoint';
import { DurableRecord, DurableState, needsSync } from './durable';
import { ClientQueue } from './client-queue';
import { invariant } from './invariant';
import { hearsMajority, Leadership, PeerProgress, quorumEnd } from './progress';
import { blockBytes, fitCount, pendingBytes } from './sizes';
import { StateMachine } from './state-machine';
import { CoreConfig, INSTALL_THRESHOLD_BLOCKS, Input, MAX_BALLOT_SEQ, MAX_INSTALL_BYTES, Output, pname, requestId, requestKey, Role, SuffixOffer } from './types';

export * from './types';
export type { Leadership, PeerProgress } from './progress';

/** Every ballot a message carries (its own, a promise's suffix term, a refusal's promised one). */
function ballotsOf(msg: AnyMessage): Ballot[] {
  const out: Ballot[] = [];
  if ('ballot' in msg) out.push(msg.ballot);
  if (msg.kind === 'nack') out.push((msg as Nack).promised);
  if (msg.kind === 'promise' && (msg as PromiseMsg).suffixBallot) out.push((msg as PromiseMsg).suffixBallot!);
  return out;
}

function parsePeer(name: string, nodes: number): number | null {
  const m = /^P([0-9]+)$/.exec(name);
  if (!m) return null;
  const id = Number(m[1]);
  return id >= 1 && id <= nodes ? id : null;
}

interface Candidacy {
  ballot: Ballot;
  startedAt: number;
  sentAt: number;
  promises: Map<number, PromiseMsg>;
}

export class Replica {
  readonly cfg: CoreConfig;
  readonly durable: DurableState;
  readonly sm: StateMachine;
  private role: Role = 'follower';
  /** The node believed to lead (from accepts and replies), or null. */
  private leaderHint: number | null = null;
  private candidacy: Candidacy | null = null;
  private leadership: Leadership | null = null;
  /** Highest seq seen in any ballot, so a new candidacy outbids it. */
  private maxSeq = 0;
  /** Client operations held until decided, in arrival order, by request id. */
  private readonly queue: ClientQueue;
  private lastForwardAt = 0;
  /** Request ids in the tentative suffix -> depth (leader dedupe). */
  private readonly inLog = new Map<string, number>();
  /** Where replies go, for operations this node proposed. */
  private readonly replyTo = new Map<string, string>();
  /** The furthest decided prefix a peer has reported (repair goes on until I have it). */
  private aheadOfMe = { peer: 0, commit: 0 };
  /** Pending pull-repair: which peer, from where, when asked. */
  private repair: { peer: number; from: number; at: number } | null = null;
  private readonly random: Random;
  /** Outputs that persisted something so far (see Output.seq). */
  private outputSeq = 0;
  /** Leader, within one batch: peers owed an accept, and whether the commit index moved. */
  private readonly acceptTo = new Set<number>();
  private decideDirty = false;
  /** Rate limit for `refusedInput` lines. */
  private lastRefusalLogAt = -Infinity;
  private refusalsUnlogged = 0;
  private wantPropose = false;
  /** Accepts built in this batch, by start depth: peers at the same point share one message (encoded once). */
  private readonly acceptsByFrom = new Map<number, Accept>();
  /** After a damaged store lost records: vote for nothing until decided up to here (see chain-store). */
  private voteFloor: number;
  /** A peer's checkpoint being fetched in chunks (fast catch-up), or null. */
  private fetch: { peer: number; sha256: string; total: number; depth: number; parts: Buffer[]; got: number; at: number; lastProgressAt: number } | null = null;
  /** A checkpoint chunk that arrived in the turn of an install, for the next turn (see onInstallChunk). */
  private heldChunk: { peer: number; m: InstallChunk } | null = null;
  /** When a fetch last failed (the peer had none newer, or went silent): repair alone for a while. */
  private fetchFailedAt = -Infinity;
  /** Decided blocks [low, top) missing below an installed checkpoint; block top-1 hashes to topHash. */
  private backfill: { low: number; top: number; topHash: string; peer: number; at: number; startTop: number; refusals: number } | null = null;
  /** Installs done and backfills finished by this core (for status and the simulator's counts). */
  private installs = 0;
  private backfillsDone = 0;
  private out!: Output;

  /**
   * `opts.sm`: the dictionary and sessions at `durable.base` (from a checkpoint); without it they
   * are rebuilt from depth 0, which needs the whole chain in memory.
   */
  constructor(cfg: CoreConfig, durable: DurableState, random: Random, opts: { voteFloor?: number; sm?: StateMachine } = {}) {
    this.cfg = cfg;
    this.durable = durable;
    this.random = random;
    this.voteFloor = opts.voteFloor ?? 0;
    this.queue = new ClientQueue(cfg.queueMax, cfg.queueMaxBytes);
    if (durable.promised) this.maxSeq = durable.promised.seq;
    // Rebuild the dictionary from the decided prefix (never from tentative blocks).
    this.sm = opts.sm ?? new StateMachine();
    invariant(this.sm.applied === durable.base || (!opts.sm && durable.base === 0), () => `the dictionary is at depth ${this.sm.applied}, the chain in memory starts at ${durable.base}`);
    for (let d = this.sm.applied; d < durable.commit; d++) this.sm.apply(durable.held(d));
    this.reindexSuffix();
  }

  // ---- read-only views for consoles, tests and the simulator ----

  get id(): number { return this.cfg.id; }
  get name(): string { return pname(this.cfg.id); }
  get isLeader(): boolean { return this.role === 'leader'; }
  get currentRole(): Role { return this.role; }
  get leader(): number | null { return this.role === 'leader' ? this.cfg.id : this.leaderHint; }
  get commit(): number { return this.durable.commit; }
  get ballot(): Ballot | null { return this.leadership?.ballot ?? this.candidacy?.ballot ?? null; }
  pendingOps(): PendingOp[] { return [...this.queue.values()]; }

  private get majority(): number { return Math.floor(this.cfg.nodes / 2) + 1; }

  // ---- the one entry point ----

  step(input: Input, now: number): Output {
    return this.stepBatch([input], now);
  }

  /**
   * Several inputs at once (all that arrived in one turn of the node's event loop). The
   * leader then sends one accept per peer covering every block proposed in the batch, and
   * one decide — the same outcome as one step per input, in fewer, larger messages.
   */
  stepBatch(inputs: readonly Input[], now: number): Output {
    this.out = { seq: this.outputSeq + 1, persist: [], sync: false, send: [], decided: [], events: [], blockEvents: [], serve: [], backfill: [] };
    const held = this.heldChunk;
    this.heldChunk = null;
    if (held) this.onInstallChunk(held.peer, held.m, now);
    for (const input of inputs) {
      if (input.type === 'tick') this.onTick(now);
      else if (input.type === 'synced') this.onSynced(input.through, now);
      else if (input.type === 'backfill') this.startBackfill(input.from, input.to, input.topHash, now);
      else this.onMessage(input.from, input.msg, now);
    }
    this.endBatch(now);
    if (this.out.persist.length > 0) this.outputSeq++;
    else this.out.seq = 0;
    return this.out;
  }

  /** Leader: emit the accepts and the decide the batch called for. */
  private endBatch(now: number): void {
    const l = this.leadership;
    if (this.role === 'leader' && l && this.wantPropose) this.propose(now); // one record and one round for the whole batch
    this.wantPropose = false;
    if (this.role === 'leader' && l) {
      for (const p of this.acceptTo) this.emitAccept(p, now);
      // A moved commit index rides on the accepts of this batch; peers that get none are owed a
      // decide, sent on the next tick unless an accept carries it first. Under steady load that
      // halves the messages per block, and a decide is only news (a lost one is re-learned).
      if (this.decideDirty) for (const [p, pp] of l.peers) if (!this.acceptTo.has(p)) pp.decideOwed = true;
    }
    this.acceptTo.clear();
    this.acceptsByFrom.clear();
    this.decideDirty = false;
  }

  private onMessage(from: string, msg: AnyMessage, now: number): void {
    const peer = parsePeer(from, this.cfg.nodes);
    const tooHigh = ballotsOf(msg).find((b) => b.seq > MAX_BALLOT_SEQ);
    if (tooHigh) return this.refusedInput(`${from}'s ${msg.kind} names ballot seq ${tooHigh.seq}, above the bound ${MAX_BALLOT_SEQ}; refused`, now);
    if ('ballot' in msg && msg.ballot.seq > this.maxSeq) this.maxSeq = msg.ballot.seq;
    // A refusal names the higher term the refuser promised: the next candidacy must outbid it,
    // or elections climb one seq at a time and each is deposed by the same refusal.
    if (msg.kind === 'nack' && (msg as Nack).promised.seq > this.maxSeq) this.maxSeq = (msg as Nack).promised.seq;
    switch (msg.kind) {
      case 'request': return this.onClientOps([(msg as ClientRequest).pending], now, true);
      case 'leader': return void (msg as LeaderRequest, this.onLeaderRequest(from, now));
      case 'reply':
      case 'redirect':
      case 'refused':
      case 'no-leader': return; // nodes do not take replies
    }
    if (peer === null || peer === this.cfg.id) return; // node-to-node kinds only from other nodes
    switch (msg.kind) {
      case 'forward': return this.onClientOps((msg as Forward).ops, now, false);
      case 'prepare': return this.onPrepare(peer, msg as Prepare, now);
      case 'promise': return this.onPromise(peer, msg as PromiseMsg, now);
      case 'nack': return this.onNack(peer, msg as Nack, now);
      case 'accept': return this.onAccept(peer, msg as Accept, now);
      case 'accepted': return this.onAccepted(peer, msg as Accepted, now);
      case 'decide': return this.onDecide(peer, msg as Decide, now);
      case 'repair-request': return this.onRepairRequest(peer, msg as RepairRequest);
      case 'repair': return this.onRepair(peer, msg as RepairResponse, now);
      case 'install-request': return this.onInstallRequest(peer, msg as InstallRequest);
      case 'install-chunk': return this.onInstallChunk(peer, msg as InstallChunk, now);
      case 'backfill-request': return this.onBackfillRequest(peer, msg as BackfillRequest);
      case 'backfill': return this.onBackfillResponse(peer, msg as BackfillResponse, now);
    }
  }

  /**
   * Input no correct peer sends: refused with a log line, at most one a second (with a count of
   * those not shown), never a state change.
   */
  private refusedInput(line: string, now: number): void {
    if (now - this.lastRefusalLogAt >= 1000) {
      this.event(`${line}${this.refusalsUnlogged ? ` (and ${this.refusalsUnlogged} more refused since the last line)` : ''}`);
      this.refusalsUnlogged = 0;
      this.lastRefusalLogAt = now;
    } else {
      this.refusalsUnlogged++;
    }
  }

  // ---- output helpers ----

  private persist(rec: DurableRecord): void {
    this.durable.apply(rec);
    this.out.persist.push(rec);
    if (needsSync(rec)) this.out.sync = true;
  }

  private send(to: number, msg: AnyMessage): void {
    this.out.send.push({ to: pname(to), msg, afterSync: this.vouchesForDisk(msg) });
  }

  /**
   * Messages that vouch for durable state and so leave only after the fsync: a promise, an
   * accepted reply, a prepare (whose term must never be reused after a crash).
   */
  protected vouchesForDisk(msg: AnyMessage): boolean {
    return msg.kind === 'promise' || msg.kind === 'accepted' || msg.kind === 'prepare';
  }

  private broadcast(make: () => AnyMessage): void {
    for (let p = 1; p <= this.cfg.nodes; p++) if (p !== this.cfg.id) this.send(p, make());
  }

  private event(line: string): void {
    this.out.events.push(line);
  }

  private promiseTo(b: Ballot): void {
    const cur = this.durable.promised;
    if (!cur || Ballot.compareTerm(b, cur) > 0) this.persist({ t: 'promise', ballot: b });
  }

  private get commitHash(): string {
    return this.durable.headHash(this.durable.commit);
  }

  // ---- elections ----

  private onLeaderRequest(from: string, now: number): void {
    if (this.role === 'leader') {
      if (hearsMajority(this.leadership!.peers, now, this.cfg.electionTimeoutMs, this.majority)) {
        this.event(`${from} asked me to lead; I already lead with ${this.leadership!.ballot} (a majority answers me)`);
        return;
      }
      this.event(`${from} asked me to lead; I lead ${this.leadership!.ballot} but no majority has answered me for ${this.cfg.electionTimeoutMs} ms: running a fresh election`);
      this.stepDown();
    }
    if (this.role === 'candidate' && now - this.candidacy!.startedAt < this.cfg.retransmitMs) return; // already trying
    if (this.durable.commit < this.voteFloor) {
      this.event(`${from} asked me to lead, but my store lost records: re-learning decided blocks up to ${this.voteFloor} first`);
      return;
    }
    this.startElection(now, `${from} sent Leader`);
  }

  private startElection(now: number, why: string): void {
    const seq = Math.max(this.maxSeq, this.durable.promised?.seq ?? 0) + 1;
    this.maxSeq = seq;
    const ballot = Ballot.of(seq, this.cfg.id, this.durable.commit);
    this.stepDown();
    this.promiseTo(ballot); // durable before any prepare leaves: the term is never reused
    this.role = 'candidate';
    this.candidacy = { ballot, startedAt: now, sentAt: now, promises: new Map() };
    this.event(`starting election (${why}): prepare with ballot ${ballot}`);
    this.broadcast(() => make(Prepare, { ballot }));
    this.maybeWin(now); // a one-node cluster wins at once
  }

  /** False (and asks `peer` for decided blocks) while this node may have forgotten votes. */
  private mayVote(peer: number, now: number): boolean {
    if (this.durable.commit >= this.voteFloor) return true;
    this.noteRemoteCommit(peer, this.voteFloor, '', now);
    return false;
  }

  private onPrepare(peer: number, m: Prepare, now: number): void {
    const d = this.durable;
    if (!this.mayVote(peer, now)) return;
    if (m.ballot.depth < d.commit) {
      // The spec's depth rule: refuse, and hand over the decided blocks the candidate lacks.
      const blocks = this.decidedBatch(m.ballot.depth);
      this.send(peer, make(Nack, { reason: 'behind', ballot: m.ballot, promised: d.promised ?? m.ballot, commit: d.commit, commitHash: this.commitHash, resume: d.commit, blocks }));
      return;
    }
    if (d.promised && Ballot.compareTerm(m.ballot, d.promised) < 0) {
      this.nackBallot(peer, m.ballot);
      return;
    }
    if (!d.promised || Ballot.compareTerm(m.ballot, d.promised) > 0) {
      if (this.role !== 'follower') this.event(`stepping down: ${pname(peer)} prepares the higher ballot ${m.ballot}`);
      this.stepDown();
      this.promiseTo(m.ballot);
    }
    const suffix = d.suffixFrom(d.commit);
    this.send(peer, make(PromiseMsg, {
      ballot: m.ballot,
      commit: d.commit,
      suffixBallot: d.suffixBallot ?? undefined,
      suffix,
      queue: this.queue.head(this.cfg.batchMax, this.cfg.batchMaxBytes), // (the new leader takes them on)
    }));
  }

  private onPromise(peer: number, m: PromiseMsg, now: number): void {
    const c = this.candidacy;
    if (this.role !== 'candidate' || !c || Ballot.compareTerm(m.ballot, c.ballot) !== 0) return;
    c.promises.set(peer, m);
    this.event(`promise from ${pname(peer)} for ${c.ballot} (${c.promises.size + 1}/${this.cfg.nodes})`);
    for (const p of m.queue) this.enqueue(p);
    this.maybeWin(now);
  }

  private maybeWin(now: number): void {
    const c = this.candidacy!;
    if (c.promises.size + 1 < this.majority) return;
    const d = this.durable;
    // The suffixes on offer: mine and each promiser's, with the term they were accepted under.
    const offers: SuffixOffer[] = [];
    if (d.suffixBallot) offers.push({ ballot: d.suffixBallot, from: d.commit, blocks: d.suffixFrom(d.commit) });
    for (const [peer, p] of c.promises) {
      if (!p.suffixBallot) continue;
      // A promiser behind my decided prefix may hold a block there that lost (it has not learned
      // the decision yet). Everything it holds from there on links to that loser and can never be
      // decided, whatever its term: such a suffix is a dead fork, not a candidate for adoption.
      if (!this.agreesWithDecided(p.commit, p.suffix)) {
        this.event(`ignoring ${pname(peer)}'s promised suffix: it contradicts my decided prefix (a fork that lost)`);
        continue;
      }
      offers.push({ ballot: p.suffixBallot, from: p.commit, blocks: p.suffix });
    }
    const adopted = this.chooseAdoption(offers);
    const check = verifyChain(adopted, d.headHash(d.commit), d.commit);
    invariant(check.ok, () => `adopted blocks do not link to my decided head: ${!check.ok ? check.reason : ''}`);
    const ballot = c.ballot.at(d.commit);
    this.candidacy = null;
    this.role = 'leader';
    this.leaderHint = this.cfg.id;
    // Re-propose the adopted chain under my term (it replaces my own tentative suffix).
    this.persist({ t: 'accept', ballot, from: d.commit, blocks: adopted });
    this.reindexSuffix();
    const peers = new Map<number, PeerProgress>();
    for (let p = 1; p <= this.cfg.nodes; p++) {
      if (p === this.cfg.id) continue;
      const pc = c.promises.get(p)?.commit ?? d.commit;
      peers.set(p, { next: Math.min(pc, d.commit), match: 0, commit: pc, sentAt: now, outstanding: false, heardAt: now, decideOwed: false, lazy: false });
    }
    this.leadership = { ballot, peers, durableEnd: d.commit, unsynced: [[this.outputSeq + 1, d.end]] };
    this.event(`elected leader with ballot ${ballot} (${c.promises.size + 1} promises); adopted ${adopted.length} tentative block(s) from depth ${d.commit}`);
    for (const rid of [...this.queue.keys()]) if (this.inLog.has(rid)) this.queue.remove(rid);
    this.propose(now);
    for (const p of peers.keys()) this.sendAccept(p);
    this.advanceCommit(now); // a one-node cluster decides alone
  }

  /**
   * Paxos's adoption rule, depth by depth above my decided prefix: at each depth, the block
   * accepted there under the highest term among the promisers (and me) whose block links to the
   * one chosen below it; stop at the first depth where none does. (An acceptor's whole suffix
   * was accepted under one term, so each block's term is its suffix's.) A block a majority
   * accepted under some term is held by at least one promiser under that term or a higher one,
   * and every proposal at its depth under a higher term is that same block, so it is chosen.
   *
   * Not "the whole suffix of the highest term": an acceptor may hold only a prefix of a term's
   * log (byte-capped accepts deliver it in parts), and then a block beyond that prefix, decided
   * under a lower term, is held only by lower-term promisers. (Protected only so the simulator
   * can plant wrong rules.)
   */
  protected chooseAdoption(offers: readonly SuffixOffer[]): Block[] {
    const d = this.durable;
    const chosen: Block[] = [];
    let head = d.headHash(d.commit);
    for (let depth = d.commit; ; depth++) {
      let best: { ballot: Ballot; block: Block } | null = null;
      for (const o of offers) {
        const block = o.blocks[depth - o.from];
        if (depth < o.from || block === undefined || block.hashPointer !== head) continue;
        if (!best || Ballot.compareTerm(o.ballot, best.ballot) > 0) best = { ballot: o.ballot, block };
      }
      if (!best) return chosen;
      chosen.push(best.block);
      head = blockHash(best.block);
    }
  }

  /** Whether `blocks` placed at `from` match my decided blocks wherever the two overlap. */
  private agreesWithDecided(from: number, blocks: readonly Block[]): boolean {
    const d = this.durable;
    if (from > d.commit) return false; // (acceptors refuse prepares above their decided prefix)
    const overlap = Math.min(d.commit - from, blocks.length);
    for (let i = 0; i < overlap; i++) {
      // Below my in-memory window the blocks are read from disk. One that cannot be read is
      // skipped: the block at base-1 (always known) fixes those below it by the hash chain, and a
      // suffix that ends below it offers nothing above my decided prefix anyway.
      const mine = d.hash(from + i);
      if (mine !== null && blockHash(blocks[i]) !== mine) return false;
    }
    return true;
  }

  /** Leaves the candidate or leader role; operations of my undecided suffix go back to my queue. */
  private stepDown(): void {
    if (this.role === 'leader') {
      const d = this.durable;
      // Decisions reach followers on later accepts or ticks, which a deposed leader no longer
      // sends: tell the peers now what I decided, or nobody may tell them until the next leader.
      this.sendDecide(this.leadership!, (_, pp) => pp.decideOwed || this.decideDirty);
      this.decideDirty = false;
      for (let i = d.commit; i < d.end; i++) {
        const op = d.held(i).operation;
        const rid = requestKey(op);
        const to = this.replyTo.get(rid);
        if (to !== undefined && !this.queue.has(rid)) this.queue.add(rid, PendingOp.of(op, to)); // (may pass the bounds: they were in flight)
      }
    }
    this.role = 'follower';
    this.candidacy = null;
    this.leadership = null;
    if (this.leaderHint === this.cfg.id) this.leaderHint = null;
  }

  private onNack(peer: number, m: Nack, now: number): void {
    if (m.reason === 'ballot') {
      const mine = this.leadership?.ballot ?? this.candidacy?.ballot;
      if (mine && Ballot.compareTerm(m.promised, mine) > 0) {
        this.event(`stepping down: ${pname(peer)} promised the higher ballot ${m.promised}`);
        this.stepDown();
        // Only an accept names a leader: the higher term may belong to a candidate that failed.
        this.leaderHint = null;
      }
      return;
    }
    if (m.reason === 'behind') {
      this.learnBlocks(m.ballot.depth, m.blocks, now); // a candidate that learns something starts over from there
      this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
      return;
    }
    // gap: the acceptor cannot link my accept; resend from where it says.
    const l = this.leadership;
    if (this.role !== 'leader' || !l || Ballot.compareTerm(m.ballot, l.ballot) !== 0) return;
    const pp = l.peers.get(peer)!;
    pp.commit = m.commit;
    pp.next = m.resume;
    pp.heardAt = now;
    this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
    this.sendAccept(peer);
  }

  // ---- phase 2 ----

  private onAccept(peer: number, m: Accept, now: number): void {
    const d = this.durable;
    if (!this.mayVote(peer, now)) {
      this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
      return;
    }
    if (d.promised && Ballot.compareTerm(m.ballot, d.promised) < 0) {
      this.nackBallot(peer, m.ballot);
      // A stale term, but its decided blocks are facts: catch up on them even with no leader.
      this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
      return;
    }
    if (!d.promised || Ballot.compareTerm(m.ballot, d.promised) > 0) {
      if (this.role !== 'follower') this.event(`stepping down: ${pname(peer)} leads with the higher ballot ${m.ballot}`);
      this.stepDown();
      this.promiseTo(m.ballot);
    }
    if (this.leaderHint !== peer) {
      this.leaderHint = peer;
      this.event(`leader is now ${pname(peer)} (ballot ${m.ballot})`);
      this.forwardQueue(now, true);
    }
    const from = m.ballot.depth;
    const sameTerm = d.suffixBallot !== null && Ballot.compareTerm(d.suffixBallot, m.ballot) === 0;
    // Within a term: append what links. Into a new term: only from at or below my decided prefix.
    const base = sameTerm ? d.end : d.commit;
    if (from > base) {
      this.nackGap(peer, m.ballot, base);
      return;
    }
    // Blocks I already hold (decided, or tentative in this term) must be the very same.
    const overlap = Math.min(base - from, m.blocks.length);
    // Every one, also below my in-memory window (read from disk; one that cannot be read counts as
    // different): the accepted reply vouches for all of them, so a stale leader's block that lost
    // must be refused here even when its accept stops short of my decided head.
    for (let i = 0; i < overlap; i++) {
      if (blockHash(m.blocks[i]) !== d.hash(from + i)) {
        // Within one term a leader never changes its own blocks, but a stale leader's undecided
        // block can lose to one decided under a later term that I learned by repair. Refuse and
        // show my decided head: the leader will fetch it, see it is stale, and step down.
        // A correct leader never sends two blocks for one depth within its term: such input is
        // refused here, before it could reach an invariant (it is a peer's fault, not ours).
        if (from + i >= d.commit) this.refusedInput(`${pname(peer)} sent a different block at ${from + i} within its term ${m.ballot}; refused`, now);
        this.nackGap(peer, m.ballot, d.commit);
        return;
      }
    }
    const fresh = m.blocks.slice(overlap);
    if (fresh.length > 0 || !sameTerm) {
      const check = verifyChain(fresh, d.headHash(base), base);
      if (!check.ok) {
        this.event(`rejecting accept from ${pname(peer)}: block ${check.depth}: ${check.reason}`);
        this.nackGap(peer, m.ballot, d.commit);
        return;
      }
      let blocks = fresh;
      if (!sameTerm) {
        const kept = this.keptBeyondCut(peer, m, base, now);
        if (kept === null) return;
        if (kept.length > 0) {
          blocks = [...fresh, ...kept];
          // (An honest leader's blocks lead to its tail; a lying one's might not link to mine.)
          if (kept[0].hashPointer !== (fresh.length > 0 ? blockHash(fresh[fresh.length - 1]) : d.headHash(base))) {
            this.refusedInput(`${pname(peer)}'s accept names hashes after its blocks that its blocks do not lead to; refused`, now);
            return;
          }
        }
      }
      this.persist({ t: 'accept', ballot: m.ballot.at(base), from: base, blocks });
      this.reindexSuffix();
    }
    this.learnCommit(m.commit, m.commitHash, now);
    this.send(peer, make(Accepted, { ballot: m.ballot, end: d.end, commit: d.commit, commitHash: this.commitHash }));
    if (m.commit > d.commit) this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
  }

  /**
   * Entering a new term, I replace my tentative suffix with the leader's log. Where a byte cap cut
   * its accept short, my blocks beyond the cut that its log also holds (its `tail` hashes say
   * which: by the hash chain, a match at one depth means a match below it) are kept and count as
   * votes in the new term; the leader proposes them there. Dropping them instead would forget
   * votes an older term's leader may already have counted to decide a block, leaving fewer than a
   * majority holding it. My blocks the leader's log does not hold were never decided (its log holds
   * every block decided below its term), so they go. Null: its tail does not reach as far as my
   * suffix, so I cannot tell which to keep, and the accept is refused (not with a fixed config).
   */
  protected keptBeyondCut(peer: number, m: Accept, base: number, now: number): Block[] | null {
    const d = this.durable;
    const cut = m.ballot.depth + m.blocks.length;
    const start = Math.max(cut, base);
    if (m.end <= cut || d.end <= start) return [];
    const hashes = m.tail.length / HASH_HEX_CHARS;
    if (!Number.isInteger(hashes) || cut + hashes > m.end) {
      this.refusedInput(`${pname(peer)}'s accept names ${m.tail.length} characters of hashes for blocks ${cut}..${m.end}; refused`, now);
      return null;
    }
    const covered = cut + hashes;
    let keep = start;
    while (keep < Math.min(d.end, covered) && d.hash(keep) === m.tail.slice((keep - cut) * HASH_HEX_CHARS, (keep - cut + 1) * HASH_HEX_CHARS)) keep++;
    // Stopped where the hashes end, not at a mismatch, with more of my suffix beyond: unknown.
    if (keep >= covered && keep < d.end && covered < m.end) {
      this.refusedInput(`${pname(peer)}'s accept names hashes only up to ${covered} of its log's ${m.end}; my suffix goes to ${d.end}: refused, votes kept`, now);
      return null;
    }
    return d.suffixFrom(start).slice(0, keep - start);
  }

  private nackBallot(peer: number, ballot: Ballot): void {
    const d = this.durable;
    this.send(peer, make(Nack, { reason: 'ballot', ballot, promised: d.promised!, commit: d.commit, commitHash: this.commitHash, resume: d.commit, blocks: [] }));
  }

  private nackGap(peer: number, ballot: Ballot, resume: number): void {
    const d = this.durable;
    this.send(peer, make(Nack, { reason: 'gap', ballot, promised: d.promised!, commit: d.commit, commitHash: this.commitHash, resume, blocks: [] }));
  }

  private onAccepted(peer: number, m: Accepted, now: number): void {
    const l = this.leadership;
    if (this.role !== 'leader' || !l || Ballot.compareTerm(m.ballot, l.ballot) !== 0) return;
    const pp = l.peers.get(peer)!;
    pp.match = Math.max(pp.match, Math.min(m.end, this.durable.end));
    pp.commit = m.commit;
    if (pp.next < pp.match) pp.next = pp.match;
    pp.heardAt = now;
    if (pp.match >= this.durable.end) pp.outstanding = false;
    else if (pp.match >= pp.next) this.sendAccept(peer); // it has all I sent (a byte cap cut the accept short): the next part
    this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
    this.advanceCommit(now);
    if (this.durable.commit - pp.commit > this.cfg.batchMax) this.sendAccept(peer); // far behind: push repair
  }

  /** Leader: the highest depth held by a majority under my term becomes decided. */
  private advanceCommit(now: number): void {
    const l = this.leadership;
    if (this.role !== 'leader' || !l) return;
    const d = this.durable;
    const quorum = quorumEnd(this.ownVoteEnd(l), l.peers, this.majority);
    if (quorum > d.commit) {
      this.decideUpTo(quorum);
      this.decideDirty = true; // one decide per batch, or the commit rides on the next accept
      this.wantPropose = true; // the window has room again
    }
  }

  /** How far my own log counts toward a quorum: only what is durable (fsynced). */
  protected ownVoteEnd(l: Leadership): number {
    return l.durableEnd;
  }

  /** Whether my block at commit-1 is the one a peer decided: by its hash, which fixes the prefix. */
  protected holdsDecided(commit: number, hash: string): boolean {
    return this.durable.hash(commit - 1) === hash;
  }

  private onDecide(peer: number, m: Decide, now: number): void {
    this.learnCommit(m.commit, m.commitHash, now);
    this.noteRemoteCommit(peer, m.commit, m.commitHash, now);
  }

  /** Marks my blocks decided up to `commit` if my block at commit-1 hashes to `hash`. */
  private learnCommit(commit: number, hash: string, now: number): boolean {
    const d = this.durable;
    if (commit <= d.commit || commit > d.end || !this.holdsDecided(commit, hash)) return false;
    this.decideUpTo(commit);
    this.restartCandidacy(now);
    return true;
  }

  /**
   * A candidate whose decided prefix grew starts over above it, whichever way it learned the
   * blocks (a decide, a commit index on a message, a repair): the promises gathered so far
   * describe suffixes from below the new blocks.
   */
  private restartCandidacy(now: number): void {
    if (this.role !== 'candidate') return;
    this.stepDown();
    this.startElection(now, `caught up to depth ${this.durable.commit}`);
  }

  private decideUpTo(commit: number): void {
    const d = this.durable;
    const from = d.commit;
    this.persist({ t: 'decide', commit });
    this.applyDecided(from);
  }

  /** Applies newly decided blocks from `from` to the commit index; the leader answers clients. */
  private applyDecided(from: number): void {
    const d = this.durable;
    for (let depth = from; depth < d.commit; depth++) {
      const block = d.held(depth);
      const op = block.operation;
      const rid = requestKey(op);
      const { result, duplicate, stale } = this.sm.apply(block);
      this.out.decided.push({ depth, block, result });
      this.inLog.delete(rid);
      this.queue.remove(rid);
      const to = this.replyTo.get(rid);
      this.replyTo.delete(rid);
      const label = op.op === 'put' ? `put ${op.key}` : `get ${op.key}`;
      this.out.blockEvents.push(`decided block ${depth}: ${label} (${requestId(op)}) hash ${short(d.hash(depth)!)}${stale ? ' [stale request number: no effect]' : duplicate ? ' [repeat request: no effect]' : ''}`);
      if (this.role === 'leader' && to !== undefined) {
        if (stale) this.refuse(op, to, 'stale');
        else this.replyToClient(op, to, result, depth);
      }
    }
  }

  /** A message to the client that sent `op`, at the address it gave (nodes do not all know every client). */
  private toClient(op: Operation, address: string, msg: AnyMessage): void {
    this.out.send.push({ afterSync: false, to: op.client, address, msg });
  }

  private replyToClient(op: Operation, address: string, result: string, depth: number): void {
    // (a follower answering a retry names the leader it knows, not itself: the client takes it as its hint)
    this.toClient(op, address, make(ClientReply, { client: op.client, req: op.req, result, leader: pname(this.leader ?? this.cfg.id), depth, digest: operationDigest(op) }));
  }

  /** Tells a client its request was not taken (and never will be under that number). */
  private refuse(op: Operation, address: string, reason: RefusalReason): void {
    this.toClient(op, address, make(Refused, { client: op.client, req: op.req, reason, lastReq: this.sm.lastReq(op), digest: operationDigest(op) }));
  }

  // ---- client operations and the queue ----

  /**
   * Operations from a client (`direct`) or forwarded by a node. A follower forwards what a
   * client gave it at once; what another node forwarded it only queues and passes on with its
   * periodic queue forward — hints can form a cycle, and re-forwarding on receipt would spin
   * the operations round it (and multiply them with every duplicated message).
   */
  private onClientOps(ops: PendingOp[], now: number, direct: boolean): void {
    const open: PendingOp[] = [];
    for (const p of ops) {
      const op = p.operation;
      const done = this.sm.answered(op);
      if (done === 'stale') {
        if (direct) this.refuse(op, p.replyTo, 'stale'); // silence would have it retry forever
        continue;
      }
      if (done) {
        // Already decided: answer again with the original result (at-most-once, retry-safe).
        this.replyToClient(op, p.replyTo, done.result, done.depth);
        continue;
      }
      const queued = this.enqueue(p);
      if (queued === 'full') {
        if (direct) this.refuse(op, p.replyTo, 'busy'); // a forwarded one is still queued at its first node
        continue;
      }
      open.push(p);
      if (queued === 'known' && this.role === 'leader') this.replyTo.set(requestKey(op), p.replyTo); // a retry: answer where it asks now
    }
    if (this.role === 'leader') this.wantPropose = true;
    else if (this.role === 'follower' && open.length > 0 && direct) {
      if (this.leaderHint === null) {
        for (const p of open) this.toClient(p.operation, p.replyTo, make(NoLeader, { client: p.operation.client, req: p.operation.req }));
      } else {
        this.forwardOps(open, now); // a retry may mean the last forward was lost
        // Tell the client where its request went, so its retries go there (it need not wait
        // out a timeout to learn of a new leader).
        const leader = pname(this.leaderHint);
        for (const p of open) this.toClient(p.operation, p.replyTo, make(Redirect, { client: p.operation.client, req: p.operation.req, leader }));
      }
    }
  }

  /** Adds an operation to the queue unless it is already queued, proposed or decided, or the queue is full. */
  private enqueue(p: PendingOp): 'queued' | 'known' | 'full' {
    const op = p.operation;
    const rid = requestKey(op);
    if (this.queue.has(rid) || this.isKnown(op)) return 'known';
    if (!this.queue.fits(p)) return 'full';
    this.queue.add(rid, p);
    return 'queued';
  }

  /** Whether a request is already in my tentative suffix or took effect (the leader's dedupe). */
  protected isKnown(op: Operation): boolean {
    return this.inLog.has(requestKey(op)) || this.sm.answered(op) !== undefined;
  }

  private forwardOps(ops: PendingOp[], now: number): void {
    const to = this.leaderHint;
    if (to === null || to === this.cfg.id) return; // held until a leader is known or a client asks me to lead
    for (let i = 0; i < ops.length;) {
      const n = fitCount(ops, i, ops.length, this.cfg.batchMax, this.cfg.batchMaxBytes, pendingBytes);
      this.send(to, make(Forward, { ops: ops.slice(i, i + n) }));
      i += n;
    }
    this.lastForwardAt = now;
  }

  private forwardQueue(now: number, force: boolean): void {
    if (this.role === 'leader' || this.queue.size === 0) return;
    if (!force && now - this.lastForwardAt < this.cfg.retransmitMs) return;
    // Operations that took effect (or never can) meanwhile leave the queue: the leader drops them
    // silently, and they would be forwarded forever.
    for (const [rid, p] of this.queue.entries()) if (this.sm.answered(p.operation) !== undefined) this.queue.remove(rid);
    if (this.queue.size === 0) return;
    this.forwardOps([...this.queue.values()], now);
  }

  /** Leader: mine and propose queued operations while the window has room. */
  private propose(now: number): void {
    const l = this.leadership;
    if (this.role !== 'leader' || !l) return;
    const d = this.durable;
    const fresh: Block[] = [];
    let head = d.headHash(d.end);
    const from = d.end;
    let windowBytes = 0;
    for (let i = d.commit; i < d.end; i++) windowBytes += blockBytes(d.held(i));
    for (const [rid, p] of this.queue.entries()) { // (a Map iterator survives the removals)
      if (d.end + fresh.length - d.commit >= this.cfg.windowMax) break;
      if (windowBytes > 0 && windowBytes + pendingBytes(p) > this.cfg.windowMaxBytes) break; // (one block always fits an empty window)
      windowBytes += pendingBytes(p);
      this.queue.remove(rid);
      if (this.isKnown(p.operation)) continue;
      const { block, mined } = mineBlock(p.operation, head, this.random);
      head = blockHash(block);
      fresh.push(block);
      this.replyTo.set(rid, p.replyTo);
      this.out.blockEvents.push(`mined block ${from + fresh.length - 1} for ${requestId(p.operation)}: nonce ${mined.nonce} (SHA256(op||nonce)=…${mined.powHash.slice(-8)}, ${mined.attempts} tries), hash pointer ${short(block.hashPointer)}`);
    }
    if (fresh.length === 0) return;
    this.persist({ t: 'accept', ballot: l.ballot.at(from), from, blocks: fresh });
    l.unsynced.push([this.outputSeq + 1, d.end]);
    this.reindexSuffix(from);
    // Thrifty replication: the new blocks go at once to just enough live peers for a majority
    // (those that are caught up first), and to the other live peers in one accept at most every
    // `lazyMs`, with whatever else was proposed by then. That is one message and one fsync for
    // many blocks on those peers; if an eager peer is slow or gone (it still counts as live for
    // 2 × retransmitMs), the lazy accepts make the majority, up to lazyMs later. A silent peer
    // gets the whole range on its retransmit. Which peers hold a block changes nothing for
    // safety, only who can vote on it.
    const needed = this.majority - 1;
    let eager = 0;
    for (const [p, pp] of l.peers) {
      const live = now - pp.heardAt <= 2 * this.cfg.retransmitMs;
      const caughtUp = pp.next === from;
      if (live && caughtUp && eager < needed) {
        eager++;
        this.sendAccept(p);
      } else if (live && (caughtUp || !pp.outstanding)) pp.lazy = true;
      else if (!pp.outstanding) this.sendAccept(p); // (a peer busy with a long range or a repair waits for its answer)
    }
    for (const [p, pp] of l.peers) {
      if (eager >= needed) break;
      if (pp.lazy) { // too few caught-up peers: a lagging live one gets its whole range now
        eager++;
        this.sendAccept(p);
      }
    }
    this.advanceCommit(now);
  }

  /** Leader: one decide of my commit index (one message object, encoded once) to each peer `to` picks. */
  private sendDecide(l: Leadership, to: (peer: number, pp: PeerProgress) => boolean): void {
    const d = this.durable;
    let decide: Decide | null = null;
    for (const [p, pp] of l.peers) {
      if (!to(p, pp)) continue;
      decide ??= make(Decide, { ballot: l.ballot.at(d.commit), commit: d.commit, commitHash: this.commitHash });
      this.send(p, decide);
      pp.decideOwed = false;
    }
  }

  /** Leader: this peer gets an accept (or repair) at the end of the batch. */
  private sendAccept(peer: number): void {
    this.acceptTo.add(peer);
    this.leadership!.peers.get(peer)!.lazy = false;
  }

  /** Decided blocks from `from`, as many as one message holds (batchMax, batchMaxBytes). */
  private decidedBatch(from: number): Block[] {
    const d = this.durable;
    return d.range(from, d.commit, this.cfg.batchMax, this.cfg.batchMaxBytes, blockBytes);
  }

  /** Leader -> one peer: decided blocks if it is far behind, else my log from its next index. */
  private emitAccept(peer: number, now: number): void {
    const l = this.leadership!;
    const d = this.durable;
    const pp = l.peers.get(peer)!;
    if (d.commit - pp.commit > this.cfg.batchMax) {
      const from = pp.commit;
      this.send(peer, make(RepairResponse, { from, blocks: this.decidedBatch(from), commit: d.commit }));
      pp.sentAt = now;
      pp.outstanding = true;
      pp.decideOwed = false;
      return;
    }
    const from = Math.min(pp.next, d.end);
    let accept = this.acceptsByFrom.get(from);
    if (!accept) {
      const blocks = d.range(from, d.end, Number.MAX_SAFE_INTEGER, this.cfg.batchMaxBytes, blockBytes);
      accept = make(Accept, { ballot: l.ballot.at(from), blocks, commit: d.commit, commitHash: this.commitHash, ...this.acceptTail(from + blocks.length) });
      this.acceptsByFrom.set(from, accept);
    }
    this.send(peer, accept);
    pp.next = from + accept.blocks.length; // (the rest, if bytes capped it, goes when this is answered)
    pp.sentAt = now;
    pp.outstanding = true;
    pp.decideOwed = false; // the accept carries the commit index
  }

  /**
   * For an accept cut short at `cut` (a byte cap): my log's end and the hashes of my blocks from
   * `cut` to it (at most MAX_TAIL_HASHES), so an acceptor entering my term can tell which of its
   * own blocks beyond the cut my log holds too. Without them it would have to drop those blocks,
   * and with them votes that may have decided a block under an older term (see onAccept).
   */
  private acceptTail(cut: number): { end: number; tail: string } | Record<string, never> {
    const d = this.durable;
    if (cut >= d.end) return {};
    let tail = '';
    for (let k = cut; k < Math.min(d.end, cut + MAX_TAIL_HASHES); k++) {
      const h = d.hash(k);
      if (h === null) break; // (below my window and unreadable: the acceptor keeps less, or refuses)
      tail += h;
    }
    return { end: d.end, tail };
  }

  // ---- repair (first uncommitted index) ----

  /** A peer reports a higher commit than mine: learn it by hash, or ask that peer for the blocks. */
  private noteRemoteCommit(peer: number, commit: number, hash: string, now: number): void {
    const d = this.durable;
    if (commit <= d.commit) return;
    if (commit > this.aheadOfMe.commit) this.aheadOfMe = { peer, commit };
    if (this.learnCommit(commit, hash, now)) return;
    if (this.maybeFetch(peer, commit, now)) return;
    if (this.repair && this.repair.from === d.commit && now - this.repair.at < this.cfg.retransmitMs) return;
    this.askRepair(peer, now);
  }

  /** Asks `peer` for the decided blocks from my first uncommitted index on. */
  private askRepair(peer: number, now: number): void {
    this.repair = { peer, from: this.durable.commit, at: now };
    this.send(peer, make(RepairRequest, { from: this.durable.commit }));
  }

  private onRepairRequest(peer: number, m: RepairRequest): void {
    const d = this.durable;
    const pp = this.leadership?.peers.get(peer);
    if (pp && m.from > pp.commit) pp.commit = m.from;
    if (m.from >= d.commit) return;
    this.send(peer, make(RepairResponse, { from: m.from, blocks: this.decidedBatch(m.from), commit: d.commit }));
  }

  private onRepair(peer: number, m: RepairResponse, now: number): void {
    if (this.maybeFetch(peer, m.commit, now)) return;
    const before = this.durable.commit;
    this.learnBlocks(m.from, m.blocks, now);
    const d = this.durable;
    if (m.commit <= d.commit) {
      this.repair = null;
      // Another peer said it had decided more: go on there (with no leader left to send
      // accepts, nothing else would tell me again).
      if (this.aheadOfMe.commit > d.commit) this.askRepair(this.aheadOfMe.peer, now);
      return;
    }
    // Ask for the next batch only on progress (or once the last ask is stale): a duplicated or
    // stale response must not multiply the requests.
    if (d.commit > before || !this.repair || now - this.repair.at >= this.cfg.retransmitMs) this.askRepair(peer, now);
  }

  /** Takes decided blocks `from`.. from a peer if they extend my decided prefix and verify. */
  private learnBlocks(from: number, blocks: Block[], now: number): void {
    const d = this.durable;
    if (from > d.commit || from + blocks.length <= d.commit) return;
    const skip = d.commit - from;
    for (let i = Math.max(0, skip - 1); i < skip; i++) {
      // A correct peer's decided block is mine (agreement): a different one is a peer's fault, refused.
      if (blockHash(blocks[i]) !== d.hash(from + i)) return this.refusedInput(`a peer's decided block ${from + i} differs from mine; refused`, now);
    }
    const rest = blocks.slice(skip);
    const check = verifyChain(rest, d.headHash(d.commit), d.commit);
    if (!check.ok) {
      this.event(`rejecting repair blocks: block ${check.depth}: ${check.reason}`);
      return;
    }
    const start = d.commit;
    if (this.role === 'leader') {
      // A leader's decided prefix only grows by its own quorum; learning a longer one means I am stale.
      this.event('stepping down: a peer has decided blocks I have not');
      this.stepDown();
    }
    this.persist({ t: 'learn', from: start, blocks: rest });
    this.reindexSuffix();
    this.applyDecided(start);
    this.event(`repaired: learned ${rest.length} decided block(s), now at depth ${d.commit}`);
    this.restartCandidacy(now);
  }

  private reindexSuffix(from?: number): void {
    const d = this.durable;
    if (from === undefined) {
      this.inLog.clear();
      from = d.commit;
    }
    for (let i = from; i < d.end; i++) this.inLog.set(requestKey(d.held(i).operation), i);
  }

  /** The node reports my records durable: my own vote now counts for the blocks they hold. */
  private onSynced(through: number, now: number): void {
    const l = this.leadership;
    if (this.role !== 'leader' || !l) return;
    while (l.unsynced.length > 0 && l.unsynced[0][0] <= through) l.durableEnd = Math.max(l.durableEnd, l.unsynced.shift()![1]);
    this.advanceCommit(now);
  }

  // ---- timers ----

  private onTick(now: number): void {
    if (this.role === 'candidate') {
      const c = this.candidacy!;
      if (now - c.startedAt >= this.cfg.electionTimeoutMs) {
        this.event(`election with ${c.ballot} timed out (${c.promises.size + 1} of ${this.majority} promises)`);
        this.stepDown();
      } else if (now - c.sentAt >= this.cfg.retransmitMs) {
        c.sentAt = now;
        for (let p = 1; p <= this.cfg.nodes; p++) if (p !== this.cfg.id && !c.promises.has(p)) this.send(p, make(Prepare, { ballot: c.ballot }));
      }
    } else if (this.role === 'leader' && !hearsMajority(this.leadership!.peers, now, 2 * this.cfg.electionTimeoutMs, this.majority)) {
      // CheckQuorum: cut off from a majority for two election timeouts, stop claiming to lead
      // (clients then get `no-leader` answers and ask another node at once).
      this.event(`stepping down: no majority has answered me for ${2 * this.cfg.electionTimeoutMs} ms`);
      this.stepDown();
    } else if (this.role === 'leader') {
      const l = this.leadership!;
      const d = this.durable;
      for (const [p, pp] of l.peers) {
        if (pp.outstanding && now - pp.sentAt >= this.cfg.retransmitMs) {
          // Unanswered: resend everything it has not confirmed (from its decided prefix if it never answered this term).
          pp.next = pp.match > 0 ? Math.min(pp.match, d.end) : Math.min(pp.commit, d.commit);
          this.sendAccept(p);
        } else if (!pp.outstanding && now - pp.sentAt >= this.cfg.heartbeatMs) {
          this.sendAccept(p); // heartbeat: carries my commit index, finds peers that restarted or healed
        }
      }
      // Blocks held back for lazy peers, in one accept per `lazyMs`; their owed decide rides on it.
      for (const [p, pp] of l.peers) if (pp.lazy && now - pp.sentAt >= this.cfg.lazyMs) this.sendAccept(p);
      this.sendDecide(l, (p, pp) => pp.decideOwed && !pp.lazy && !this.acceptTo.has(p)); // an accept this tick carries it anyway
    } else {
      this.forwardQueue(now, false);
    }
    if (this.fetch) this.fetchTick(now);
    else if (this.repair && now - this.repair.at >= this.cfg.retransmitMs && this.repair.from === this.durable.commit) this.askRepair(this.repair.peer, now);
    if (this.backfill && now - this.backfill.at >= this.cfg.retransmitMs) this.askBackfill(this.nextPeer(this.backfill.peer), now);
  }

  // ---- fast catch-up: install a peer's checkpoint, then backfill the blocks below it ----
  //
  // Why installing is safe (a node never votes against a vote it cast, and never decides or
  // applies a block that is not decided):
  // - The image is a checkpoint: decided state only (the dictionary and sessions after blocks
  //   0..D-1, and the hash of block D-1), the state every correct node reaches at D. It is taken
  //   only when D is above my decided depth, so my decided prefix only grows; what I decide
  //   above D must link to the anchor, so by the hash chain it extends the decided chain.
  // - My promise is untouched (the install record carries none), so every term I refused stays
  //   refused. The install record needs an fsync and the host writes the checkpoint file durably
  //   before it, so no message that depends on the install leaves before both are on disk.
  // - My votes: tentative blocks below D no longer matter (D is decided); those from D on are
  //   kept, under their term, if they link to the anchor; those that do not hang off a block
  //   below D that lost and can never be decided (the rule a learned decided block applies,
  //   durable.ts). So no vote a leader may have counted toward a decision is dropped.
  // - Nothing tentative is applied: the dictionary is the image's, then only blocks decided
  //   above D, in order. Backfilled blocks are placed only if they hash back from the anchor.

  private get installThreshold(): number {
    return this.cfg.installThresholdBlocks ?? INSTALL_THRESHOLD_BLOCKS;
  }


  /** Progress of a checkpoint fetch and of the backfill, for `status`. */
  get catchUp(): { fetch: { peer: string; depth: number; got: number; total: number } | null; backfill: { from: number; to: number; done: number; of: number } | null; installs: number; backfills: number } {
    const f = this.fetch;
    const b = this.backfill;
    return {
      fetch: f ? { peer: pname(f.peer), depth: f.depth, got: f.got, total: f.total } : null,
      backfill: b ? { from: b.low, to: b.top, done: b.startTop - b.top, of: b.startTop - b.low } : null,
      installs: this.installs,
      backfills: this.backfillsDone,
    };
  }

  get backfilling(): boolean {
    return this.backfill !== null;
  }

  /** More than the threshold behind `peer`: fetch its checkpoint instead of repairing. True while a fetch is under way. */
  private maybeFetch(peer: number, commit: number, now: number): boolean {
    if (this.fetch) return true;
    if (commit > this.aheadOfMe.commit) this.aheadOfMe = { peer, commit };
    if (commit - this.durable.commit <= this.installThreshold || now - this.fetchFailedAt < this.cfg.electionTimeoutMs) return false;
    // Votes first: an install drops my blocks below its depth, and undecided ones there may be
    // votes a leader counted to decide them. Repair from my decided depth learns them as decided
    // (or shows they lost); only then is the rest fetched as a checkpoint.
    if (this.durable.end > this.durable.commit) return false;
    this.fetch = { peer, sha256: '', total: 0, depth: 0, parts: [], got: 0, at: now, lastProgressAt: now };
    this.repair = null;
    this.event(`${commit - this.durable.commit} blocks behind ${pname(peer)} (more than ${this.installThreshold}): fetching its checkpoint instead of repairing block by block`);
    this.askChunk(now);
    return true;
  }

  private askChunk(now: number): void {
    const f = this.fetch!;
    f.at = now;
    this.send(f.peer, make(InstallRequest, { commit: this.durable.commit, sha256: f.sha256, offset: f.got }));
  }

  private fetchTick(now: number): void {
    const f = this.fetch!;
    if (now - f.lastProgressAt >= this.cfg.electionTimeoutMs) return this.abandonFetch(`${pname(f.peer)} sent nothing of its checkpoint for ${now - f.lastProgressAt} ms`, now);
    if (now - f.at >= this.cfg.retransmitMs) this.askChunk(now);
  }

  private abandonFetch(why: string, now: number): void {
    this.event(`checkpoint fetch abandoned: ${why}; repairing block by block for now`);
    this.fetch = null;
    this.fetchFailedAt = now;
    if (this.aheadOfMe.commit > this.durable.commit) this.askRepair(this.nextPeer(this.aheadOfMe.peer), now);
  }

  /** A peer asks for my checkpoint: the host answers with a chunk of its image (bytes of files are the host's). */
  private onInstallRequest(peer: number, m: InstallRequest): void {
    if (m.commit >= this.durable.commit) return; // (I have nothing newer)
    this.out.serve.push({ to: pname(peer), commit: m.commit, sha256: m.sha256, offset: m.offset });
  }

  private onInstallChunk(peer: number, m: InstallChunk, now: number): void {
    const f = this.fetch;
    if (!f || peer !== f.peer) return;
    // One install per turn: the host writes one checkpoint file per output. A chunk that comes in
    // the same turn after an install waits for the next turn (at most one is held; the fetch
    // asks again for any other).
    if (this.out.install) {
      this.heldChunk = { peer, m };
      return;
    }
    if (m.total === 0) return this.abandonFetch(`${pname(peer)} has no checkpoint above my depth ${this.durable.commit}`, now);
    if (m.total > MAX_INSTALL_BYTES) return this.abandonFetch(`${pname(peer)} offers a checkpoint of ${m.total} bytes, above the bound of ${MAX_INSTALL_BYTES}; refused`, now);
    if (!/^[0-9a-f]{64}$/.test(m.sha256)) return this.abandonFetch(`${pname(peer)} names its checkpoint by a malformed sha256; refused`, now);
    if (m.sha256 !== f.sha256) {
      if (m.offset !== 0) return; // (a late chunk of an image it no longer serves)
      if (f.sha256) this.event(`${pname(peer)} serves a newer checkpoint (depth ${m.depth}): starting the fetch over`);
      Object.assign(f, { sha256: m.sha256, total: m.total, depth: m.depth, parts: [], got: 0 });
    }
    if (m.offset !== f.got || m.total !== f.total || m.depth !== f.depth) return; // (a duplicate or late chunk)
    if (m.data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(m.data)) return this.abandonFetch(`${pname(peer)} sent a checkpoint chunk that is not base64; refused`, now);
    const data = Buffer.from(m.data, 'base64');
    if (data.length === 0 || data.length > MAX_INSTALL_CHUNK_BYTES || f.got + data.length > f.total) {
      return this.abandonFetch(`${pname(peer)} sent a chunk of ${data.length} bytes at ${m.offset} that does not fit its image of ${f.total} bytes; refused`, now);
    }
    f.parts.push(data);
    f.got += data.length;
    f.lastProgressAt = now;
    if (f.got < f.total) return this.askChunk(now);
    const image = Buffer.concat(f.parts);
    f.parts = [];
    const sum = crypto.createHash('sha256').update(image).digest('hex');
    if (sum !== f.sha256) return this.abandonFetch(`the checkpoint from ${pname(peer)} does not match its sha256 (${short(sum)}, named ${short(f.sha256)}): a torn or forged transfer; refused`, now);
    const c = decodeCheckpoint(image);
    if (typeof c === 'string') return this.abandonFetch(`the checkpoint from ${pname(peer)} cannot be used (${c}); refused`, now);
    if (c.depth !== f.depth) return this.abandonFetch(`the checkpoint from ${pname(peer)} holds depth ${c.depth}, not the ${f.depth} it named; refused`, now);
    this.fetch = null;
    if (c.depth <= this.durable.commit) {
      this.event(`the checkpoint from ${pname(peer)} is at depth ${c.depth}, not above my ${this.durable.commit} (repair got there first): not installed`);
      return;
    }
    if (this.durable.end > this.durable.commit && this.durable.commit < c.depth) {
      // (accepts came while fetching) see maybeFetch: votes first, then the fetch again
      this.event(`not installing ${pname(peer)}'s checkpoint at depth ${c.depth}: I hold undecided blocks ${this.durable.commit}..${this.durable.end - 1} below it; learning whether they were decided first`);
      this.askRepair(peer, now);
      return;
    }
    this.install(c, image.length, peer, now);
  }

  /** Installs a checkpoint above my decided depth (see the safety argument above). */
  protected install(c: Checkpoint, bytes: number, peer: number, now: number): void {
    const d = this.durable;
    if (this.role !== 'follower') {
      this.event(`stepping down: installing ${pname(peer)}'s checkpoint at depth ${c.depth}`);
      this.stepDown();
    }
    const from = d.commit;
    const at = this.out.persist.length;
    this.persist({ t: 'install', depth: c.depth, anchor: c.anchor });
    this.sm.reset(c.dict, c.sessions, c.depth);
    this.out.install = {
      at, bytes, from: pname(peer), dict: c.dict, sessions: c.sessions,
      base: { depth: c.depth, anchor: c.anchor, promised: d.promised, suffixBallot: d.suffixBallot, suffix: d.suffixFrom(c.depth) },
    };
    this.installs++;
    this.reindexSuffix();
    this.repair = null;
    this.backfill = null; // (the host starts it again below the new anchor)
    this.out.backfill = []; // (blocks of the old hole: the host drops that hole's upper part)
    this.event(`installed ${pname(peer)}'s checkpoint at depth ${c.depth} (${bytes} bytes, ${c.dict.length} keys), ${c.depth - from} blocks ahead of my decided depth; the blocks below it are backfilled in the background`);
    if (this.aheadOfMe.commit > d.commit) this.askRepair(this.aheadOfMe.peer, now);
  }

  private nextPeer(p: number): number {
    let q = p;
    do q = (q % this.cfg.nodes) + 1; while (q === this.cfg.id);
    return q;
  }

  private startBackfill(from: number, to: number, topHash: string, now: number): void {
    if (from >= to) {
      this.backfill = null;
      return;
    }
    this.backfill = { low: from, top: to, topHash, peer: 0, at: now, startTop: to, refusals: 0 };
    this.event(`backfilling decided blocks ${from}..${to - 1}, newest first, each verified back from block ${to - 1}`);
    this.askBackfill(this.nextPeer(this.aheadOfMe.peer || this.cfg.id), now);
  }

  /** One request in flight, for at most one batch (batchMax, batchMaxBytes): bounded work per turn on both sides. */
  private askBackfill(peer: number, now: number): void {
    const b = this.backfill!;
    b.peer = peer;
    b.at = now;
    this.send(peer, make(BackfillRequest, { from: Math.max(b.low, b.top - this.cfg.batchMax), to: b.top }));
  }

  /**
   * Blocks below `to`, the highest first, as many as one message holds; none if I cannot serve the
   * top one. My undecided blocks count too: the requester takes a block only if it hashes back from
   * its installed anchor, so one that passes is the decided block — and after two crashes an
   * undecided vote may be a decided block's last copy within reach (test/attack-fix).
   */
  private onBackfillRequest(peer: number, m: BackfillRequest): void {
    const d = this.durable;
    const out: Block[] = [];
    let bytes = 0;
    if (m.to <= d.end) {
      for (let k = m.to - 1; k >= m.from && out.length < this.cfg.batchMax; k--) {
        const b = d.block(k);
        if (!b) break; // (in my own hole, or unreadable)
        bytes += blockBytes(b);
        if (out.length > 0 && bytes > this.cfg.batchMaxBytes) break;
        out.push(b);
      }
    }
    out.reverse();
    this.send(peer, make(BackfillResponse, { from: m.to - out.length, blocks: out }));
  }

  private onBackfillResponse(peer: number, m: BackfillResponse, now: number): void {
    const b = this.backfill;
    if (!b || peer !== b.peer) return;
    if (m.blocks.length === 0) {
      // It cannot serve them: ask the next peer; after a whole round of refusals, wait for the
      // retransmit timer (onTick) rather than go round again at once.
      if (++b.refusals < this.cfg.nodes - 1) return this.askBackfill(this.nextPeer(peer), now);
      b.refusals = 0;
      return;
    }
    b.refusals = 0;
    const from = this.backfillPlace(m, b);
    if (from === null) return; // (a duplicate or a late answer)
    const why = this.backfillProblem(from, m.blocks, b);
    if (why) {
      this.event(`rejecting backfill blocks from ${pname(peer)}: ${why}`);
      return this.askBackfill(this.nextPeer(peer), now);
    }
    this.out.backfill.push({ from, blocks: m.blocks });
    b.top = from;
    b.topHash = m.blocks[0].hashPointer;
    if (b.top > b.low) return this.askBackfill(peer, now);
    this.backfill = null;
    this.backfillsDone++;
    this.event(`backfill complete: blocks ${b.low}..${b.startTop - 1} verified back from the anchor and stored`);
  }

  /** Where an answer's blocks go: exactly below what I hold (else null). Protected for the simulator's mutants. */
  protected backfillPlace(m: BackfillResponse, b: { low: number; top: number }): number | null {
    return m.from + m.blocks.length === b.top && m.from >= b.low ? m.from : null;
  }

  /**
   * Why blocks `from`.. cannot be the decided ones (null: they are): each must hash to the pointer
   * of the block above it, the highest to `topHash` (at first the checkpoint's anchor), and the
   * lowest backfilled one link to the block below it I already hold.
   */
  protected backfillProblem(from: number, blocks: readonly Block[], b: { low: number; topHash: string }): string | null {
    const check = verifyChain(blocks, blocks[0].hashPointer, from);
    if (!check.ok) return `block ${check.depth}: ${check.reason}`;
    if (check.head !== b.topHash) return `block ${from + blocks.length - 1} does not hash to the pointer of the block above it`;
    if (from === b.low) {
      const below = from === 0 ? GENESIS_POINTER : this.durable.hash(from - 1);
      if (below !== null && blocks[0].hashPointer !== below) return `block ${from} does not link to block ${from - 1}, which I hold`;
    }
    return null;
  }
}

