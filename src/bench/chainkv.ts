/**
 * A real 5-node chainkv cluster for the benchmark: one OS process per node (the node CLI),
 * ZeroMQ on free loopback ports, `--delay-ms 0`, fsync on, `--quiet --json`, data in a temp
 * dir. Each node's stdout/stderr go to a log file there; `status` is asked on its stdin and the
 * JSON answer read back from that log.
 */
import { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '../client/client';
import { nodeCommand } from '../cli/entry-points';
import { LinkSecurity, linkSecurity } from '../security/link-security';
import { ClusterConfig, configToIni } from '../config';
import type { NodeStatus } from '../node/node';
import { readLogData } from '../store/disk';
import { loadRecords } from '../store/record-log';
import { exited, spawnTracked, stopProcess } from './procs';
import { freePorts, sleep } from './util';
import { KvClient } from './workload';

export type { NodeStatus } from '../node/node';

/** What a node's chain.log holds: how well its writes were batched. */
export interface ChainLogStats {
  node: string;
  bytes: number;
  records: number;
  accepts: number;
  /** Blocks carried by accept records (a block re-proposed by a new leader counts again). */
  acceptedBlocks: number;
  decides: number;
  learns: number;
  blocksPerAccept: number;
}

export interface ChainkvClusterOptions {
  /** Folder for the config, the nodes' data dirs and logs. */
  dir: string;
  nodes?: number;
  /**
   * Benchmark clients C1..Cn, listed in the config so that every node opens its connection to
   * them at start (as for the console clients C1..C3); one more, C(n+1), elects the leader.
   */
  clients: number;
  /** Extra flags for the node's `node` binary, e.g. ['--cpu-prof', '--cpu-prof-dir=/x']. */
  nodeFlags?: (id: number) => string[];
  /** Plain links (--insecure) instead of CurveZMQ: to measure what security costs. */
  insecure?: boolean;
  /** Extra arguments for the node itself, e.g. ['--events'] (the web view's event lines, measured by --events). */
  nodeArgs?: string[];
}

interface NodeProc {
  child: ChildProcess;
  logPath: string;
  startedAt: number;
}

export class ChainkvCluster {
  readonly config: ClusterConfig;
  readonly configPath: string;
  private readonly procs = new Map<number, NodeProc>();
  /** Nodes that exited without being asked to (a crash, or killed from outside). */
  readonly unexpectedExits: string[] = [];

  private constructor(readonly o: ChainkvClusterOptions, config: ClusterConfig) {
    this.config = config;
    this.configPath = path.join(o.dir, 'nodes.ini');
    fs.writeFileSync(this.configPath, configToIni(config));
  }

  /** Picks free ports and writes the config; no process is started yet. */
  static async create(o: ChainkvClusterOptions): Promise<ChainkvCluster> {
    const n = o.nodes ?? 5;
    fs.mkdirSync(o.dir, { recursive: true });
    const ports = await freePorts(n + o.clients + 1);
    const nodes = ports.slice(0, n).map((port, i) => ({ name: `P${i + 1}`, host: '127.0.0.1', port }));
    const clients = ports.slice(n).map((port, i) => ({ name: `C${i + 1}`, host: '127.0.0.1', port }));
    const config: ClusterConfig = { delayMs: 0, nodes, clients, source: path.join(o.dir, 'nodes.ini'), keysDir: path.join(o.dir, 'keys') };
    const c = new ChainkvCluster(o, config);
    for (let i = 1; i <= n; i++) fs.mkdirSync(c.dataDir(i), { recursive: true });
    return c;
  }

  /** A client's link security: plain with --insecure, else its keys from the set the first node made. */
  security(id: string): LinkSecurity {
    return this.o.insecure ? { mode: 'plain' } : linkSecurity(this.config, id, false);
  }

  get size(): number {
    return this.config.nodes.length;
  }

  dataDir(id: number): string {
    return path.join(this.o.dir, `P${id}`);
  }

  logPath(id: number): string {
    return path.join(this.o.dir, `P${id}.log`);
  }

  pid(id: number): number | undefined {
    return this.procs.get(id)?.child.pid;
  }

  /** Starts node `id` and resolves when it listens (after loading and verifying its chain). */
  async startNode(id: number, timeoutMs = 120_000): Promise<{ readyMs: number }> {
    const logPath = this.logPath(id);
    const startOffset = fs.existsSync(logPath) ? fs.statSync(logPath).size : 0;
    const fd = fs.openSync(logPath, 'a');
    const args = [
      ...(this.o.nodeFlags?.(id) ?? []),
      ...nodeCommand(id, ['--config', this.configPath, '--data-dir', this.dataDir(id), '--delay-ms', '0', '--quiet', '--json', ...(this.o.insecure ? ['--insecure'] : []), ...(this.o.nodeArgs ?? [])]),
    ];
    const startedAt = performance.now();
    const child = spawnTracked(process.execPath, args, { stdio: ['pipe', fd, fd] });
    fs.closeSync(fd);
    child.stdin!.on('error', () => {}); // a node that died: its stdin pipe breaks
    const proc: NodeProc = { child, logPath, startedAt };
    child.on('exit', (code, signal) => {
      if (this.procs.get(id) === proc) this.unexpectedExits.push(`P${id} (pid ${child.pid}) exited unexpectedly: ${signal ? `signal ${signal}` : `code ${code}`}`);
    });
    this.procs.set(id, proc);
    const line = await this.waitForLog(id, startOffset, (l) => / listening on /.test(l), timeoutMs);
    if (!line) throw new Error(`P${id} did not start within ${timeoutMs} ms:\n${this.tail(id)}`);
    return { readyMs: performance.now() - startedAt };
  }

  async startAll(): Promise<void> {
    await Promise.all(this.config.nodes.map((_, i) => this.startNode(i + 1)));
  }

  /** A clean stop (SIGTERM: the node flushes and exits). */
  async stopNode(id: number): Promise<void> {
    const p = this.procs.get(id);
    if (!p) return;
    this.procs.delete(id);
    await stopProcess(p.child, 5000);
  }

  /** Counts the records in node `id`'s chain.log (read while it runs: a torn last record is ignored). */
  logStats(id: number): ChainLogStats {
    const buf = readLogData(path.join(this.dataDir(id), 'chain.log'));
    const { records } = loadRecords(buf, (v): v is { t: string; blocks?: unknown[] } => typeof v === 'object' && v !== null);
    let accepts = 0;
    let acceptedBlocks = 0;
    let decides = 0;
    let learns = 0;
    for (const r of records) {
      if (r.t === 'accept') {
        accepts++;
        acceptedBlocks += r.blocks?.length ?? 0;
      } else if (r.t === 'decide') decides++;
      else if (r.t === 'learn') learns++;
    }
    return { node: `P${id}`, bytes: buf.length, records: records.length, accepts, acceptedBlocks, decides, learns, blocksPerAccept: accepts ? acceptedBlocks / accepts : 0 };
  }

  /** Throws if a node died on its own (e.g. killed by another program on the machine). */
  assertAlive(): void {
    if (this.unexpectedExits.length > 0) throw new Error(this.unexpectedExits.join('; '));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.stopNode(id)));
  }

  /** The last lines of a node's log (for error messages). */
  tail(id: number, lines = 20): string {
    try {
      const text = fs.readFileSync(this.logPath(id), 'utf8');
      return text.split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Lines of node `id`'s log written since byte `offset` that match `pred`. */
  grepLog(id: number, pred: (line: string) => boolean, offset = 0): string[] {
    const buf = fs.readFileSync(this.logPath(id));
    return buf.subarray(offset).toString('utf8').split('\n').filter(pred);
  }

  private async waitForLog(id: number, offset: number, pred: (line: string) => boolean, timeoutMs: number): Promise<string | null> {
    const p = this.procs.get(id)!;
    const deadline = performance.now() + timeoutMs;
    let pos = offset;
    let partial = '';
    const fd = fs.openSync(p.logPath, 'r');
    try {
      const chunk = Buffer.alloc(1 << 16);
      for (;;) {
        for (;;) {
          const n = fs.readSync(fd, chunk, 0, chunk.length, pos);
          if (n <= 0) break;
          pos += n;
          const lines = (partial + chunk.subarray(0, n).toString('utf8')).split('\n');
          partial = lines.pop()!;
          for (const l of lines) if (pred(l)) return l;
        }
        if (exited(p.child)) throw new Error(`P${id} exited (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${this.tail(id)}`);
        if (performance.now() > deadline) return null;
        await sleep(5);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Asks node `id` for its status (the console's `status` command, answered as one JSON line). */
  async status(id: number, timeoutMs = 10_000): Promise<NodeStatus> {
    const p = this.procs.get(id);
    if (!p) throw new Error(`P${id} is not running`);
    const offset = fs.statSync(p.logPath).size;
    p.child.stdin!.write('status\n');
    const line = await this.waitForLog(id, offset, (l) => l.startsWith('{"node":') && l.includes('"role":'), timeoutMs);
    if (!line) throw new Error(`P${id} did not answer status within ${timeoutMs} ms`);
    return JSON.parse(line) as NodeStatus;
  }

  /**
   * Connects the benchmark clients C1..Cn (hinted at P1) and waits until the nodes' connections
   * to them are up: a node opens its socket to a listed client at start and retries it at most
   * every second, and with `immediate` a reply sent before that is dropped.
   */
  async connectClients(): Promise<ChainkvClient[]> {
    const out: ChainkvClient[] = [];
    for (const e of this.config.clients.slice(0, -1)) {
      out.push(new ChainkvClient(await Client.connect({ id: e.name, config: this.config, delayMs: 0, hint: 1, security: this.security(e.name) })));
    }
    await sleep(1500);
    return out;
  }

  /** The node that says it leads, if any (asks every running node for its status). */
  async leader(): Promise<number | null> {
    for (const id of this.procs.keys()) {
      try {
        if ((await this.status(id)).role === 'leader') return id;
      } catch {
        /* not answering: try the next */
      }
    }
    return null;
  }

  /**
   * The leader, electing one if there is none: one operation through the spare client, whose
   * short timeout makes it ask a node to lead (not too short: under load an election that is
   * interrupted by the next request for one never finishes).
   */
  async elect(): Promise<number> {
    this.assertAlive();
    const existing = await this.leader();
    if (existing !== null) return existing;
    const id = this.config.clients[this.config.clients.length - 1].name;
    const c = await Client.connect({ id, config: this.config, delayMs: 0, timeoutMs: 1000, hint: 1, security: this.security(id) });
    try {
      await sleep(1200);
      const done = await withTimeout(c.put('warmup', '{"warm":true}'), 60_000, 'electing a leader');
      return Number(done.leader.replace(/^P/, ''));
    } finally {
      c.close();
    }
  }

  /**
   * One get per client, in rounds, until a round needs no retry and every answer names the
   * same leader (the hints are then right and the connections open). Returns the leader.
   */
  async warmUp(clients: ChainkvClient[], maxRounds = 5): Promise<{ leader: string; rounds: number }> {
    let last = { leader: '', rounds: 0 };
    for (let round = 1; round <= maxRounds; round++) {
      const done = await withTimeout(Promise.all(clients.map((c) => c.client.get('warmup'))), 60_000, 'warm-up operations');
      const leaders = new Set(done.map((d) => d.leader));
      last = { leader: done[done.length - 1].leader, rounds: round };
      if (leaders.size === 1 && done.every((d) => d.attempts === 1)) return last;
    }
    return last;
  }
}

export class ChainkvClient implements KvClient {
  constructor(readonly client: Client) {}
  async put(key: string, value: string): Promise<number> {
    return (await this.client.put(key, value)).attempts;
  }
  async get(key: string): Promise<number> {
    return (await this.client.get(key)).attempts;
  }
  close(): void {
    this.client.close();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
