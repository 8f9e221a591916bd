/**
 * The local cluster: nodes P1..Pn and clients C1..Cm from the config, each a separate OS
 * process started with the same command as `npm run node -- N` / `npm run client -- N`, their
 * output merged into one console. It asks nodes for their `status` (hiding the answers it asked
 * for), collects each client's answers in order (for `expect`), and cuts or fixes links by
 * typing failLink/fixLink into node consoles.
 */
import * as path from 'node:path';
import { ClusterConfig } from '../config';
import { ClientResult, parseResultLine } from './lines';
import { LinkData, StatusData } from '../cli/format';
import { Output } from './output';
import { clientCommand, nodeCommand } from '../cli/entry-points';
import { Proc } from './proc';
import { EVENT_PREFIX } from '../events/reporter';

export interface ClusterOptions {
  config: ClusterConfig;
  /** Absolute path of the config file, passed to every process as --config. */
  configPath: string;
  /** Passed as --delay-ms when set (else each process uses the config's delay_ms). */
  delayMs?: number;
  /** Node PN keeps its files in dataRoot/PN. */
  dataRoot: string;
  /** Pass --quiet to the nodes (no message trace). */
  quiet: boolean;
  /** Passed to the clients when set: the deadline of an operation, and the wait per attempt. */
  clientTimeoutMs?: number;
  clientRetryMs?: number;
  /** Pass --insecure to every process (plain links). */
  insecure?: boolean;
  out: Output;
  /** Project folder: where dist/ is; the processes' working directory. */
  root: string;
  /**
   * The web view: when set, every process is started with --events, its event lines come here
   * instead of the console, and so do the clients' answers (they are printed too).
   */
  events?: { line(name: string, line: string): void; answer(name: string, line: string): void };
}

export interface ChainView {
  decided: number;
  tentative: number;
  rows: { depth: number; status: 'decided' | 'tentative'; hash: string }[];
}

/** How long a process may take to print its ready line. */
export const START_TIMEOUT_MS = 20_000;
/** How long a node may take to answer a console command (it answers at once unless overloaded). */
export const QUERY_TIMEOUT_MS = 3_000;
const MAX_RESULTS = 1000;

export class Cluster {
  readonly procs = new Map<string, Proc>();
  readonly nodes: string[];
  readonly clients: string[];
  private readonly results = new Map<string, { seq: number; result: ClientResult }[]>();
  /** How many client answers have arrived so far (each answer's sequence number). */
  resultSeq = 0;
  private stopping = false;
  /** The first process that exited without being told to (a crash), if any. */
  unexpectedExit: string | null = null;
  /** Links cut by `partition` and not healed since: [the node it was typed at, the other end]. */
  private readonly cuts: [string, string][] = [];

  constructor(readonly o: ClusterOptions) {
    this.nodes = o.config.nodes.map((n) => n.name);
    this.clients = o.config.clients.map((c) => c.name);
    for (const name of this.nodes) {
      const args = nodeCommand(name.slice(1), ['--config', o.configPath]);
      if (o.delayMs !== undefined) args.push('--delay-ms', String(o.delayMs));
      args.push('--data-dir', this.dataDir(name));
      if (o.quiet) args.push('--quiet');
      if (o.events) args.push('--events');
      args.push('--exit-on-stdin-close'); // if this console dies, even by SIGKILL, its nodes follow
      if (o.insecure) args.push('--insecure');
      this.add(name, 'node', args);
    }
    for (const name of this.clients) {
      const args = clientCommand(name.slice(1), ['--config', o.configPath]);
      if (o.delayMs !== undefined) args.push('--delay-ms', String(o.delayMs));
      if (o.clientTimeoutMs !== undefined) args.push('--timeout-ms', String(o.clientTimeoutMs));
      if (o.clientRetryMs !== undefined) args.push('--retry-ms', String(o.clientRetryMs));
      if (o.events) args.push('--events');
      if (o.insecure) args.push('--insecure');
      this.add(name, 'client', args);
      this.results.set(name, []);
    }
    o.out.setNames([...this.nodes, ...this.clients]);
  }

  private add(name: string, kind: 'node' | 'client', command: string[]): void {
    this.procs.set(name, new Proc({
      name, kind, command, cwd: this.o.root,
      onLine: (p, line, stream) => this.onLine(p, line, stream),
      onExit: (p, code, signal, expected, wasUp) => this.onExit(p, code, signal, expected, wasUp),
    }));
  }

  /** The network delay in force (for timeouts). */
  get delayMs(): number {
    return this.o.delayMs ?? this.o.config.delayMs;
  }

  dataDir(node: string): string {
    return path.join(this.o.dataRoot, node);
  }

  /** The command line of a process, as one would type it. */
  commandLine(name: string): string {
    const short = (a: string) => {
      if (!path.isAbsolute(a)) return a;
      const rel = path.relative(this.o.root, a);
      return rel && !rel.startsWith('..') ? rel : a;
    };
    return ['node', ...this.proc(name).command.map(short)].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
  }

  proc(name: string): Proc {
    const p = this.procs.get(name);
    if (!p) throw new Error(`there is no process ${name}`);
    return p;
  }

