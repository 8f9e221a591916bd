/**
 * The programmatic client: `await client.put(key, json)`, `await client.get(key)`.
 * A thin shell over `ClientCore` (the protocol) and `Transport` (ZeroMQ); the CLI, the
 * end-to-end tests and the benchmark all use it.
 */
import { randomBytes } from 'node:crypto';
import { ClientReply, NoLeader, OpName, Redirect, Refused } from '../../messages';
import { ClusterConfig, endpointUrl } from '../config';
import { operationProblem } from '../limits';
import { Transport, TransportObserver } from '../net/transport';
import { LinkSecurity, linkSecurity } from '../security/link-security';
import { ClientCore, Completed } from './client-core';

export interface ClientOptions {
  /** Client name: C1..C3 from the config, or any other id (then `bind` defaults to a free port). */
  id: string;
  config: ClusterConfig;
  delayMs?: number;
  /** ROUTER endpoint for replies (default: the config's entry for `id`, else a free loopback port). */
  bind?: string;
  /**
   * Wait this long for an answer before asking another node to lead (default: derived from the
   * delay and the hops, leaderTimeoutMs / defaultClientTimeoutMs / electionTimeoutMs). When set,
   * it is used for every attempt.
   */
  timeoutMs?: number;
  /** Initial leader hint, 1..n (default 1). */
  hint?: number;
  /** Send a waiting request to its node again this often (default resendMs(delay); null: never). */
  resendMs?: number | null;
  /** Protocol events: timeouts, Leader requests. */
  onEvent?: (line: string) => void;
  /** Message trace lines (sent/received). */
  trace?: (line: string) => void;
  /** Sees every message sent and every one dropped at a failed link (--events: the web view). */
  observe?: TransportObserver;
  /** How the links are secured (default: CurveZMQ with `id`'s keys from the config's key folder). */
  security?: LinkSecurity;
}

/** One-way hops of an operation sent to a follower: the request, the forward, accept, accepted, the reply. */
export const OPERATION_HOPS = 5;
/** ... sent to the leader: the request, accept, accepted, the reply. */
export const LEADER_OPERATION_HOPS = 4;
/** ... once its node was asked to lead: Leader (with the request), prepare, promise, accept, accepted, the reply. */
export const ELECTION_HOPS = 6;
/**
 * On a fresh cluster, an operation sent as its client starts (which asks P1 to lead at start):
 * the election's Leader, prepare and promise, then accept, accepted, the reply. One typed at
 * least 3 delays after the clients started finds P1 leading: LEADER_OPERATION_HOPS.
 */
export const FIRST_OPERATION_HOPS = ELECTION_HOPS;

/** `hops` message delays plus slack for processing on a loaded machine: 2 s and 10%. */
export function hopsTimeoutMs(delayMs: number, hops: number): number {
  return Math.ceil((hops * delayMs * 11) / 10) + 2000;
}

/** How long an attempt waits for an answer before the client asks another node to lead. */
export function defaultClientTimeoutMs(delayMs: number): number {
  return hopsTimeoutMs(delayMs, OPERATION_HOPS);
}

/** ... when it went to the node named as the leader by the last reply or redirect. */
export function leaderTimeoutMs(delayMs: number): number {
  return hopsTimeoutMs(delayMs, LEADER_OPERATION_HOPS);
}

/** How long an attempt waits once its node was asked to lead. */
export function electionTimeoutMs(delayMs: number): number {
  return hopsTimeoutMs(delayMs, ELECTION_HOPS);
}

/**
 * How often a waiting request is sent again to its node: a round trip (no answer to a resend can
 * come sooner) and 10% and 1 s of slack. Shorter than the shortest attempt (leaderTimeoutMs) at
 * every delay, so a node that was restarted within the attempt gets the request and answers it
 * (with 3 s of slack it was longer than the attempt at 0 and 300 ms: a restarted leader was used
 * only if the first send happened to arrive after the restart).
 */
export function resendMs(delayMs: number): number {
  return Math.ceil((2 * delayMs * 11) / 10) + 1000;
}

/** The default deadline of one operation: a lost leader and two elections (at least 10 s). */
export function defaultDeadlineMs(delayMs: number): number {
  return Math.max(10_000, defaultClientTimeoutMs(delayMs) + 2 * electionTimeoutMs(delayMs));
}

/** The operation's deadline passed without an answer: it may or may not take effect later. */
export class DeadlineError extends Error {
  constructor(readonly req: number, readonly attempts: number, readonly ms: number, readonly target: string) {
    super(`no answer within ${ms} ms for request #${req} (${attempts} attempt(s), last sent to ${target}); it may still take effect`);
  }
}

export class Client {
  private core!: ClientCore;
  private transport!: Transport;
  private timer: NodeJS.Timeout | null = null;
  private waiter: { resolve: (c: Completed) => void; reject: (e: Error) => void; deadline: NodeJS.Timeout | null } | null = null;
  private closed = false;

  private constructor(readonly o: ClientOptions) {}

  static async connect(o: ClientOptions): Promise<Client> {
    const c = new Client(o);
    await c.start();
    return c;
  }

