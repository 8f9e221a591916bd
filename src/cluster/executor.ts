/**
 * Runs console commands against the cluster — the same code for a line typed at the console and
 * a line of a scenario file. A command that cannot be done throws CommandError; a check that
 * does not hold throws CheckFailed (a script stops there; the console prints it and goes on).
 */
import { catchUpText } from '../node/catch-up';
import { defaultDeadlineMs } from '../client/client';
import { Cluster } from './cluster';
import { CONSOLE_HELP, ConsoleCommand, NodeCheck, parseCommand, substitute } from './commands';
import { StatusData } from '../cli/format';
import { ClientResult, resultMatches } from './lines';
import { Output } from './output';

export class CommandError extends Error {}
export class CheckFailed extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How long checks wait by default: a client's deadline for one operation and 5 s. */
export function defaultTimeoutMs(delayMs: number, clientDeadlineMs = defaultDeadlineMs(delayMs)): number {
  return clientDeadlineMs + 5000;
}

const POLL_MS = 200;

export interface ExecutorOptions {
  timeoutMs: number;
  /** Scripts: a process that exits without being told to fails the check in progress. */
  failOnCrash: boolean;
}

export class Executor {
  /** $NAME values set by wait-leader. */
  readonly vars = new Map<string, string>();
  timeoutMs: number;
  private aborted = false;
  /**
   * `expect CX` takes only answers that arrived after the previous step began (not counting
   * other `expect CY` steps, so `C1 put..`, `C2 put..`, `expect C1 ack`, `expect C2 ack` works):
   * the client answer counter when that step began.
   */
  private answersSince = 0;

  constructor(private readonly cluster: Cluster, private readonly out: Output, private readonly o: ExecutorOptions) {
    this.timeoutMs = o.timeoutMs;
  }

  /** Makes any wait in progress give up (the console is quitting). */
  abort(): void {
    this.aborted = true;
  }

  private names() {
    return { nodes: this.cluster.nodes, clients: this.cluster.clients };
  }

  /** Substitutes $NAME, parses and runs one line; 'quit' when it asks to quit. */
  async line(text: string): Promise<'quit' | void> {
    const sub = substitute(text, this.vars, this.names());
    if (!sub.ok) throw new CommandError(sub.error);
    const p = parseCommand(sub.value, this.names());
    if (!p.ok) throw new CommandError(p.error);
    if (p.value.kind !== 'expect-client') this.answersSince = this.cluster.resultSeq;
    return this.run(p.value);
  }

  async run(c: ConsoleCommand): Promise<'quit' | void> {
    const cl = this.cluster;
    switch (c.kind) {
      case 'quit': return 'quit';
      case 'help': return this.out.info(CONSOLE_HELP);
      case 'send': {
        const targets = c.target === 'all' ? cl.nodes.filter((n) => cl.isUp(n)) : [c.target];
        if (targets.length === 0) throw new CommandError('no node is up');
        for (const t of targets) {
          const waiting = cl.proc(t).unanswered[0];
          this.attempt(() => cl.send(t, c.text));
          if (waiting && cl.proc(t).unanswered.length > 1) {
            this.out.info(`(${t} is still waiting for an answer to "${clip(waiting[1], 50)}"; it sends this one after that)`);
          }
        }
        if (c.note) this.out.info(`(${c.note})`);
        return;
      }
      case 'restart': {
        const p = cl.proc(c.target);
        if (p.state !== 'down' && !p.exiting) {
          throw new CommandError(`${c.target} is running${p.kind === 'node' ? ` (to crash it first: ${c.target} failProcess)` : ''}`);
        }
        this.out.info(`restarting ${c.target}: ${cl.commandLine(c.target)}`);
        await this.attemptAsync(() => cl.restart(c.target));
        this.out.info(`${c.target} is up`, 'ok');
        const again = await cl.reapplyCuts(c.target);
        if (again.length) this.out.info(`the partition still stands: cut ${again.join(' ')} again (a restart does not heal the network; "heal" does)`);
        return;
      }
      case 'status': return this.status();
      case 'partition': {
        const lines = await this.attemptAsync(() => cl.partition(c.groups));
        for (const l of lines) this.out.info(l);
        return;
      }
      case 'heal': {
        for (const l of await cl.heal()) this.out.info(l);
        return;
      }
      case 'sleep': return sleep(c.ms);
      case 'set': {
        if (c.name === 'delay') throw new CommandError('set delay works only at the top of a scenario file (here: restart the console with --delay-ms)');
        this.timeoutMs = c.value;
        return this.out.info(`checks now wait up to ${(c.value / 1000).toFixed(1)} s`);
      }
      case 'wait-leader': return this.waitLeader(c.variable);
      case 'expect-client': return this.expectClient(c.target, c.expected);
      case 'expect-node': return this.expectNode(c.target, c.check);
      case 'expect-agree': return this.expectAgree();
    }
  }

