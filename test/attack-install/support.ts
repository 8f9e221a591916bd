/**
 * attack-install: one node's whole host over a real data folder (what src/node/node.ts does at
 * start and per turn, without sockets): openChainStore, the install record written again, the
 * core, blocks.dat reconciled, StoreUpkeep (install, serve, backfill, afterTurn), the backfill a
 * start resumes. Peers are played by the test: `decided` is the cluster's decided chain and
 * `image(depth)` a correct peer's checkpoint file at that depth.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AnyMessage, Block, decode, encode, InstallChunk, make, Operation, RepairResponse } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableRecord } from '../../src/core/durable';
import { CoreConfig, Input, Output, Replica } from '../../src/core/replica';
import { StateMachine } from '../../src/core/state-machine';
import { missingInstallRecord } from '../../src/store/chain-store';
import { checkpointStateMachine, encodeCheckpoint, StoreUpkeep } from '../../src/store/checkpoint';
import { HandNet } from '../support/hand-net';
import { openChainStore, OpenedStore } from '../../src/store/open';

export const ID = { cluster: 'c0ffee', node: 'P3' };

export const cfg = (id: number, threshold = 10): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100,
  batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24, installThresholdBlocks: threshold,
});

let r = 99;
export const random = (): number => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);

export function mine(n: number, tag: string, head = GENESIS_POINTER, from = 0): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < n; i++) {
    const { block } = mineBlock(Operation.of('put', `k${(from + i) % 7}`, `"${tag}${from + i}"`, `C${1 + ((from + i) % 3)}`, from + i + 1), head, random);
    head = blockHash(block);
    out.push(block);
  }
  return out;
}

/** The cluster's decided chain. */
export const decided = mine(120, 'a');

/** A correct peer's checkpoint file at `depth` of `decided`. */
export function image(depth: number): Buffer {
  const sm = new StateMachine();
  for (let d = 0; d < depth; d++) sm.apply(decided[d]);
  return encodeCheckpoint({
    cluster: ID.cluster, node: 'P2', depth, anchor: blockHash(decided[depth - 1]), logOffset: 0, logTail: '0'.repeat(64),
    promised: null, suffixBallot: null, suffix: [], dict: [...sm.dict], sessions: [...sm.sessions],
  });
}

export const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** A message as it arrives off the wire (encoded and decoded, as the transport does). */
export function wire(from: string, m: AnyMessage): Input {
  const d = decode(encode(from, m));
  if (!d.ok) throw new Error(`does not decode: ${d.reason}`);
  return { type: 'message', from, msg: d.msg };
}

const made: string[] = [];
process.on('exit', () => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

/** A fresh folder, removed when the test process exits. */
export function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-attack-install-'));
  made.push(d);
  return d;
}

export interface Policy { everyBlocks: number; everyBytes: number; windowBlocks: number; appendPerTurn: number }

/** One start of the node on `dir` (throws StoreRefused as the node does when it refuses to start). */
export class FolderNode {
  readonly opened: OpenedStore;
  readonly replica: Replica;
  readonly upkeep: StoreUpkeep;
  readonly outputs: Output[] = [];
  readonly lines: string[] = [];
  private readonly voteFloor: number;
  private now = 0;
  /** Checkpoint chunks the host sent (serve). */
  readonly served: { to: string; msg: InstallChunk }[] = [];
  /** Inputs the host queued for the core (the backfill after an install or at start). */
  readonly inbox: Input[] = [];

  constructor(readonly dir: string, policy: Policy, threshold = 10) {
    const opened = (this.opened = openChainStore({ dir, identity: ID }));
    this.lines.push(...opened.report.warnings);
    const lost = missingInstallRecord(opened.report);
    if (lost) opened.store.write([lost], true);
    this.voteFloor = opened.report.voteFloor;
    this.replica = new Replica(cfg(3, threshold), opened.report.state, random, {
      voteFloor: opened.report.voteFloor,
      sm: opened.sm ?? (opened.report.checkpoint ? checkpointStateMachine(opened.report.checkpoint) : undefined),
    });
    const rec = StoreUpkeep.reconcile(opened.blocks, this.replica);
    if (rec) this.lines.push(rec);
    this.upkeep = new StoreUpkeep({
      chain: opened.disk, syncChain: () => opened.store.write([], true), blocks: opened.blocks, dir: opened.checkpoints,
      policy, identity: ID, startedFrom: opened.report.checkpoint, now: () => this.now, installThresholdBlocks: threshold,
    });
    const resume = StoreUpkeep.backfillInput(opened.blocks, this.replica);
    if (resume) this.inbox.push(resume);
  }

  /** One turn: the core steps, the host writes (the install in its place), then upkeep. */
  step(input: Input, now = this.now + 1): Output {
    return this.batch([input], now);
  }

  /** One turn of several inputs (the host loop feeds a turn's inputs at once). */
  batch(inputs: Input[], now = this.now + 1): Output {
    this.now = now;
    const out = this.replica.stepBatch(inputs, now);
    this.outputs.push(out);
    this.lines.push(...out.events);
    const write = (recs: readonly DurableRecord[]) => this.opened.store.write(recs, out.sync);
    if (out.install) {
      write(out.persist.slice(0, out.install.at));
      const next = this.upkeep.install(this.replica, out.install);
      if (next) this.inbox.push(next);
      write(out.persist.slice(out.install.at));
    } else {
      write(out.persist);
    }
    for (const b of out.backfill) {
      const p = this.upkeep.backfill(this.replica, b.from, b.blocks);
      if (p) this.lines.push(p);
    }
    for (const req of out.serve) this.served.push({ to: req.to, msg: this.upkeep.serve(this.replica, req) });
    const u = this.upkeep.afterTurn(this.replica, this.voteFloor);
    this.lines.push(...u.lines);
    return out;
  }

  /** Feeds what the host queued (backfill inputs). */
  drainInbox(): Output[] {
    const outs: Output[] = [];
    while (this.inbox.length) outs.push(this.step(this.inbox.shift()!));
    return outs;
  }

  /** A leader at `commit` pushes decided blocks from..to (repair). */
  repair(from: number, to: number, commit: number): Output {
    return this.step(wire('P2', make(RepairResponse, { from, blocks: decided.slice(from, to), commit })));
  }

  /** P2 serves its checkpoint at `depth` in one chunk (after the push that started the fetch). */
  installFrom(depth: number): Output {
    const img = image(depth);
    return this.step(wire('P2', make(InstallChunk, { depth, sha256: sha(img), total: img.length, offset: 0, data: img.toString('base64') })));
  }

  /** The process ends here (files closed, nothing more written): a crash or a kill. */
  die(): void {
    this.opened.disk.close();
    this.opened.blocks.close();
  }
}

/** Five cores on a HandNet; a node whose records start with an install gets the dictionary of the decided chain there. */
export function catchUpNet(initial: DurableRecord[][]): HandNet {
  return new HandNet(initial, (id) => cfg(id, 10), random, (c, st, r) => {
    if (st.base === 0) return new Replica(c, st, r);
    const sm = new StateMachine();
    for (let d = 0; d < st.base; d++) sm.apply(decided[d]);
    return new Replica(c, st, r, { sm });
  });
}