  private async start(): Promise<void> {
    const o = this.o;
    const delayMs = o.delayMs ?? o.config.delayMs;
    const mine = o.config.clients.find((c) => c.name === o.id);
    const bind = o.bind ?? (mine ? endpointUrl(mine) : 'tcp://127.0.0.1:0');
    const peers = new Map(o.config.nodes.map((n) => [n.name, endpointUrl(n)]));
    this.transport = new Transport({
      self: o.id, bind, peers, delayMs,
      onMessage: (from, msg) => {
        if (msg.kind === 'reply') this.onReply(msg as ClientReply);
        else if (msg.kind === 'no-leader' && (msg as NoLeader).client === this.o.id) {
          const outs = this.core.onNoLeader(msg as NoLeader, Number(from.slice(1)), Date.now());
          if (outs.length > 0) this.o.onEvent?.(`${from} knows no leader: asking it to become leader`);
          for (const out of outs) this.transport.send(`P${out.to}`, out.msg);
        } else if (msg.kind === 'redirect' && (msg as Redirect).client === this.o.id) {
          if (this.core.onRedirect(msg as Redirect)) this.o.onEvent?.(`${from} forwarded request #${(msg as Redirect).req} to ${(msg as Redirect).leader}: waiting on it there`);
        } else if (msg.kind === 'refused' && (msg as Refused).client === this.o.id) {
          const r = this.core.onRefused(msg as Refused, Date.now());
          if (r.failed) this.fail(new Error(`${from}: ${r.failed}`));
          else if ((msg as Refused).reason === 'busy') this.o.onEvent?.(`${from} is busy (its queue is full): retrying after the timeout`);
        }
      },
      trace: o.trace,
      warn: (l) => o.onEvent?.(l),
      security: o.security ?? linkSecurity(o.config, o.id, false),
      isNode: (name) => o.config.nodes.some((n) => n.name === name),
      observe: o.observe,
    });
    // The core exists before the transport delivers anything (an early answer, e.g. to a
    // previous run of this client on the same port, used to reach a core not yet built).
    const replyTo = await this.transport.bind();
    this.core = new ClientCore({
      id: o.id,
      nodes: o.config.nodes.length,
      replyTo,
      timeoutMs: o.timeoutMs ?? defaultClientTimeoutMs(delayMs),
      leaderTimeoutMs: o.timeoutMs ?? leaderTimeoutMs(delayMs),
      electionTimeoutMs: o.timeoutMs ?? electionTimeoutMs(delayMs),
      resendMs: o.resendMs === null ? undefined : o.resendMs ?? resendMs(delayMs),
      hint: o.hint,
      // Request numbers continue across restarts of this client (microseconds since 1970 only grow).
      lastReq: Date.now() * 1000,
      session: randomBytes(8).toString('hex'),
    });
    await this.transport.start();
    this.transport.connectAll();
    await this.transport.waitForPeers(1000);
    for (const out of this.core.start(Date.now())) {
      this.o.onEvent?.(`no leader known yet: asking P${out.to} to become leader now, so the first operation need not wait for an election`);
      this.transport.send(`P${out.to}`, out.msg);
    }
    this.timer = setInterval(() => this.tick(), 20);
  }

  get endpoint(): string {
    return this.transport.endpoint;
  }

  get leaderHint(): string {
    return `P${this.core.leaderHint}`;
  }

  put(key: string, value: string): Promise<Completed> {
    return this.run('put', key, value);
  }

  get(key: string): Promise<Completed> {
    return this.run('get', key, undefined);
  }

  /** Runs one operation; with `deadlineMs`, rejects with a DeadlineError if no answer came by then. */
  run(op: OpName, key: string, value: string | undefined, deadlineMs?: number): Promise<Completed> {
    if (this.closed) return Promise.reject(new Error('client is closed'));
    if (this.waiter) return Promise.reject(new Error('one operation at a time: the previous one has not been answered'));
    const problem = operationProblem(op, key, value);
    if (problem) return Promise.reject(new Error(`not sent: ${problem}`));
    return new Promise<Completed>((resolve, reject) => {
      const deadline = deadlineMs === undefined ? null : setTimeout(() => {
        const w = this.waiting();
        this.waiter = null;
        this.core.abandon();
        reject(new DeadlineError(w?.req ?? 0, w?.attempts ?? 0, deadlineMs, w?.target ?? '?'));
      }, deadlineMs);
      this.waiter = { resolve, reject, deadline };
      for (const out of this.core.submit(op, key, value, Date.now())) this.transport.send(`P${out.to}`, out.msg);
    });
  }

  /** When the operation in flight asks the next node to lead if no answer comes (ms since 1970). */
  get retryAt(): number | null {
    return this.core.retryAt;
  }

  /** The operation in flight: how long it has waited (since `since`, ms since 1970) and where it was last sent. */
  waiting(): { req: number; ms: number; since: number; target: string; attempts: number; op: string; key: string } | null {
    const p = this.core.pending;
    return p ? { req: p.req, ms: Date.now() - p.startedAt, since: p.startedAt, target: `P${p.target}`, attempts: p.attempts, op: p.op.op, key: p.op.key } : null;
  }

  private tick(): void {
    const before = this.core.pending?.attempts ?? 0;
    const outs = this.core.onTick(Date.now());
    if (outs.length > 0 && (this.core.pending?.attempts ?? 0) > before) {
      const p = this.core.pending!;
      this.o.onEvent?.(`no answer for request #${p.req} after ${before} attempt(s): asking P${p.target} to become leader and retrying there`);
    }
    for (const out of outs) this.transport.send(`P${out.to}`, out.msg);
  }

  private onReply(msg: ClientReply): void {
    if (msg.client !== this.o.id) return;
    const done = this.core.onReply(msg, Date.now());
    if (done && this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      if (w.deadline) clearTimeout(w.deadline);
      w.resolve(done);
    }
  }

  /** The operation in flight failed for good (a node refused it): its caller is told why. */
  private fail(e: Error): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    if (w.deadline) clearTimeout(w.deadline);
    w.reject(e);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.transport?.close();
    if (this.waiter) {
      if (this.waiter.deadline) clearTimeout(this.waiter.deadline);
      this.waiter.reject(new Error('client closed while waiting for an answer'));
      this.waiter = null;
    }
  }
}
