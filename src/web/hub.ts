/**
 * The console's side of the web view: reads the event lines of the cluster's processes
 * (src/events/reporter.ts), keeps the latest state of each (status, chain tail, dictionary,
 * the client's operation in flight), a timeline (elections, decisions, restarts, answers,
 * console lines), and pushes what changed to every connected page at most every WEB_PUSH_MS.
 *
 * Event lines come from child processes: still input. Each is checked (size, JSON, every field's
 * type, every array and text cut to the reporter's bounds); a bad one is dropped with a
 * rate-limited line. Pages that do not keep up are disconnected at MAX_WEB_BACKLOG_BYTES (the
 * browser reconnects and starts again from a snapshot), so a slow page never holds memory here.
 */
import type { ServerResponse } from 'node:http';
import {
  MAX_EVENT_COUNT_KEYS, MAX_EVENT_DROPS, MAX_EVENT_KV_ENTRIES, MAX_EVENT_LINE_CHARS, MAX_EVENT_LOG_LINES, MAX_EVENT_SENDS, MAX_EVENT_TAIL_BLOCKS,
  MAX_EVENT_TEXT_CHARS, MAX_WEB_BACKLOG_BYTES, MAX_WEB_PAGES, MAX_WEB_PUSH_SENDS, MAX_WEB_TIMELINE, RateLimitedLog, WEB_PUSH_MS,
} from '../limits';
import type { NodeStatus } from '../node/node';
import { clipText, EVENT_PREFIX, EventBlock, EventChain, EventKv, EVENTS_OFF, EVENTS_ON, jsonLine } from '../events/reporter';

export interface NodeView {
  up: string;
  pid: number | null;
  status: NodeStatusView | null;
  chain: EventChain | null;
  kv: EventKv | null;
}

/** A node's `status`, as its events carry it (the page checks `role` as text). */
export type NodeStatusView = Omit<NodeStatus, 'node' | 'role'> & { role: string };

export interface ClientView {
  up: string;
  pid: number | null;
  /** The operation in flight, as the client reports it. */
  inflight: { req: number; op: string; key: string; target: string; attempts: number; since: number } | null;
  /** Lines typed into it and not yet answered: [time, text]. */
  typed: [number, string][];
  last: string | null;
}

export interface TimelineEntry {
  t: number;
  who: string;
  kind: string;
  text: string;
}

/** What the hub needs to know of the processes (the Cluster; a fake in the tests). */
export interface ProcSource {
  nodes: readonly string[];
  clients: readonly string[];
  delayMs: number;
  /** State of a process: 'up' | 'starting' | 'down', its pid, and (clients) the lines typed and not answered. */
  proc(name: string): { state: string; pid: number | undefined; unanswered: readonly [number, string][]; write(text: string): boolean };
}