  private attempt(f: () => void): void {
    try {
      f();
    } catch (e) {
      throw new CommandError((e as Error).message);
    }
  }

  private async attemptAsync<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw new CommandError((e as Error).message);
    }
  }

  /** Calls `attempt` every POLL_MS until it returns a value, or fails with `timeout()` after timeoutMs. */
  private async until<T>(attempt: () => Promise<T | undefined> | T | undefined, timeout: () => string, pollMs = POLL_MS): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      if (this.aborted) throw new CommandError('interrupted');
      if (this.o.failOnCrash && this.cluster.unexpectedExit) throw new CheckFailed(this.cluster.unexpectedExit);
      const v = await attempt();
      if (v !== undefined) return v;
      if (Date.now() >= deadline) throw new CheckFailed(`${timeout()} (waited ${(this.timeoutMs / 1000).toFixed(1)} s)`);
      await sleep(pollMs);
    }
  }

  // ---------------------------------------------------------------- status

  private async status(): Promise<void> {
    const cl = this.cluster;
    const statuses = await cl.statusAll();
    const rows: string[] = [];
    for (const n of cl.nodes) {
      const p = cl.proc(n);
      const s = statuses.get(n);
      if (p.state !== 'up') rows.push(`${n.padEnd(3)} ${p.state.padEnd(5)} ${exitText(p.lastExit)}`);
      else if (!s) rows.push(`${n.padEnd(3)} up    (no answer to status)`);
      else {
        const catchUp = catchUpText(s.catchUp);
        rows.push(`${n.padEnd(3)} up    ${s.role.padEnd(9)} leader ${(s.leader ?? 'unknown').padEnd(7)} depth ${String(s.depth).padEnd(3)} (+${s.tentative} tentative)  queue ${String(s.queue).padEnd(3)} ballot ${(s.ballot ?? '-').padEnd(10)} failed links: ${s.failedLinks.join(',') || 'none'}${catchUp ? `  ${catchUp}` : ''}`);
      }
    }
    for (const c of cl.clients) {
      const p = cl.proc(c);
      if (p.state !== 'up') {
        rows.push(`${c.padEnd(3)} ${p.state.padEnd(5)} ${exitText(p.lastExit)}`);
        continue;
      }
      const w = p.unanswered;
      if (w.length === 0) rows.push(`${c.padEnd(3)} up    idle`);
      else {
        const secs = ((Date.now() - w[0][0]) / 1000).toFixed(0);
        rows.push(`${c.padEnd(3)} up    waiting ${secs} s for an answer to "${clip(w[0][1], 50)}"${w.length > 1 ? ` (then ${w.length - 1} more queued)` : ''}`);
      }
    }
    this.out.info(`status (delay ${cl.delayMs} ms):\n${rows.join('\n')}`);
  }

  // ---------------------------------------------------------------- checks

  private async waitLeader(variable: string): Promise<void> {
    const cl = this.cluster;
    const leader = await this.until(async () => {
      const all = await cl.statusAll();
      const leaders = [...all.values()].filter((s): s is StatusData => s !== null && s.role === 'leader');
      // In a partition an old leader may still think it leads: the highest term is the newest.
      leaders.sort((a, b) => compareTerms(b.term, a.term));
      return leaders[0];
    }, () => 'no live node reports role leader (no node leads until a client times out and asks one)');
    this.vars.set(variable, leader.node);
    this.out.info(`ok: ${leader.node} leads (ballot ${leader.ballot}, depth ${leader.depth}); $${variable} = ${leader.node}`, 'ok');
  }

  private async expectClient(client: string, expected: string): Promise<void> {
    const cl = this.cluster;
    const p = cl.proc(client);
    const dropped = { count: 0 };
    const got = await this.until<ClientResult>(() => {
      const r = cl.takeResult(client, this.answersSince, dropped);
      if (r) return r;
      if (p.state === 'down') throw new CheckFailed(`${client} is down and gave no answer`);
      return undefined;
    }, () => {
      const w = p.unanswered[0];
      const skipped = dropped.count > 0 ? ` (skipped ${dropped.count} answer(s) that came before the previous step)` : '';
      return (w ? `no answer from ${client}: still waiting for "${clip(w[1], 60)}"` : `no answer from ${client}, and nothing typed into it is waiting for one`) + skipped;
    }, 50);
    if (dropped.count > 0) this.out.info(`(${client}: skipped ${dropped.count} answer(s) that came before the previous step)`);
    const detail = got.error ? got.line : `${got.op} ${got.key}: block ${got.depth}, leader ${got.leader}, ${got.ms} ms${got.attempts && got.attempts > 1 ? `, ${got.attempts} attempts` : ''}`;
    if (!resultMatches(expected, got)) throw new CheckFailed(`${client} answered ${JSON.stringify(got.error ? got.line : got.result)} (${detail}), expected ${JSON.stringify(expected)}`);
    this.out.info(`ok: ${client} answered ${got.error ? got.line : got.result}${got.error ? '' : `   (${detail})`}`, 'ok');
  }

  private async expectNode(target: string, check: NodeCheck): Promise<void> {
    const cl = this.cluster;
    const want = describeCheck(check);
    if (check.what === 'up' || check.what === 'down') {
      const nodes = target === 'all' ? cl.nodes : [target];
      const state = check.what;
      await this.until(() => (nodes.every((n) => cl.proc(n).state === state) ? true : undefined),
        () => `${nodes.filter((n) => cl.proc(n).state !== state).join(', ')} not ${state}`, 50);
      return this.out.info(`ok: ${target === 'all' ? 'every node' : target} is ${state}`, 'ok');
    }
    let last = new Map<string, StatusData | null>();
    await this.until(async () => {
      const nodes = target === 'all' ? cl.nodes.filter((n) => cl.isUp(n)) : [target];
      if (nodes.length === 0) throw new CheckFailed('no node is up');
      if (target !== 'all' && cl.proc(target).state === 'down') throw new CheckFailed(`${target} is down`);
      const got = await Promise.all(nodes.map((n) => cl.status(n)));
      last = new Map(nodes.map((n, i) => [n, got[i]]));
      for (const s of got) {
        if (s && check.what === 'depth' && !check.atLeast && s.depth > check.depth) {
          throw new CheckFailed(`${s.node} is at depth ${s.depth}, past the expected ${check.depth}`);
        }
      }
      return got.every((s) => s !== null && holds(check, s)) ? true : undefined;
    }, () => {
      const off = [...last].filter(([, s]) => !s || !holds(check, s)).map(([n, s]) => (s ? `${n} has ${describeState(check, s)}` : `${n} did not answer status`));
      return `expected ${want}: ${off.join('; ') || 'no answer'}`;
    });
    const down = target === 'all' ? cl.nodes.filter((n) => !last.has(n)) : [];
    this.out.info(`ok: ${target === 'all' ? [...last.keys()].join(',') : target} ${want}${down.length ? ` (${down.join(',')} down, not checked)` : ''}`, 'ok');
  }

  private async expectAgree(): Promise<void> {
    const cl = this.cluster;
    const nodes = cl.nodes.filter((n) => cl.isUp(n));
    if (nodes.length === 0) throw new CheckFailed('no node is up');
    const views = await Promise.all(nodes.map((n) => cl.blockchain(n)));
    const byDepth = new Map<number, [string, string]>();
    let most = 0;
    for (let i = 0; i < nodes.length; i++) {
      const v = views[i];
      if (!v) throw new CheckFailed(`${nodes[i]} did not print its blockchain`);
      most = Math.max(most, v.decided);
      for (const r of v.rows) {
        if (r.status !== 'decided') continue;
        const seen = byDepth.get(r.depth);
        if (!seen) byDepth.set(r.depth, [nodes[i], r.hash]);
        else if (seen[1] !== r.hash) throw new CheckFailed(`${seen[0]} and ${nodes[i]} differ at decided block ${r.depth}: ${seen[1]}… vs ${r.hash}…`);
      }
    }
    const depths = nodes.map((n, i) => `${n}:${views[i]!.decided}`).join(' ');
    const head = most > 0 ? `, block ${most - 1} hash ${byDepth.get(most - 1)?.[1] ?? '?'}…` : '';
    this.out.info(`ok: decided blocks agree on ${nodes.length} live node(s) (decided ${depths}${head})`, 'ok');
  }
}