  isNode(name: string): boolean {
    return this.nodes.includes(name);
  }

  isUp(name: string): boolean {
    return this.procs.get(name)?.state === 'up';
  }

  // ---------------------------------------------------------------- lines and exits

  private onLine(p: Proc, line: string, stream: 'stdout' | 'stderr'): void {
    if (this.o.events && stream === 'stdout' && line.startsWith(EVENT_PREFIX)) return this.o.events.line(p.name, line);
    if (p.kind === 'client' && stream === 'stdout') {
      const r = parseResultLine(line);
      if (r) {
        this.o.events?.answer(p.name, line);
        const q = this.results.get(p.name)!;
        q.push({ seq: this.resultSeq++, result: r });
        if (q.length > MAX_RESULTS) q.shift();
        p.unanswered.shift();
      }
    }
    this.o.out.process(p.name, line, stream);
  }

  private onExit(p: Proc, code: number | null, signal: NodeJS.Signals | null, expected: boolean, wasUp: boolean): void {
    if (this.stopping || !wasUp) return; // a start that failed is reported by whoever started it
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (expected) {
      this.o.out.warn(`${p.name} is down (${how}); type "restart ${p.name}" to start it again`);
    } else {
      this.unexpectedExit ??= `${p.name} exited unexpectedly (${how})`;
      this.o.out.error(`${p.name} exited unexpectedly (${how}); type "restart ${p.name}" to start it again`);
    }
  }

  // ---------------------------------------------------------------- start and stop

  /** Starts the nodes, then the clients; throws (after stopping everything) if one does not come up. */
  async startAll(): Promise<void> {
    for (const group of [this.nodes, this.clients]) {
      const ok = await Promise.all(group.map((n) => this.proc(n).start(START_TIMEOUT_MS)));
      const failed = group.filter((_, i) => !ok[i]);
      if (failed.length > 0) {
        const why = failed.map((n) => `\n  ${n}: ${this.proc(n).lastWords()}`).join('');
        await this.stopAll();
        throw new Error(`could not start ${failed.join(', ')}:${why}`);
      }
    }
  }

  /** Starts one stopped process again, with the same command (a node reloads its chain from disk). */
  async restart(name: string): Promise<void> {
    const p = this.proc(name);
    if (p.exiting) await p.waitExit(5000); // "P3 failProcess" was just typed: let it finish exiting
    if (p.state !== 'down') throw new Error(`${name} is running${p.kind === 'node' ? ` (to crash it first: ${name} failProcess)` : ''}`);
    if (!(await p.start(START_TIMEOUT_MS))) {
      throw new Error(`${name} did not start: ${p.lastWords()}`);
    }
  }

  /**
   * A node forgets its link table when it restarts, but a restart does not heal the network:
   * types again the partition's failLinks that were typed at it. Returns the links.
   */
  async reapplyCuts(name: string): Promise<string[]> {
    const mine = this.cuts.filter(([at]) => at === name);
    await Promise.all(mine.map(([at, other]) => this.link(at, 'failLink', other)));
    return mine.map(([at, other]) => `${at}-${other}`);
  }

  /** SIGTERM to every process (nodes stop cleanly), SIGKILL to any still there after 3 s. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.procs.values()].map((p) => p.stop(3000)));
  }

  /** SIGKILL every process now (last resort, synchronous). */
  killAll(): void {
    this.stopping = true;
    for (const p of this.procs.values()) p.kill();
  }

  // ---------------------------------------------------------------- talking to processes

  /** Types a line into a process's console. */
  send(name: string, text: string): void {
    const p = this.proc(name);
    if (p.state === 'down') throw new Error(`${name} is down (type "restart ${name}" to start it)`);
    p.write(text);
    if (p.kind === 'client' && text.trim() && !/^help$/i.test(text.trim())) p.unanswered.push([Date.now(), text.trim()]);
  }

  /**
   * Takes the oldest answer of a client not yet taken by an expect, among those that arrived
   * as answer number `since` or later; older ones are dropped and counted in `dropped`.
   */
  takeResult(client: string, since = 0, dropped?: { count: number }): ClientResult | undefined {
    const q = this.results.get(client);
    while (q && q.length > 0 && q[0].seq < since) {
      q.shift();
      if (dropped) dropped.count++;
    }
    return q?.shift()?.result;
  }

  /**
   * Types `text --json` into a node and resolves with the first JSON line that `accept` takes
   * (null if the node is down, gives no such answer within timeoutMs, or answers with an error).
   * The answer is hidden from the console; other lines pass through.
   */
  private query<T>(name: string, text: string, accept: (data: Record<string, unknown>) => T | undefined, timeoutMs = QUERY_TIMEOUT_MS): Promise<T | null> {
    const p = this.proc(name);
    if (p.state !== 'up') return Promise.resolve(null);
    return new Promise((resolve) => {
      let settled = false;
      const asked = Date.now();
      const settle = (v: T | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      };
      const remove = p.intercept((line) => {
        const data = jsonObject(line);
        const late = Date.now() - asked > 30_000;
        if (!data || data.node !== name) return { consume: false, done: late };
        if (typeof data.error === 'string') {
          settle(null);
          return { consume: false, done: true }; // shown: the node refused what we typed
        }
        const v = accept(data);
        if (v === undefined) return { consume: false, done: late };
        settle(v); // a late answer is still hidden, up to a point
        return { consume: true, done: true };
      });
      const timer = setTimeout(() => settle(null), timeoutMs);
      if (!p.write(`${text} --json`)) {
        remove();
        settle(null);
      }
    });
  }