/** One write to a page, as a server-sent event. */
function sse(data: unknown): string {
  return `data: ${jsonLine(data)}\n\n`;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const str = (v: unknown, max = MAX_EVENT_TEXT_CHARS): string | null => (typeof v === 'string' ? clipText(v, max) : null);
const NAME = /^[A-Za-z0-9_*?-]{1,64}$/;
const KIND = /^[a-z?-]{1,24}$/;

export class WebHub {
  readonly nodes = new Map<string, NodeView>();
  readonly clients = new Map<string, ClientView>();
  private readonly timeline: TimelineEntry[] = [];
  private readonly pages = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  /** Highest decided depth any node reported (for one timeline entry per decided block). */
  private decided = 0;
  // What the next push carries.
  private sends: [string, string, string, number][] = [];
  private sendsSkipped = 0;
  private counts = new Map<string, number>();
  private drops: [string, string, string, boolean, number][] = [];
  private fresh: TimelineEntry[] = [];
  private changed = new Set<string>();
  /** What each process was last told (`pid on|off`): events are reported only while a page is open. */
  private readonly told = new Map<string, string>();
  /** Processes seen up at least once (a later "up" is a restart). */
  private readonly seenUp = new Set<string>();
  private readonly warnings: RateLimitedLog;
  /** Event lines refused, and pages cut for falling behind (for the tests and the status line). */
  rejected = 0;
  pagesCut = 0;

  constructor(private readonly procs: ProcSource, warn: (line: string) => void, private readonly now: () => number = Date.now) {
    this.warnings = new RateLimitedLog(warn);
    for (const n of procs.nodes) this.nodes.set(n, { up: 'down', pid: null, status: null, chain: null, kv: null });
    for (const c of procs.clients) this.clients.set(c, { up: 'down', pid: null, inflight: null, typed: [], last: null });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.push(), WEB_PUSH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const res of this.pages) res.end();
    this.pages.clear();
  }

  get pageCount(): number {
    return this.pages.size;
  }

  // ---------------------------------------------------------------- input

  /** An `@event` line from process `name`. Returns whether it was taken. */
  onEventLine(name: string, line: string): boolean {
    const refuse = (why: string) => {
      this.rejected++;
      this.warnings.warn('event', `web view: dropped an event line from ${name}: ${why}`);
      return false;
    };
    if (line.length > MAX_EVENT_LINE_CHARS) return refuse(`${line.length} characters (${MAX_EVENT_LINE_CHARS} at most)`);
    if (!line.startsWith(EVENT_PREFIX)) return refuse('no @event prefix');
    let ev: unknown;
    try {
      ev = JSON.parse(line.slice(EVENT_PREFIX.length));
    } catch {
      return refuse('not JSON');
    }
    if (!isObj(ev) || ev.p !== name || !isNat(ev.t)) return refuse('not an event of this process');
    const t = ev.t;
    const node = this.nodes.get(name);
    const client = this.clients.get(name);
    if (!node && !client) return refuse('unknown process');
    if (ev.sent !== undefined) {
      if (!Array.isArray(ev.sent)) return refuse('bad "sent"');
      for (const s of ev.sent.slice(0, MAX_EVENT_SENDS)) {
        if (!Array.isArray(s) || typeof s[0] !== 'string' || !NAME.test(s[0]) || typeof s[1] !== 'string' || !KIND.test(s[1]) || !isNat(s[2])) return refuse('bad "sent" entry');
        if (this.sends.length < MAX_WEB_PUSH_SENDS) this.sends.push([name, s[0], s[1], s[2]]);
        else this.sendsSkipped++;
      }
    }
    if (ev.counts !== undefined) {
      if (!isObj(ev.counts)) return refuse('bad "counts"');
      for (const [k, n] of Object.entries(ev.counts).slice(0, MAX_EVENT_COUNT_KEYS)) {
        const m = /^(\S{1,64}) ([a-z-]{1,24})$/.exec(k);
        if (!m || !isNat(n)) return refuse('bad "counts" entry');
        // Every message is counted; beyond 4 x MAX_EVENT_COUNT_KEYS links, under the peer "*".
        let key = `${name} ${m[1]} ${m[2]}`;
        if (!this.counts.has(key) && this.counts.size >= 4 * MAX_EVENT_COUNT_KEYS) key = `${name} * ${m[2]}`;
        this.counts.set(key, (this.counts.get(key) ?? 0) + n);
      }
    }
    if (ev.drops !== undefined) {
      if (!Array.isArray(ev.drops)) return refuse('bad "drops"');
      for (const d of ev.drops.slice(0, MAX_EVENT_DROPS)) {
        if (!Array.isArray(d) || typeof d[0] !== 'string' || !NAME.test(d[0]) || typeof d[1] !== 'string' || !KIND.test(d[1]) || typeof d[2] !== 'boolean' || !isNat(d[3])) return refuse('bad "drops" entry');
        if (this.drops.length < MAX_WEB_PUSH_SENDS) this.drops.push([name, d[0], d[1], d[2], d[3]]);
      }
    }
    if (ev.log !== undefined) {
      if (!Array.isArray(ev.log)) return refuse('bad "log"');
      for (const l of ev.log.slice(0, MAX_EVENT_LOG_LINES)) {
        const text = str(l);
        if (text === null) return refuse('bad "log" entry');
        this.note(t, name, classify(text), text);
      }
    }
    if (node) {
      if (ev.state !== undefined) {
        const s = nodeStatus(ev.state);
        if (!s) return refuse('bad node state');
        node.status = s;
        this.changed.add(name);
      }
      if (ev.chain !== undefined) {
        const c = chain(ev.chain);
        if (!c) return refuse('bad "chain"');
        node.chain = c;
        this.changed.add(name);
        this.noteDecided(t, name, c);
      }
      if (ev.kv !== undefined) {
        const k = kv(ev.kv);
        if (!k) return refuse('bad "kv"');
        node.kv = k;
        this.changed.add(name);
      }
    } else if (client && ev.state !== undefined) {
      const s = ev.state;
      if (s !== null && !(isObj(s) && isNat(s.req) && typeof s.op === 'string' && typeof s.key === 'string' && typeof s.target === 'string' && isNat(s.attempts) && isNat(s.since))) return refuse('bad client state');
      client.inflight = s === null ? null : { req: s.req as number, op: clipText(s.op as string, 8), key: clipText(s.key as string, 64), target: clipText(s.target as string, 64), attempts: s.attempts as number, since: s.since as number };
      this.changed.add(name);
    }
    return true;
  }

  /** A client's answer (its result line). */
  onAnswer(client: string, line: string): void {
    const c = this.clients.get(client);
    if (!c) return;
    c.last = clipText(line);
    this.changed.add(client);
    this.note(this.now(), client, 'answer', line);
  }

  /** A line the console printed itself (command results, checks). */
  onConsole(text: string, style: string): void {
    for (const l of text.split('\n').slice(0, 12)) {
      if (l.trim()) this.note(this.now(), '**', style === 'error' ? 'error' : style === 'ok' ? 'ok' : 'console', l);
    }
  }

  private note(t: number, who: string, kind: string, text: string): void {
    const e = { t, who, kind, text: clipText(text) };
    this.timeline.push(e);
    if (this.timeline.length > MAX_WEB_TIMELINE) this.timeline.shift();
    this.fresh.push(e);
    if (this.fresh.length > MAX_WEB_TIMELINE) this.fresh.shift();
  }

  /** One timeline entry per newly decided block (the first node to report it), or one for a jump. */
  private noteDecided(t: number, node: string, c: EventChain): void {
    if (c.commit <= this.decided) return;
    const from = this.decided;
    this.decided = c.commit;
    const shown = c.tail.filter((b) => b.depth >= from && b.depth < c.commit);
    if (shown.length < c.commit - from) this.note(t, node, 'decided', `blocks ${from}..${c.commit - 1} decided`);
    else for (const b of shown) this.note(t, node, 'decided', `block ${b.depth} decided: ${b.op} ${b.key}${b.value !== null ? ` ${b.value}` : ''} (${b.client}#${b.req}) hash ${b.hash.slice(0, 12)}…`);
  }

  // ---------------------------------------------------------------- output

  /** Process states, polled (up/down/restarts are the console's own knowledge). */
  private pollProcs(): void {
    const t = this.now();
    for (const [name, v] of [...this.nodes, ...this.clients]) {
      const p = this.procs.proc(name);
      const pid = p.pid ?? null;
      if (p.state !== v.up || pid !== v.pid) {
        if (p.state === 'up' && v.up !== 'up') {
          this.note(t, name, 'up', `${name} is up${this.seenUp.has(name) ? ' (restarted)' : ''}`);
          this.seenUp.add(name);
        }
        if (p.state === 'down' && v.up !== 'down') this.note(t, name, 'down', `${name} is down`);
        v.up = p.state;
        if (pid !== null) v.pid = pid;
        if (p.state === 'down' && this.nodes.has(name)) {
          const n = v as NodeView;
          if (n.status) n.status = { ...n.status, role: 'down' };
        }
        this.changed.add(name);
      }
    }
    this.syncEvents();
    for (const [name, c] of this.clients) {
      const typed = this.procs.proc(name).unanswered.slice(0, 8).map(([at, text]) => [at, clipText(text, 120)] as [number, string]);
      if (JSON.stringify(typed) !== JSON.stringify(c.typed)) {
        c.typed = typed;
        this.changed.add(name);
      }
    }
  }

  /**
   * Tells every running process to report events while a page is open and to pause while none
   * is (`@events on|off` on its stdin), once per process start and change.
   */
  private syncEvents(): void {
    const mode = this.pages.size > 0 ? EVENTS_ON : EVENTS_OFF;
    for (const name of [...this.nodes.keys(), ...this.clients.keys()]) {
      const p = this.procs.proc(name);
      if (p.state !== 'up') continue;
      const want = `${p.pid} ${mode}`;
      if (this.told.get(name) !== want && p.write(mode)) this.told.set(name, want);
    }
  }

  /** Everything a page needs to start. */
  snapshot(): unknown {
    return {
      type: 'snapshot', t: this.now(), delayMs: this.procs.delayMs,
      nodes: Object.fromEntries(this.nodes), clients: Object.fromEntries(this.clients),
      timeline: this.timeline,
    };
  }

  /** What changed since the last push, or null. */
  takePush(): unknown | null {
    this.pollProcs();
    if (this.changed.size === 0 && this.sends.length === 0 && this.counts.size === 0 && this.drops.length === 0 && this.fresh.length === 0) return null;
    const msg: Record<string, unknown> = { type: 'push', t: this.now() };
    if (this.changed.size) {
      msg.nodes = Object.fromEntries([...this.nodes].filter(([n]) => this.changed.has(n)));
      msg.clients = Object.fromEntries([...this.clients].filter(([n]) => this.changed.has(n)));
    }
    if (this.sends.length) msg.sent = this.sends;
    if (this.sendsSkipped) msg.sentSkipped = this.sendsSkipped;
    if (this.counts.size) msg.counts = Object.fromEntries(this.counts);
    if (this.drops.length) msg.drops = this.drops;
    if (this.fresh.length) msg.timeline = this.fresh;
    this.changed.clear();
    this.sends = [];
    this.sendsSkipped = 0;
    this.counts = new Map();
    this.drops = [];
    this.fresh = [];
    return msg;
  }

  /** Sends what changed to every page (every WEB_PUSH_MS once started). */
  push(): void {
    const msg = this.takePush();
    if (msg === null || this.pages.size === 0) return;
    const text = sse(msg);
    for (const res of [...this.pages]) this.write(res, text);
  }

  /** Writes to one page, or cuts it off if it has fallen MAX_WEB_BACKLOG_BYTES behind. */
  private write(res: ServerResponse, text: string): void {
    if (res.writableLength + text.length > MAX_WEB_BACKLOG_BYTES) {
      this.pagesCut++;
      this.pages.delete(res);
      this.warnings.warn('slow-page', `web view: a page fell ${res.writableLength} bytes behind; disconnected it (it reconnects from a fresh snapshot)`);
      res.destroy();
      return;
    }
    res.write(text);
  }

  /** A new page on the event stream: false if there are MAX_WEB_PAGES already. */
  addPage(res: ServerResponse): boolean {
    if (this.pages.size >= MAX_WEB_PAGES) return false;
    this.pollProcs();
    this.pages.add(res);
    res.on('close', () => {
      this.pages.delete(res);
      this.syncEvents();
    });
    this.syncEvents();
    this.write(res, 'retry: 1000\n' + sse(this.snapshot()));
    return true;
  }
}

