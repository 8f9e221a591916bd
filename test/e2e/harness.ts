/**
 * End-to-end harness: runs the real CLIs (dist/src/cli/node-main.js, client-main.js) as
 * separate OS processes on loopback ports, talks to their consoles through stdin/stdout, and
 * cleans every process and temp folder up whatever happens.
 *
 * - `Cluster.start()` writes a nodes.ini (configToIni) on free ports and starts P1..P5, each
 *   with its own --data-dir, `--delay-ms D --json` (D: the config's delay, 0 unless
 *   `Cluster.start({ delayMs })`).
 * - `Proc.waitForLine(pred)` waits for a stdout line; on timeout or early exit it fails with
 *   the last lines the process printed (stdout and stderr).
 * - `NodeProc.status()/blockchain()/kv()/queue()` send the console command and parse the
 *   JSON line it answers with.
 * - `ClientProc.op(line)` types one operation into a client console and returns its JSON
 *   result line.
 * - `stopAll()` (call it in afterEach) SIGKILLs every process still running and removes the
 *   temp folders; 'exit' and signal hooks do the same if mocha stops first.
 *
 * Environment: CHAINKV_E2E_KEEP=1 keeps the temp folders (data dirs, nodes.ini);
 * CHAINKV_E2E_DUMP=N prints the last N output lines of every process after each test.
 * A process that exits without the test asking is reported at once on stderr.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Block, Operation } from '../../messages';
import { blockHash, verifyChain } from '../../src/chain';
import { Client } from '../../src/client/client';
import { ClusterConfig, configFromIni, configToIni, Endpoint } from '../../src/config';
import { nodeCommand } from '../../src/cli/entry-points';
import { createKeySet, ensureIdentity } from '../../src/security/keys';
import { loadState } from '../../src/store/chain-store';
import { MemDisk, readLogData } from '../../src/store/disk';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const NODE_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'node-main.js');
export const CLIENT_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'client-main.js');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- process registry

const running = new Set<Proc>();
/** Processes that exited without the test asking: reported at once on stderr. */
export const unexpectedExits: string[] = [];
const tempDirs = new Set<string>();
const programmaticClients = new Set<Client>();

process.on('exit', () => {
  // Last resort (mocha --exit, an uncaught error): never leave a node behind.
  for (const p of running) {
    try { p.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  if (!process.env.CHAINKV_E2E_KEEP) for (const d of tempDirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});

// Mocha itself stopped by a signal: 'exit' hooks do not run then, and a node ignores its stdin
// closing, so kill the children first (SIGKILL to mocha cannot be helped).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    for (const p of running) {
      try { p.child.kill('SIGKILL'); } catch { /* gone */ }
    }
    process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
  });
}

/** Kills every process started by this harness (SIGKILL), closes programmatic clients, removes temp dirs. */
export async function stopAll(): Promise<void> {
  for (const c of programmaticClients) c.close();
  programmaticClients.clear();
  await Promise.all([...running].map((p) => p.kill()));
  if (!process.env.CHAINKV_E2E_KEEP) {
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    tempDirs.clear();
  }
}

const allProcs = new Set<Proc>();

/** Output of every process started since the last forgetProcs, for a failed test's report. */
export function describeAll(lines = 25): string {
  return [...unexpectedExits, ...[...allProcs].map((p) => p.tail(lines))].join('\n');
}

export function forgetProcs(): void {
  allProcs.clear();
  unexpectedExits.length = 0;
}

// ---------------------------------------------------------------- one child process

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

interface Waiter {
  since: number;
  pred: (line: string) => boolean;
  resolve: (r: { line: string; index: number }) => void;
  reject: (e: Error) => void;
  what: string;
  timer: NodeJS.Timeout;
}

export class Proc {
  readonly child: ChildProcess;
  /** Every stdout line so far (index = line number). */
  readonly lines: string[] = [];
  readonly errLines: string[] = [];
  exitInfo: Exit | null = null;
  readonly exited: Promise<Exit>;
  /** Set when the test itself makes the process exit (failProcess, SIGKILL, cleanup). */
  expectExit = false;
  private readonly waiters = new Set<Waiter>();

