/**
 * The client's protocol logic, pure like the consensus core (the CLI, the programmatic
 * client and the simulator all drive this one class):
 * - one operation at a time, each with (client id, request number);
 * - sent to the node it believes leads (the hint, updated from every reply);
 * - the timeout follows from the hops the attempt needs: fewer when it went to the node named as
 *   the leader, more through a follower, most when its node is electing itself;
 * - on timeout: send the spec's `Leader` message to the next node (round robin, so clients
 *   that lost the same leader tend to pick the same successor and a dead node is not picked
 *   twice in a row) and retry the *same* request there (same number: at most once);
 * - when the node says it knows no leader (`no-leader`), ask that node to lead at once;
 * - a client started without a leader hint knows no leader: `start` asks its first choice (P1,
 *   the same for every such client, so clients starting together do not run rival elections) to
 *   lead at once, the spec's `Leader` message sent early rather than after a timeout, so the
 *   first operation finds a leader elected or being elected (README "Timings");
 * - when the node says it forwarded the request to a leader (`redirect`), that node becomes the
 *   hint and the target of the request's resends;
 * - each client process has its own random session (requests are numbered from the clock,
 *   which can step back across a restart: the session keeps a new process's requests apart);
 * - when a node is `busy` (its queue is full), send the request again after the timeout;
 *   a `stale` refusal (which a correct client never causes) fails the operation.
 */
import { operationDigest } from '../chain';
import { AnyMessage, ClientReply, ClientRequest, LeaderRequest, make, NoLeader, Operation, OpName, PendingOp, Redirect, Refused } from '../../messages';

export interface ClientOutbound {
  /** Node index 1..nodes. */
  to: number;
  msg: AnyMessage;
}

export interface Completed {
  req: number;
  op: OpName;
  key: string;
  value?: string;
  result: string;
  leader: string;
  depth: number;
  /** When the operation was first sent and when its answer came. */
  startedAt: number;
  endedAt: number;
  attempts: number;
}

export interface ClientCoreOptions {
  id: string;
  /** Number of nodes (P1..Pn). */
  nodes: number;
  /** Where replies should go (this client's ROUTER endpoint; any string in the simulator). */
  replyTo: string;
  /** Time to wait for an answer before asking another node to lead. */
  timeoutMs: number;
  /**
   * ... when the request went to the node a reply or a redirect named as the leader (one hop
   * fewer than through a follower: no forward). Default: timeoutMs.
   */
  leaderTimeoutMs?: number;
  /**
   * Time to wait once the request's node was asked to lead (an election needs one round more
   * than an operation). Default: timeoutMs.
   */
  electionTimeoutMs?: number;
  /**
   * While waiting, send the same request (same number: at most once) to the same node again
   * this often, so that a node that came back, or that learned of a new leader meanwhile,
   * answers or forwards it without waiting out the timeout. Default: never.
   */
  resendMs?: number;
  /**
   * Initial leader hint (1..nodes), a leader the caller knows of (`--leader`). Without it the
   * client knows no leader: it starts at P1 and `start` asks P1 to lead.
   */
  hint?: number;
  /** Request number to start after (a restarted client continues its numbering). */
  lastReq?: number;
  /** Random id of this client process (see Operation.session). */
  session?: string;
}

interface InFlight {
  req: number;
  op: Operation;
  /** `operationDigest(op)`: answers to other contents under the same number are not ours. */
  digest: string;
  startedAt: number;
  sentAt: number;
  /** When the request was last sent (a resend, or the attempt itself). */
  resentAt: number;
  attempts: number;
  target: number;
  /** Whether this attempt already asked its target to lead. */
  askedToLead: boolean;
  /** Whether its target is electing itself (asked by this attempt or by `start`): the attempt waits electionTimeoutMs. */
  electing: boolean;
  /** Whether it went to the node named as the leader, and no redirect said otherwise: it waits leaderTimeoutMs. */
  direct: boolean;
  /** The target said it is busy: retry there after the timeout, without asking it to lead. */
  busy: boolean;
}

export class ClientCore {
  private hint: number;
  private req: number;
  private inflight: InFlight | null = null;
  /** Whether the hint came from the caller or a node (not the default first choice). */
  private known: boolean;
  /** The node `start` asked to lead, and when. */
  private askedAtStart: { node: number; at: number } | null = null;

  constructor(private readonly o: ClientCoreOptions) {
    this.hint = o.hint ?? 1;
    this.known = o.hint !== undefined;
    this.req = o.lastReq ?? 0;
  }

  get leaderHint(): number { return this.hint; }
  get busy(): boolean { return this.inflight !== null; }
  get pending(): { req: number; op: Operation; startedAt: number; attempts: number; target: number } | null { return this.inflight; }

  /** How long the attempt in flight waits before the client asks the next node to lead. */
  attemptTimeoutMs(f: { electing: boolean; direct?: boolean } | null = this.inflight): number {
    if (f?.electing) return this.o.electionTimeoutMs ?? this.o.timeoutMs;
    return f?.direct ? this.o.leaderTimeoutMs ?? this.o.timeoutMs : this.o.timeoutMs;
  }

  /**
   * The client process started. If it knows no leader, it asks its first choice to lead now
   * instead of after its first request found none: the first operation then waits for at most
   * the rest of that election, not for a `no-leader` answer and a whole election after it.
   */
  start(now: number): ClientOutbound[] {
    if (this.known || this.askedAtStart) return [];
    this.askedAtStart = { node: this.hint, at: now };
    return [{ to: this.hint, msg: make(LeaderRequest, {}) }];
  }