/** Timeline kind of a node's log line. */
function classify(line: string): string {
  if (/^elected leader/.test(line)) return 'elected';
  if (/^starting election|asked me to lead/.test(line)) return 'election';
  if (/^stepping down|timed out/.test(line)) return 'stepdown';
  if (/^leader is now/.test(line)) return 'follow';
  return 'log';
}

function nodeStatus(v: unknown): NodeStatusView | null {
  if (!isObj(v)) return null;
  const s = v;
  const optStr = (x: unknown) => x === null || typeof x === 'string';
  if (typeof s.role !== 'string' || !optStr(s.leader) || !optStr(s.ballot) || !optStr(s.promised) || !isNat(s.depth) || !isNat(s.tentative) || !isNat(s.queue) || !Array.isArray(s.failedLinks)) return null;
  if (!s.failedLinks.every((x) => typeof x === 'string' && NAME.test(x))) return null;
  return {
    role: clipText(s.role, 16), leader: s.leader === null ? null : clipText(s.leader as string, 64), ballot: s.ballot === null ? null : clipText(s.ballot as string, 64),
    promised: s.promised === null ? null : clipText(s.promised as string, 64), depth: s.depth, tentative: s.tentative, queue: s.queue,
    failedLinks: (s.failedLinks as string[]).slice(0, 128),
  };
}

