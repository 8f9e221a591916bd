/**
 * The host loop: what runs a consensus core. It is the same code in the node process and in
 * the simulator; only the `HostIO` differs (real sockets, disk and clock in `src/node`,
 * simulated ones in `src/sim`). So every simulated seed runs the loop that ships.
 *
 * - Batching: inputs that arrive in one turn of the event loop (`io.defer`) go to the core as
 *   one `stepBatch`.
 * - Group commit, fsync-then-send: each batch's records are written at once; messages that do
 *   not depend on them (a leader's accepts, decides, replies) leave at once; the others
 *   (promises, accepted replies, prepares: `afterSync`) wait until an fsync that started after
 *   their records were written has completed. One fsync at a time; records written while one
 *   runs wait for the next.
 * - The core hears `synced` when an fsync completes, so a leader counts its own vote only for
 *   blocks that are durable.
 * - An I/O error (a failed write or fsync) stops the host: nothing that depended on it is sent.
 *
 * The node's fsync completes inline (`done` is called before `sync` returns), the simulator's
 * later, with other inputs arriving meanwhile; the loop handles both.
 */
import { AnyMessage, Block } from '../../messages';
import { DurableRecord } from '../core/durable';
import { Input, InstallAction, Outbound, Output, Replica, ServeRequest } from '../core/replica';

export interface HostIO {
  /** This host's clock, in ms (the simulator gives each node its own). */
  now(): number;
  /** Appends records; not yet durable. Throws on a write error (the host then stops). */
  write(records: readonly DurableRecord[]): void;
  /**
   * Makes everything written so far durable, then calls `done` (before returning, or later).
   * Throws on an fsync error (the host then stops).
   */
  sync(done: () => void): void;
  send(out: Outbound): void;
  /** Runs `fn` at the end of this turn of the event loop. */
  defer(fn: () => void): void;
  /** Sees every output after its records were written and before its messages leave. */
  observe?(out: Output): void;
  /**
   * Fast catch-up: writes an installed checkpoint as this node's own, durably (throws like
   * `write`); returns the backfill the core is to start. Called between the records before the
   * install and the install record (`Output.install.at`).
   */
  install?(inst: InstallAction): Input | null;
  /** A chunk of this node's checkpoint image for a peer (null: none sent). */
  serveCheckpoint?(req: ServeRequest): AnyMessage | null;
  /** Stores verified backfilled blocks (blocks.dat). */
  backfill?(from: number, blocks: readonly Block[]): void;
}

/** Most inputs taken into one batch; the rest wait for the next turn (bounds one step's work). */
export const MAX_BATCH_INPUTS = 10_000;

export class HostLoop {
  private inbox: Input[] = [];
  private scheduled = false;
  private running = false;
  /** Outputs whose records are written but not yet covered by a completed fsync. */
  private waiting: { seq: number; late: Outbound[] }[] = [];
  private syncing = false;
  private halted = false;

  constructor(readonly core: Replica, private readonly io: HostIO) {}

  get stopped(): boolean {
    return this.halted;
  }

  /** Stops taking inputs and completing fsyncs (a crash in the simulator, a stop or an I/O error in the node). */
  stop(): void {
    this.halted = true;
    this.inbox = [];
    this.waiting = [];
  }

  input(input: Input): void {
    if (this.halted) return;
    this.inbox.push(input);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    this.io.defer(() => this.flush());
  }

  /** Steps the core over everything queued (and over `synced` reports from inline fsyncs). */
  flush(): void {
    this.scheduled = false;
    if (this.halted || this.running) return;
    this.running = true;
    try {
      while (!this.halted && this.inbox.length > 0) {
        const inputs = this.inbox.length > MAX_BATCH_INPUTS ? this.inbox.splice(0, MAX_BATCH_INPUTS) : this.inbox;
        if (inputs === this.inbox) this.inbox = [];
        this.handle(this.core.stepBatch(inputs, this.io.now()));
      }
    } catch (e) {
      this.stop();
      throw e;
    } finally {
      this.running = false;
    }
  }

  private handle(out: Output): void {
    if (out.install && this.io.install) {
      // The checkpoint file first (durable), then the install record: a restart finds either the
      // old state or the installed one, never records that need a dictionary it lacks.
      this.io.write(out.persist.slice(0, out.install.at));
      const next = this.io.install(out.install);
      if (next) this.inbox.push(next); // (the running flush takes it)
      this.io.write(out.persist.slice(out.install.at));
    } else {
      this.io.write(out.persist);
    }
    for (const b of out.backfill) this.io.backfill?.(b.from, b.blocks);
    for (const req of out.serve) {
      const msg = this.io.serveCheckpoint?.(req);
      if (msg) this.io.send({ to: req.to, msg, afterSync: false });
    }
    this.io.observe?.(out);
    const late: Outbound[] = [];
    for (const s of out.send) {
      if (s.afterSync) late.push(s);
      else this.io.send(s);
    }
    // Decide tags alone need no fsync (a lost one is re-learned); promises, accepts and learned
    // blocks do, and so does any message that vouches for them (it waits for the fsync too).
    if (out.sync || late.length > 0) {
      this.waiting.push({ seq: out.seq, late });
      this.startSync();
    }
  }

  private startSync(): void {
    if (this.syncing || this.halted || this.waiting.length === 0) return;
    this.syncing = true;
    const covered = this.waiting;
    this.waiting = [];
    this.io.sync(() => {
      this.syncing = false;
      if (this.halted) return;
      let through = 0;
      for (const w of covered) {
        through = Math.max(through, w.seq);
        for (const s of w.late) this.io.send(s);
      }
      if (through > 0) {
        this.inbox.push({ type: 'synced', through });
        this.schedule(); // (inline: the running flush takes it)
      }
      this.startSync();
    });
  }
}
