/**
 * One child process of the cluster (a node or a client), run with exactly the command line of
 * `npm run node -- N` / `npm run client -- N`. Its stdout and stderr are read line by line;
 * each line is offered to the interceptors first (a status query, a blockchain capture), then
 * to `onLine` (the console). It can be started again after it exits (`restart`).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as readline from 'node:readline';
import { isReadyLine } from './lines';
import { EVENT_PREFIX } from '../events/reporter';

export type ProcKind = 'node' | 'client';
export type ProcState = 'down' | 'starting' | 'up';

/** Sees each line before the console: `consume` hides it, `done` removes the interceptor. */
export type Interceptor = (line: string) => { consume: boolean; done: boolean };

export interface ProcOptions {
  name: string;
  kind: ProcKind;
  /** The node binary and its arguments: [script.js, N, --config, ...]. */
  command: string[];
  cwd: string;
  onLine: (p: Proc, line: string, stream: 'stdout' | 'stderr') => void;
  /** After it exits (and its output has been read to the end). */
  /** `wasUp`: it had printed its ready line (else its start failed, which start() reports). */
  onExit: (p: Proc, code: number | null, signal: NodeJS.Signals | null, expected: boolean, wasUp: boolean) => void;
}

export class Proc {
  readonly name: string;
  readonly kind: ProcKind;
  private child: ChildProcess | null = null;
  private _state: ProcState = 'down';
  private interceptors: Interceptor[] = [];
  private readyWaiters: ((ok: boolean) => void)[] = [];
  private exitWaiters: (() => void)[] = [];
  /** The last lines printed (for a start failure's message). */
  private recent: string[] = [];
  private lastStderr: string | null = null;
  /** Set when we told it to exit (failProcess, stop): its exit is then no surprise. */
  private exitExpected = false;
  /** When each line not yet answered was typed into a client: [time, text]. */
  readonly unanswered: [number, string][] = [];
  startedAt = 0;
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(private readonly o: ProcOptions) {
    this.name = o.name;
    this.kind = o.kind;
  }

  get state(): ProcState {
    return this._state;
  }

  /** [script.js, ...arguments], run with this node binary. */
  get command(): readonly string[] {
    return this.o.command;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts it; resolves true once it printed its ready line, false if it exited or timed out first. */
  start(timeoutMs: number): Promise<boolean> {
    if (this._state !== 'down') return Promise.resolve(this._state === 'up');
    this.exitExpected = false;
    this.recent = [];
    this.lastStderr = null;
    this.unanswered.length = 0;
    this.interceptors = [];
    this._state = 'starting';
    this.startedAt = Date.now();
    const [script, ...args] = this.o.command;
    const child = spawn(process.execPath, [script, ...args], { cwd: this.o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin!.on('error', () => { /* EPIPE after it died: the exit is reported separately */ });
    const outDone = this.readLines(child.stdout!, 'stdout');
    const errDone = this.readLines(child.stderr!, 'stderr');
    child.on('error', (e) => {
      this.recent.push(`spawn failed: ${e.message}`);
    });
    child.on('exit', (code, signal) => {
      // Let the last lines (e.g. "P3 failProcess: exiting now") come out before the exit is told.
      void Promise.all([outDone, errDone]).then(() => {
        if (this.child !== child) return;
        const wasUp = this._state === 'up';
        this.child = null;
        this._state = 'down';
        this.lastExit = { code, signal };
        this.interceptors = [];
        for (const w of this.readyWaiters.splice(0)) w(false);
        this.o.onExit(this, code, signal, this.exitExpected, wasUp);
        for (const w of this.exitWaiters.splice(0)) w();
      });
    });
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      this.readyWaiters.push(finish);
    });
  }

  private readLines(stream: NodeJS.ReadableStream, which: 'stdout' | 'stderr'): Promise<void> {
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => this.onLine(line, which));
    return new Promise((resolve) => rl.on('close', () => resolve()));
  }

  private onLine(line: string, stream: 'stdout' | 'stderr'): void {
    if (!line.startsWith(EVENT_PREFIX)) { // (the web view's event lines say nothing about a failed start)
      this.recent.push(line);
      if (this.recent.length > 20) this.recent.shift();
    }
    if (stream === 'stderr') this.lastStderr = line;
    if (this._state === 'starting' && stream === 'stdout' && isReadyLine(this.name, line)) {
      this._state = 'up';
      for (const w of this.readyWaiters.splice(0)) w(true);
    }
    let consumed = false;
    for (const i of [...this.interceptors]) {
      const r = i(line);
      if (r.done) this.interceptors = this.interceptors.filter((x) => x !== i);
      if (r.consume) {
        consumed = true;
        break;
      }
    }
    if (!consumed) this.o.onLine(this, line, stream);
  }

  /** Is the OS process there (started, not yet exited)? */
  get alive(): boolean {
    return this.child !== null;
  }

  intercept(i: Interceptor): () => void {
    this.interceptors.push(i);
    return () => {
      this.interceptors = this.interceptors.filter((x) => x !== i);
    };
  }

  /** Types a line into its console. False if it is not running. */
  write(text: string): boolean {
    const c = this.child;
    if (!c || !c.stdin || c.stdin.destroyed) return false;
    if (/^\s*failprocess\s*(\(\s*\))?\s*$/i.test(text)) this.exitExpected = true;
    c.stdin.write(text + '\n');
    return true;
  }

  /** Resolves once it has exited (at once if it is not running). */
  waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.child) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** True after `failProcess` was typed into it (it is about to exit). */
  get exiting(): boolean {
    return this.exitExpected && this.child !== null;
  }

  /** Stops it: SIGTERM (a node then stops cleanly), SIGKILL if it is still there after graceMs. */
  async stop(graceMs: number): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.exitExpected = true;
    c.kill('SIGTERM');
    if (await this.waitExit(graceMs)) return;
    this.kill();
    await this.waitExit(2000);
  }

  /** SIGKILL now (synchronous; for the last-resort exit handler too). */
  kill(): void {
    const c = this.child;
    if (!c) return;
    this.exitExpected = true;
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }

  /** Why it stopped, as far as its output says: its last error line, else its last line. */
  lastWords(): string {
    return this.lastStderr ?? this.recent[this.recent.length - 1] ?? 'no output';
  }
}
