/**
 * The structured events a node or client process reports when started with --events (the
 * cluster console passes it when it serves the web view): one line on stdout, `@event {json}`,
 * at most every EVENT_FLUSH_MS and only when something happened. The line says which messages
 * were sent (a few one by one, all of them counted per peer and kind), which were dropped at a
 * failed link, the log lines of the period (elections, step-downs), and the process's state
 * when it changed (a node's status, the latest blocks of its chain and its dictionary; a
 * client's operation in flight).
 *
 * Bounded whatever the load: per period, MAX_EVENT_SENDS messages listed, MAX_EVENT_COUNT_KEYS
 * counters, MAX_EVENT_DROPS drops, MAX_EVENT_LOG_LINES log lines, texts cut to
 * MAX_EVENT_TEXT_CHARS. Per message the cost is a counter increment (the transport calls
 * `sent`); everything else is done once per period. Without --events nothing of this runs.
 *
 * The same shape is read back (and checked again: it is still input) by src/web/hub.ts.
 */
import {
  EVENT_FLUSH_MS, EVENT_KV_MS, MAX_EVENT_COUNT_KEYS, MAX_EVENT_DROPS, MAX_EVENT_KV_ENTRIES, MAX_EVENT_LOG_LINES, MAX_EVENT_SENDS,
  MAX_EVENT_TAIL_BLOCKS, MAX_EVENT_TEXT_CHARS,
} from '../limits';
import type { TransportObserver } from '../net/transport';

export const EVENT_PREFIX = '@event ';
/**
 * Lines the console types into a process started with --events: pause the reporting while no
 * page is open (nothing is counted or written then), and resume it (the state is reported whole
 * again). Handled before the process's own command parser.
 */
export const EVENTS_ON = '@events on';
export const EVENTS_OFF = '@events off';

/** One block as the page shows it (texts cut). */
export interface EventBlock {
  depth: number;
  status: 'decided' | 'tentative';
  op: string;
  key: string;
  value: string | null;
  client: string;
  req: number;
  nonce: string;
  hashPointer: string;
  hash: string;
}

export interface EventChain {
  /** Decided blocks. */
  commit: number;
  /** Blocks held (decided and tentative). */
  end: number;
  /** The latest blocks, oldest first. */
  tail: EventBlock[];
}

export interface EventKv {
  size: number;
  /** Up to MAX_EVENT_KV_ENTRIES [key, value] pairs, sorted by key. */
  entries: [string, string][];
}

/** What a process's state looks like to the reporter; called once per period, compared as JSON. */
export interface EventSource {
  /** A node's status, or a client's operation in flight (any JSON value). */
  state(): unknown;
  /** A node's chain: `version` changes whenever it does (its commit and end); `chain()` is built only then. */
  chainVersion?(): string;
  chain?(): EventChain;
  /** A node's dictionary, asked for at most every EVENT_KV_MS and only after the chain changed. */
  kv?(): EventKv;
}

/** One event line (`@event ` + this as JSON). */
export interface EventLine {
  p: string;
  t: number;
  /** Sent messages listed one by one: [to, kind, time]. */
  sent?: [string, string, number][];
  /** Every message sent in the period, per "peer kind". */
  counts?: Record<string, number>;
  /** Dropped at a failed link: [peer, kind or "?", inbound, time]. */
  drops?: [string, string, boolean, number][];
  dropCount?: number;
  log?: string[];
  logSkipped?: number;
  state?: unknown;
  chain?: EventChain;
  kv?: EventKv;
}

export const clipText = (s: string, max = MAX_EVENT_TEXT_CHARS): string => (s.length > max ? s.slice(0, max - 1) + '…' : s);

/**
 * JSON with the characters a terminal would act on escaped (JSON.stringify leaves DEL, C1
 * controls and the Unicode separators and bidi overrides raw): the line stays valid JSON and
 * is harmless if someone runs `npm run node -- 1 --events` on a terminal.
 */