function holds(check: NodeCheck, s: StatusData): boolean {
  switch (check.what) {
    case 'depth': return check.atLeast ? s.depth >= check.depth : s.depth === check.depth;
    case 'role': return s.role === check.role;
    case 'leader': return s.leader === check.leader;
    default: return false;
  }
}

function describeCheck(check: NodeCheck): string {
  switch (check.what) {
    case 'depth': return `depth ${check.atLeast ? '>= ' : ''}${check.depth}`;
    case 'role': return `role ${check.role}`;
    case 'leader': return `leader ${check.leader ?? 'unknown'}`;
    default: return check.what;
  }
}

function describeState(check: NodeCheck, s: StatusData): string {
  switch (check.what) {
    case 'depth': return `depth ${s.depth} (+${s.tentative} tentative)`;
    case 'role': return `role ${s.role}`;
    case 'leader': return `leader ${s.leader ?? 'unknown'}`;
    default: return '?';
  }
}

function exitText(e: { code: number | null; signal: string | null } | null): string {
  if (!e) return '';
  return e.signal ? `(stopped by ${e.signal})` : `(exit code ${e.code})`;
}

function clip(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

/** Orders two leadership terms (seq, then pid); a missing term is lowest. */
export function compareTerms(a: StatusData['term'], b: StatusData['term']): number {
  if (!a || !b) return (a ? 1 : 0) - (b ? 1 : 0);
  return a.seq - b.seq || a.pid - b.pid;
}