  constructor(readonly name: string, readonly args: string[]) {
    this.child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
    running.add(this);
    allProcs.add(this);
    const splitter = (into: string[], onLine?: (l: string, i: number) => void) => {
      let buf = '';
      return (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          into.push(line);
          onLine?.(line, into.length - 1);
        }
      };
    };
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', splitter(this.lines, (line, index) => {
      for (const w of [...this.waiters]) {
        if (index >= w.since && w.pred(line)) this.settle(w, null, { line, index });
      }
    }));
    this.child.stderr!.on('data', splitter(this.errLines));
    this.child.stdin!.on('error', () => { /* EPIPE after the process died: reported by send() */ });
    this.exited = new Promise<Exit>((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        running.delete(this);
        if (!this.expectExit) {
          const why = code === 0 && signal === null && this instanceof NodeProc
            ? ' (a clean exit: the node got SIGTERM/SIGINT from outside this test, e.g. a pkill by name)'
            : '';
          const line = `[e2e] UNEXPECTED EXIT of ${this.name} pid ${this.child.pid}: code ${code}, signal ${signal}${why}`;
          unexpectedExits.push(line);
          process.stderr.write(line + '\n' + this.tail(10) + '\n');
        }
        // Let the last stdout chunks arrive before failing the waiters.
        setTimeout(() => {
          for (const w of [...this.waiters]) {
            this.settle(w, new Error(`${this.name} exited (code ${code}, signal ${signal}) while waiting for ${w.what}\n${this.tail()}`));
          }
        }, 50);
        resolve({ code, signal });
      });
    });
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The line count now: pass it as `since` to wait only for lines printed after this point. */
  mark(): number {
    return this.lines.length;
  }

  send(line: string): void {
    if (!this.alive) throw new Error(`cannot type "${line}" into ${this.name}: it has exited\n${this.tail()}`);
    this.child.stdin!.write(line + '\n');
  }

  waitForLine(pred: RegExp | ((line: string) => boolean), opts: { since?: number; timeoutMs?: number; what?: string } = {}): Promise<{ line: string; index: number }> {
    const test = typeof pred === 'function' ? pred : (l: string) => pred.test(l);
    const since = opts.since ?? 0;
    const what = opts.what ?? (typeof pred === 'function' ? 'a matching line' : `a line matching ${pred}`);
    for (let i = since; i < this.lines.length; i++) if (test(this.lines[i])) return Promise.resolve({ line: this.lines[i], index: i });
    if (!this.alive) return Promise.reject(new Error(`${this.name} has exited; no ${what}\n${this.tail()}`));
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        since, pred: test, resolve, reject, what,
        timer: setTimeout(() => this.settle(w, new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`)), timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  private settle(w: Waiter, err: Error | null, r?: { line: string; index: number }): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve(r!);
  }

  /** The last `n` stdout and stderr lines, for error messages. */
  tail(n = 30): string {
    const out = this.lines.slice(-n).map((l) => `  | ${l.length > 400 ? l.slice(0, 400) + '…' : l}`);
    const err = this.errLines.slice(-10).map((l) => `  ! ${l}`);
    const state = this.exitInfo ? `exited code=${this.exitInfo.code} signal=${this.exitInfo.signal}` : `running pid ${this.child.pid}`;
    return `--- ${this.name} (${state}), last ${out.length} of ${this.lines.length} stdout lines${err.length ? ' + stderr' : ''}:\n${[...out, ...err].join('\n')}`;
  }

  /** SIGKILL (default) and wait until the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    this.expectExit = true;
    if (this.alive) {
      try { this.child.kill(signal); } catch { /* gone */ }
    }
    return this.exited;
  }
}

// ---------------------------------------------------------------- node and client consoles

export interface StatusJson {
  node: string; role: 'follower' | 'candidate' | 'leader'; leader: string | null; ballot: string | null;
  promised: string | null; depth: number; tentative: number; queue: number; failedLinks: string[];
}
export interface BlockJson {
  depth: number; op: 'put' | 'get'; key: string; value: string | null; client: string; req: number; session: string | null;
  nonce: string; hashPointer: string; hash: string; status: 'decided' | 'tentative';
}
export interface ChainJson { node: string; commit: number; blocks: BlockJson[] }
export interface KvJson { node: string; depth: number; kv: Record<string, string> }
export interface QueueJson { node: string; queue: { client: string; req: number; op: string; key: string; value: string | null }[] }

function jsonLine(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    const v = JSON.parse(line);
    return typeof v === 'object' && v !== null ? v : null;
  } catch {
    return null;
  }
}

export class NodeProc extends Proc {
  constructor(readonly id: number, args: string[]) {
    super(`P${id}`, args);
  }

  /** Types a console command and returns the JSON line it answers with. */
  async query<T>(cmd: string, shape: (o: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<T> {
    const since = this.mark();
    this.send(cmd);
    const { line } = await this.waitForLine((l) => {
      const o = jsonLine(l);
      return o !== null && o.node === this.name && shape(o);
    }, { since, timeoutMs, what: `the JSON answer to "${cmd}"` });
    return JSON.parse(line) as T;
  }

  status(): Promise<StatusJson> {
    return this.query<StatusJson>('status', (o) => 'role' in o);
  }

  blockchain(): Promise<ChainJson> {
    return this.query<ChainJson>('printBlockchain', (o) => Array.isArray(o.blocks));
  }

  kv(): Promise<KvJson> {
    return this.query<KvJson>('printKVStore', (o) => 'kv' in o);
  }

  queue(): Promise<QueueJson> {
    return this.query<QueueJson>('printQueue', (o) => Array.isArray(o.queue) && !('role' in o));
  }
}

export interface ClientResult {
  op?: string; key?: string; result?: string; leader?: string; depth?: number; req?: number; ms?: number; attempts?: number;
  error?: string;
  /** Test-side times (ms, Date.now()) when the line was typed and when the answer was read. */
  call: number;
  ret: number;
}

export interface PendingClientOp {
  line: string;
  since: number;
  call: number;
}

export class ClientProc extends Proc {
  constructor(readonly id: string, args: string[]) {
    super(id, args);
  }

  /** Types an operation; `result()` then waits for its JSON answer. */
  start(line: string): PendingClientOp {
    const since = this.mark();
    const call = Date.now();
    this.send(line);
    return { line, since, call };
  }

  async result(p: PendingClientOp, timeoutMs = 20_000): Promise<ClientResult> {
    const { line } = await this.waitForLine((l) => jsonLine(l) !== null, { since: p.since, timeoutMs, what: `the answer to "${p.line}"` });
    return { ...(JSON.parse(line) as object), call: p.call, ret: Date.now() };
  }

  /** Types one operation and waits for its answer (the console runs one at a time). */
  op(line: string, timeoutMs = 20_000): Promise<ClientResult> {
    return this.result(this.start(line), timeoutMs);
  }
}

// ---------------------------------------------------------------- ports

/** Ports below the kernel's ephemeral range, so no outgoing connection (or a self-connect) can take them. */
function portRange(): [number, number] {
  try {
    const [lo] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 12_000) return [10_000, Math.min(lo, 32_768) - 1];
  } catch { /* not Linux */ }
  return [20_000, 29_999];
}

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` distinct ports that were free a moment ago. */
export async function freePorts(count: number): Promise<number[]> {
  const [lo, hi] = portRange();
  const out: number[] = [];
  for (let tries = 0; out.length < count && tries < 1000; tries++) {
    const p = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (!out.includes(p) && (await tryListen(p))) out.push(p);
  }
  if (out.length < count) throw new Error('could not find free loopback ports');
  return out;
}

// ---------------------------------------------------------------- the cluster

/** A temp folder (removed by stopAll) holding a nodes.ini on free loopback ports. */
export async function tempConfig(n = 5, nc = 3, delayMs = 0): Promise<{ dir: string; iniPath: string; config: ClusterConfig }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-e2e-'));
  tempDirs.add(dir);
  const ports = await freePorts(n + nc);
  const ep = (name: string, port: number): Endpoint => ({ name, host: '127.0.0.1', port });
  const cfg = {
    delayMs,
    nodes: Array.from({ length: n }, (_, i) => ep(`P${i + 1}`, ports[i])),
    clients: Array.from({ length: nc }, (_, i) => ep(`C${i + 1}`, ports[n + i])),
  };
  const iniPath = path.join(dir, 'nodes.ini');
  fs.writeFileSync(iniPath, configToIni(cfg));
  const config = configFromIni(fs.readFileSync(iniPath, 'utf8'), iniPath);
  createKeySet(config.keysDir, [...config.nodes, ...config.clients].map((e) => e.name)); // keys beside the ini, as on a fresh clone
  return { dir, iniPath, config };
}

export interface ClusterOptions {
  nodes?: number;
  clients?: number;
  /** Run every node with --insecure (plain links), and connect clients the same way. */
  insecure?: boolean;
  /** Called before the nodes start, e.g. to give some nodes another cluster file (`iniFor`). */
  prepare?: (c: Cluster) => void | Promise<void>;
  /** The config's message delay, which nodes and clients started by the harness use (default 0). */
  delayMs?: number;
  /** More node options (e.g. --checkpoint-blocks). */
  nodeArgs?: string[];
}

export class Cluster {
  readonly nodes = new Map<number, NodeProc>();
  readonly clients: ClientProc[] = [];
  /** A node's own cluster file, when it is not `iniPath` (the wire-capture test puts a proxy in others' view of P1). */
  readonly iniFor = new Map<number, string>();
  insecure = false;
  private constructor(readonly dir: string, readonly iniPath: string, readonly config: ClusterConfig, private readonly extraArgs: string[] = []) {}

  static async start(o: ClusterOptions = {}): Promise<Cluster> {
    const n = o.nodes ?? 5;
    const nc = o.clients ?? 3;
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const { dir, iniPath, config } = await tempConfig(n, nc, o.delayMs ?? 0);
      const c = new Cluster(dir, iniPath, config, o.nodeArgs);
      c.insecure = !!o.insecure;
      try {
        await o.prepare?.(c);
        await Promise.all(config.nodes.map((_, i) => c.startNode(i + 1)));
        return c;
      } catch (e) {
        lastErr = e;
        await Promise.all([...c.nodes.values()].map((p) => p.kill()));
        if (!/cannot listen|EADDRINUSE|Address already in use/i.test(String(e))) throw e;
      }
    }
    throw lastErr;
  }

  dataDir(id: number): string {
    return path.join(this.dir, `P${id}`);
  }

  /** The exact command line of node `id` (restarting is the same command). */
  nodeArgs(id: number): string[] {
    return nodeCommand(id, ['--config', this.iniFor.get(id) ?? this.iniPath, '--data-dir', this.dataDir(id), '--delay-ms', String(this.config.delayMs), '--json', ...(this.insecure ? ['--insecure'] : []), ...this.extraArgs]);
  }

  /** Starts (or restarts) node `id` and waits until it listens. */
  async startNode(id: number): Promise<NodeProc> {
    const old = this.nodes.get(id);
    if (old?.alive) throw new Error(`P${id} is still running`);
    const p = new NodeProc(id, this.nodeArgs(id));
    this.nodes.set(id, p);
    await p.waitForLine(/ listening on tcp:\/\//, { timeoutMs: 15_000, what: `P${id} to listen` });
    return p;
  }

  node(id: number): NodeProc {
    const p = this.nodes.get(id);
    if (!p || !p.alive) throw new Error(`P${id} is not running`);
    return p;
  }

  live(): NodeProc[] {
    return [...this.nodes.values()].filter((p) => p.alive).sort((a, b) => a.id - b.id);
  }

  /** The spec's failProcess, typed at the node's console: it exits at once. */
  async failProcess(id: number): Promise<Exit> {
    const p = this.node(id);
    p.expectExit = true;
    p.send('failProcess');
    const exit = await Promise.race([p.exited, sleep(5000).then(() => null)]);
    if (!exit) throw new Error(`P${id} did not exit after failProcess\n${p.tail()}`);
    return exit;
  }

  async sigkill(id: number): Promise<Exit> {
    return this.node(id).kill('SIGKILL');
  }

  /** Starts client CN's console (`--json --retry-ms`, a 2-minute deadline), with an initial leader hint. */
  startClient(n: number, o: { leader?: number; timeoutMs?: number } = {}): ClientProc {
    const args = [CLIENT_MAIN, String(n), '--config', this.iniPath, '--json', '--retry-ms', String(o.timeoutMs ?? 1500), '--timeout-ms', '120000'];
    if (o.leader !== undefined) args.push('--leader', String(o.leader));
    if (this.insecure) args.push('--insecure');
    const c = new ClientProc(`C${n}`, args);
    this.clients.push(c);
    return c;
  }

  /** A programmatic client (src/client/client.ts) on this cluster; closed by stopAll. */
  async connect(id: string, o: { hint?: number; timeoutMs?: number; config?: ClusterConfig; onEvent?: (l: string) => void } = {}): Promise<Client> {
    if (!this.insecure) ensureIdentity((o.config ?? this.config).keysDir, id); // a test's made-up client gets a key of the set
    const c = await Client.connect({ id, security: this.insecure ? { mode: 'plain' } : undefined, config: o.config ?? this.config, hint: o.hint, timeoutMs: o.timeoutMs ?? 1000, delayMs: 0, onEvent: o.onEvent });
    programmaticClients.add(c);
    return c;
  }

  async statuses(nodes = this.live()): Promise<StatusJson[]> {
    return Promise.all(nodes.map((p) => p.status()));
  }

  /** Polls `status` until exactly one live node is leader and every live node names it; returns its id. */
  async waitForLeader(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last: StatusJson[] = [];
    while (Date.now() < deadline) {
      last = await this.statuses();
      const leaders = last.filter((s) => s.role === 'leader');
      if (leaders.length === 1 && last.every((s) => s.leader === leaders[0].node)) return Number(leaders[0].node.slice(1));
      await sleep(100);
    }
    throw new Error(`no agreed leader after ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  /** The leader as some live node reports it right now (role leader), or null. */
  async currentLeader(): Promise<number | null> {
    const s = (await this.statuses()).find((x) => x.role === 'leader');
    return s ? Number(s.node.slice(1)) : null;
  }

  /**
   * Polls until every node in `nodes` (default: all live ones) has the same decided depth
   * (>= minDepth) and the same decided head hash; returns their printBlockchain answers.
   */
  async waitConverged(o: { nodes?: NodeProc[]; minDepth?: number; timeoutMs?: number } = {}): Promise<ChainJson[]> {
    const nodes = o.nodes ?? this.live();
    const deadline = Date.now() + (o.timeoutMs ?? 20_000);
    let last: StatusJson[] = [];
    while (Date.now() < deadline) {
      last = await this.statuses(nodes);
      const d = last[0].depth;
      if (d >= (o.minDepth ?? 0) && last.every((s) => s.depth === d)) {
        const chains = await Promise.all(nodes.map((p) => p.blockchain()));
        const heads = chains.map((c) => (c.commit === 0 ? '' : decided(c)[c.commit - 1]?.hash));
        if (chains.every((c) => c.commit === d) && heads.every((h) => h === heads[0])) return chains;
      }
      await sleep(150);
    }
    throw new Error(`nodes did not converge within ${o.timeoutMs ?? 20_000} ms (minDepth ${o.minDepth ?? 0}): ${last.map((s) => `${s.node}:${s.depth}+${s.tentative} ${s.role} leader=${s.leader}`).join(', ')}`);
  }
}

// ---------------------------------------------------------------- chain checks

export function decided(c: ChainJson): BlockJson[] {
  return c.blocks.filter((b) => b.status === 'decided');
}

/** Rebuilds Block objects from printBlockchain JSON. */
export function toBlocks(blocks: BlockJson[]): Block[] {
  return blocks.map((b) => Block.of(Operation.of(b.op, b.key, b.value ?? undefined, b.client, b.req, b.session ?? undefined), b.nonce, b.hashPointer));
}

/** Throws unless the printed chain verifies (pointers, proof of work) and each printed hash is the block's hash. */
export function assertChainVerifies(c: ChainJson): void {
  const blocks = toBlocks(c.blocks);
  const check = verifyChain(blocks);
  if (!check.ok) throw new Error(`${c.node}'s chain fails verification at block ${check.depth}: ${check.reason}`);
  blocks.forEach((b, i) => {
    if (blockHash(b) !== c.blocks[i].hash) throw new Error(`${c.node}: printed hash of block ${i} is not the hash of its contents`);
    if (c.blocks[i].depth !== i) throw new Error(`${c.node}: block ${i} printed with depth ${c.blocks[i].depth}`);
  });
  const firstTentative = c.blocks.findIndex((b) => b.status === 'tentative');
  if (firstTentative >= 0 && c.blocks.slice(firstTentative).some((b) => b.status === 'decided')) throw new Error(`${c.node}: a decided block above a tentative one`);
  if (decided(c).length !== c.commit) throw new Error(`${c.node}: commit ${c.commit} but ${decided(c).length} decided blocks`);
}

/** The dictionary the decided chain implies (puts in order; a repeated request has no effect). */
export function kvFromChain(blocks: BlockJson[]): Record<string, string> {
  const kv: Record<string, string> = {};
  const lastReq = new Map<string, number>();
  for (const b of blocks) {
    if (b.status !== 'decided') break;
    const seen = lastReq.get(b.client);
    if (seen !== undefined && b.req <= seen) continue;
    lastReq.set(b.client, b.req);
    if (b.op === 'put') kv[b.key] = b.value!;
  }
  return sortKeys(kv);
}

/** The answer each decided request got (client#req -> result), replaying the chain. */
export function resultsFromChain(blocks: BlockJson[]): Map<string, { result: string; depth: number }> {
  const kv = new Map<string, string>();
  const last = new Map<string, number>();
  const out = new Map<string, { result: string; depth: number }>();
  for (const b of blocks) {
    if (b.status !== 'decided') break;
    const seen = last.get(b.client);
    if (seen !== undefined && b.req <= seen) continue;
    last.set(b.client, b.req);
    let result = 'ack';
    if (b.op === 'put') kv.set(b.key, b.value!);
    else result = kv.get(b.key) ?? 'NO_KEY';
    out.set(`${b.client}#${b.req}`, { result, depth: b.depth });
  }
  return out;
}

export function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What a node would load from its data dir right now (read from a copy: loading may truncate). */
export function loadPersisted(dataDir: string): { report: ReturnType<typeof loadState>; decidedHashes: string[]; decidedBlocks: Block[]; kvJson: { depth: number; data: Record<string, string> } | null } {
  const mem = new MemDisk();
  mem.append(readLogData(path.join(dataDir, 'chain.log')));
  mem.sync();
  const report = loadState(mem);
  const st = report.state;
  let kvJson = null;
  try {
    kvJson = JSON.parse(fs.readFileSync(path.join(dataDir, 'kv.json'), 'utf8'));
  } catch { /* missing */ }
  return { report, decidedHashes: st.hashes.slice(0, st.commit), decidedBlocks: st.log.slice(0, st.commit), kvJson };
}

/** Polls `cond` (which returns null when satisfied, or a description of what is still wrong). */
export async function eventually(what: string, cond: () => Promise<string | null> | string | null, timeoutMs = 10_000, everyMs = 150): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null = 'not checked';
  while (Date.now() < deadline) {
    last = await cond();
    if (last === null) return;
    await sleep(everyMs);
  }
  throw new Error(`${what}: still not true after ${timeoutMs} ms: ${last}`);
}

/**
 * Waits until every live node (or `nodes`) has the same decided chain, then checks: each chain
 * verifies, the decided hashes are identical everywhere, and every node's printKVStore equals
 * the dictionary the decided chain implies. Returns the common decided chain and dictionary.
 */
export async function assertAllAgree(c: Cluster, o: { nodes?: NodeProc[]; minDepth?: number; timeoutMs?: number } = {}): Promise<{ blocks: BlockJson[]; kv: Record<string, string>; chains: ChainJson[] }> {
  const nodes = o.nodes ?? c.live();
  const chains = await c.waitConverged({ ...o, nodes });
  for (const ch of chains) assertChainVerifies(ch);
  const ref = decided(chains[0]);
  for (const ch of chains) {
    const hs = decided(ch).map((b) => b.hash);
    if (JSON.stringify(hs) !== JSON.stringify(ref.map((b) => b.hash))) {
      throw new Error(`decided chains differ: ${chains[0].node} ${ref.map((b) => b.hash.slice(0, 8)).join(',')} vs ${ch.node} ${hs.map((h) => h.slice(0, 8)).join(',')}`);
    }
  }
  const expected = kvFromChain(ref);
  const kvs = await Promise.all(nodes.map((p) => p.kv()));
  for (const k of kvs) {
    if (k.depth !== ref.length) throw new Error(`${k.node} printKVStore at depth ${k.depth}, chain decided to ${ref.length}`);
    if (JSON.stringify(sortKeys(k.kv)) !== JSON.stringify(expected)) {
      throw new Error(`${k.node} printKVStore ${JSON.stringify(k.kv)} != dictionary of the decided chain ${JSON.stringify(expected)}`);
    }
  }
  return { blocks: ref, kv: expected, chains };
}

/** Rejects with `what` if `p` has not settled within `ms` (the promise itself keeps running). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); }),
  ]);
}

/** Resolves to 'pending' if `p` has not settled within `ms`, else to its value. */
export async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout;
  return Promise.race([p.finally(() => clearTimeout(timer)), new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), ms); })]);
}