export function jsonLine(v: unknown): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(v).replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export class EventReporter implements TransportObserver {
  private sends: [string, string, number][] = [];
  private counts = new Map<string, number>();
  private drops: [string, string, boolean, number][] = [];
  private dropCount = 0;
  private logs: string[] = [];
  private logSkipped = 0;
  private lastState = '';
  private lastChain = '';
  private kvDirty = false;
  private lastKvAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private paused = false;

  constructor(
    private readonly self: string,
    private readonly source: EventSource,
    private readonly write: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  sent(to: string, kind: string): void {
    if (this.paused) return;
    if (this.sends.length < MAX_EVENT_SENDS) this.sends.push([to, kind, this.now()]);
    let key = `${to} ${kind}`;
    if (!this.counts.has(key) && this.counts.size >= MAX_EVENT_COUNT_KEYS) key = `* ${kind}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  dropped(peer: string, kind: string | null, inbound: boolean): void {
    if (this.paused) return;
    this.dropCount++;
    if (this.drops.length < MAX_EVENT_DROPS) this.drops.push([clipText(peer, 64), kind ?? '?', inbound, this.now()]);
  }

  log(line: string): void {
    if (this.paused) return;
    if (this.logs.length < MAX_EVENT_LOG_LINES) this.logs.push(clipText(line));
    else this.logSkipped++;
  }

  /** The event line for the period just ended (and starts the next), or null if nothing happened. */
  take(): string | null {
    const t = this.now();
    const ev: EventLine = { p: this.self, t };
    let any = false;
    if (this.sends.length > 0) {
      ev.sent = this.sends;
      this.sends = [];
    }
    if (this.counts.size > 0) {
      ev.counts = Object.fromEntries(this.counts);
      this.counts = new Map();
      any = true;
    }
    if (this.dropCount > 0) {
      ev.drops = this.drops;
      ev.dropCount = this.dropCount;
      this.drops = [];
      this.dropCount = 0;
      any = true;
    }
    if (this.logs.length > 0) {
      ev.log = this.logs;
      if (this.logSkipped) ev.logSkipped = this.logSkipped;
      this.logs = [];
      this.logSkipped = 0;
      any = true;
    }
    const state = JSON.stringify(this.source.state() ?? null);
    if (state !== this.lastState) {
      this.lastState = state;
      ev.state = JSON.parse(state);
      any = true;
    }
    const version = this.source.chainVersion?.();
    if (version !== undefined && version !== this.lastChain && this.source.chain) {
      this.lastChain = version;
      ev.chain = this.source.chain();
      this.kvDirty = true;
      any = true;
    }
    if (this.kvDirty && this.source.kv && t - this.lastKvAt >= EVENT_KV_MS) {
      this.kvDirty = false;
      this.lastKvAt = t;
      ev.kv = this.source.kv();
      any = true;
    }
    return any ? EVENT_PREFIX + jsonLine(ev) : null;
  }

  /** Reports every EVENT_FLUSH_MS until `stop` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), EVENT_FLUSH_MS);
    this.timer.unref();
    this.flush(); // the state at start, at once
  }

  /**
   * `@events on` / `@events off` typed into the process (true if `line` was one of them). Resuming
   * forgets what was reported, so the next line carries the whole state again.
   */
  control(line: string): boolean {
    const t = line.trim();
    if (t !== EVENTS_ON && t !== EVENTS_OFF) return false;
    const pause = t === EVENTS_OFF;
    if (pause !== this.paused) {
      this.paused = pause;
      this.sends = [];
      this.counts = new Map();
      this.drops = [];
      this.dropCount = 0;
      this.logs = [];
      this.logSkipped = 0;
      this.lastState = '';
      this.lastChain = '';
      this.lastKvAt = -Infinity;
      if (!pause) this.flush();
    }
    return true;
  }

  flush(): void {
    if (this.paused) return;
    const line = this.take();
    if (line !== null) this.write(line);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The latest blocks of a chain, for the page (texts cut). */
export function chainTail(
  log: readonly { operation: { op: string; key: string; value?: string; client: string; req: number }; nonce: string; hashPointer: string }[],
  hashes: readonly string[], commit: number,
): EventChain {
  const end = log.length;
  const tail: EventBlock[] = [];
  for (let d = Math.max(0, end - MAX_EVENT_TAIL_BLOCKS); d < end; d++) {
    const b = log[d];
    const o = b.operation;
    tail.push({
      depth: d, status: d < commit ? 'decided' : 'tentative', op: o.op, key: clipText(o.key, 64), value: o.value === undefined ? null : clipText(o.value, 80),
      client: clipText(o.client, 64), req: o.req, nonce: clipText(b.nonce, 64), hashPointer: b.hashPointer, hash: hashes[d] ?? '',
    });
  }
  return { commit, end, tail };
}

/** Up to MAX_EVENT_KV_ENTRIES entries of a dictionary, sorted (only that many are looked at). */
export function kvSample(dict: ReadonlyMap<string, string>): EventKv {
  const entries: [string, string][] = [];
  for (const [k, v] of dict) {
    if (entries.length >= MAX_EVENT_KV_ENTRIES) break;
    entries.push([clipText(k, 64), clipText(v, 80)]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { size: dict.size, entries };
}