  /** When the attempt in flight times out (ms since 1970), or null when idle. */
  get retryAt(): number | null {
    return this.inflight ? this.inflight.sentAt + this.attemptTimeoutMs() : null;
  }

  /** Gives up on the operation in flight (a deadline passed): a late answer to it is ignored. */
  abandon(): void {
    this.inflight = null;
  }

  /** Starts an operation; the caller must wait for its completion before the next. */
  submit(op: OpName, key: string, value: string | undefined, now: number): ClientOutbound[] {
    if (this.inflight) throw new Error(`client ${this.o.id} already has request #${this.inflight.req} in flight`);
    const req = ++this.req;
    const operation = Operation.of(op, key, op === 'put' ? value : undefined, this.o.id, req, this.o.session);
    // Sent where `start` asked for an election that may still run: wait as long as one takes.
    const a = this.askedAtStart;
    const electing = !this.known && a !== null && a.node === this.hint && now - a.at < this.attemptTimeoutMs({ electing: true });
    this.inflight = { req, op: operation, digest: operationDigest(operation), startedAt: now, sentAt: now, resentAt: now, attempts: 1, target: this.hint, askedToLead: false, electing, direct: this.known && !electing, busy: false };
    return [this.request(this.hint)];
  }

  private request(to: number): ClientOutbound {
    return { to, msg: make(ClientRequest, { pending: PendingOp.of(this.inflight!.op, this.o.replyTo) }) };
  }

  /** A reply arrived; returns the completed operation if it answers the one in flight. */
  onReply(msg: ClientReply, now: number): Completed | null {
    const f = this.inflight;
    const m = /^P([0-9]+)$/.exec(msg.leader);
    if (m) {
      const n = Number(m[1]);
      if (n >= 1 && n <= this.o.nodes) {
        this.hint = n;
        this.known = true;
      }
    }
    if (!f || msg.req !== f.req || msg.digest !== f.digest) return null; // an old answer (a retry's twin, or an earlier life's request under this number): ignore
    this.inflight = null;
    const o = f.op;
    return { req: f.req, op: o.op, key: o.key, value: o.value, result: msg.result, leader: msg.leader, depth: msg.depth, startedAt: f.startedAt, endedAt: now, attempts: f.attempts };
  }

  /** The node holding our request knows no leader: ask it to lead, once per attempt. */
  onNoLeader(msg: NoLeader, from: number, now: number): ClientOutbound[] {
    const f = this.inflight;
    if (!f || msg.req !== f.req || from !== f.target || f.askedToLead) return [];
    f.askedToLead = true;
    f.electing = true;
    f.sentAt = now;
    f.resentAt = now;
    return [{ to: from, msg: make(LeaderRequest, {}) }, this.request(from)];
  }

  /**
   * The node holding our request forwarded it to the node it believes leads: that node is our
   * hint and the target of the request's resends and of the next attempt's count. Returns
   * whether the target changed.
   */
  onRedirect(msg: Redirect): boolean {
    const f = this.inflight;
    const m = /^P([0-9]+)$/.exec(msg.leader);
    if (!m) return false;
    const n = Number(m[1]);
    if (n < 1 || n > this.o.nodes) return false;
    this.hint = n;
    this.known = true;
    if (!f || msg.req !== f.req) return false;
    f.direct = false; // through a follower: the forward is one hop more
    if (f.target === n) return false;
    f.target = n;
    return true;
  }

  /**
   * A node refused the request in flight. `busy`: retry after the timeout. `stale`: a later
   * request of this session already took effect, which a correct client never causes (numbers
   * only grow within one client process): the operation fails, with the reason.
   */
  onRefused(msg: Refused, now: number): { failed?: string } {
    const f = this.inflight;
    if (!f || msg.req !== f.req || msg.digest !== f.digest) return {};
    if (msg.reason === 'busy') {
      f.busy = true;
      f.sentAt = now;
      return {};
    }
    this.inflight = null;
    return { failed: `request #${f.req} refused as stale: request #${msg.lastReq} of this client session already took effect` };
  }

  /** Timer: on timeout, ask the next node to lead and retry there. */
  onTick(now: number, opts: { duel?: boolean } = {}): ClientOutbound[] {
    const f = this.inflight;
    if (!f) return [];
    if (f.busy) {
      if (now - f.sentAt < this.attemptTimeoutMs(f)) return [];
      f.busy = false;
      f.sentAt = now;
      f.resentAt = now;
      f.attempts++;
      return [this.request(f.target)];
    }
    if (now - f.sentAt < this.attemptTimeoutMs(f)) {
      if (this.o.resendMs === undefined || now - f.resentAt < this.o.resendMs) return [];
      f.resentAt = now;
      return [this.request(f.target)];
    }
    f.resentAt = now;
    const next = (f.target % this.o.nodes) + 1;
    f.askedToLead = true;
    f.electing = true;
    f.direct = false;
    f.target = next;
    f.sentAt = now;
    f.attempts++;
    this.hint = next;
    const out: ClientOutbound[] = [{ to: next, msg: make(LeaderRequest, {}) }, this.request(next)];
    if (opts.duel && this.o.nodes > 2) {
      // Dueling leaders: also ask a second node at the same moment.
      const other = (next % this.o.nodes) + 1;
      out.push({ to: other, msg: make(LeaderRequest, {}) }, this.request(other));
    }
    return out;
  }
}