  /** Asks a node for its status (`status --json`); null if it is down or does not answer in time. Not printed. */
  status(name: string, timeoutMs = QUERY_TIMEOUT_MS): Promise<StatusData | null> {
    return this.query(name, 'status', (d) => (typeof d.role === 'string' && typeof d.depth === 'number' ? (d as unknown as StatusData) : undefined), timeoutMs);
  }

  /** Every live node's status, in node order (null: down or no answer). */
  async statusAll(): Promise<Map<string, StatusData | null>> {
    const all = await Promise.all(this.nodes.map((n) => this.status(n)));
    return new Map(this.nodes.map((n, i) => [n, all[i]]));
  }

  /** A node's chain (`printBlockchain --json`, not printed here); null if down or silent. */
  async blockchain(name: string, timeoutMs = QUERY_TIMEOUT_MS): Promise<ChainView | null> {
    const data = await this.query(name, 'printBlockchain', (d) => (Array.isArray(d.blocks) && typeof d.commit === 'number' ? (d as unknown as ChainJson) : undefined), timeoutMs);
    if (!data) return null;
    return {
      decided: data.commit,
      tentative: data.blocks.length - data.commit,
      rows: data.blocks.map((b) => ({ depth: b.depth, status: b.status, hash: b.hash })),
    };
  }

  /** Types failLink/fixLink (with --json) into a node; resolves with its answer, or null. */
  private link(node: string, cmd: 'failLink' | 'fixLink', other: string): Promise<LinkData | null> {
    return this.query(node, `${cmd}(${node},${other})`, (d) => (d.link === cmd && d.peer === other ? (d as unknown as LinkData) : undefined));
  }

  /**
   * Cuts every link between different groups, typing failLink at one end (a node that is up;
   * the first group's end when both are). "*" stands for every node not named elsewhere.
   * Returns lines to report.
   */
  async partition(groups: string[][]): Promise<string[]> {
    const named = new Set(groups.flat());
    const resolved = groups.map((g) => (g[0] === '*' ? this.nodes.filter((n) => !named.has(n)) : g));
    if (resolved.some((g) => g.length === 0)) throw new Error('"*" stands for no node here: every node is already in a group');
    const cut: string[] = [];
    const skipped: string[] = [];
    const pending: Promise<LinkData | null>[] = [];
    for (let i = 0; i < resolved.length; i++) {
      for (let j = i + 1; j < resolved.length; j++) {
        for (const x of resolved[i]) {
          for (const y of resolved[j]) {
            const at = this.isNode(x) && this.isUp(x) ? x : this.isNode(y) && this.isUp(y) ? y : null;
            if (!at) {
              if (this.isNode(x) || this.isNode(y)) skipped.push(`${x}-${y}`);
              continue; // two clients never talk to each other
            }
            const other = at === x ? y : x;
            cut.push(`${x}-${y}`);
            if (!this.cuts.some(([a, b]) => a === at && b === other)) this.cuts.push([at, other]);
            pending.push(this.link(at, 'failLink', other));
          }
        }
      }
    }
    const answers = await Promise.all(pending);
    const lines = [`partition ${resolved.map((g) => g.join(',')).join(' | ')}: cut ${cut.length} link(s)`];
    const silent = cut.filter((_, i) => answers[i] === null);
    if (silent.length) lines.push(`not confirmed: ${silent.join(' ')}`);
    if (skipped.length) lines.push(`not cut (both ends down or clients): ${skipped.join(' ')}`);
    return lines;
  }

  /** Fixes every failed link that any live node reports (whoever cut it). Returns lines to report. */
  async heal(): Promise<string[]> {
    const statuses = await this.statusAll();
    const pending: Promise<LinkData | null>[] = [];
    const fixed: string[] = [];
    const silent: string[] = [];
    for (const [node, s] of statuses) {
      if (!s) {
        if (this.isUp(node)) silent.push(node);
        continue;
      }
      for (const peer of s.failedLinks) {
        fixed.push(`${node}-${peer}`);
        pending.push(this.link(node, 'fixLink', peer));
      }
    }
    await Promise.all(pending);
    this.cuts.length = 0;
    const lines = [fixed.length ? `heal: fixed ${fixed.length} link(s): ${fixed.join(' ')}` : 'heal: no failed links'];
    if (silent.length) lines.push(`no status from ${silent.join(', ')}: its links were not checked`);
    return lines;
  }
}

/** What printBlockchain --json answers (src/cli/format.ts blockchainJson). */
interface ChainJson {
  node: string;
  commit: number;
  blocks: { depth: number; hash: string; status: 'decided' | 'tentative' }[];
}

/** The line as a JSON object, or null if it is not one. */
function jsonObject(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(line);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