function chain(v: unknown): EventChain | null {
  if (!isObj(v) || !isNat(v.commit) || !isNat(v.end) || !Array.isArray(v.tail)) return null;
  const tail: EventBlock[] = [];
  for (const b of v.tail.slice(-MAX_EVENT_TAIL_BLOCKS)) {
    if (!isObj(b) || !isNat(b.depth) || (b.status !== 'decided' && b.status !== 'tentative') || !isNat(b.req)) return null;
    const [op, key, client, nonce, hp, hash] = [str(b.op, 8), str(b.key, 64), str(b.client, 64), str(b.nonce, 64), str(b.hashPointer, 64), str(b.hash, 64)];
    if (op === null || key === null || client === null || nonce === null || hp === null || hash === null) return null;
    const value = b.value === null ? null : str(b.value, 80);
    if (value === null && b.value !== null) return null;
    tail.push({ depth: b.depth, status: b.status, op, key, value, client, req: b.req, nonce, hashPointer: hp, hash });
  }
  return { commit: v.commit, end: v.end, tail };
}

function kv(v: unknown): EventKv | null {
  if (!isObj(v) || !isNat(v.size) || !Array.isArray(v.entries)) return null;
  const entries: [string, string][] = [];
  for (const e of v.entries.slice(0, MAX_EVENT_KV_ENTRIES)) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string') return null;
    entries.push([clipText(e[0], 64), clipText(e[1], 80)]);
  }
  return { size: v.size, entries };
}
