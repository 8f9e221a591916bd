/**
 * Every size limit of chainkv in one place, with the helpers that enforce the ones about text:
 * what a key and a value may be, and how peer-supplied text is made safe to print.
 * The README's "Limits" table lists these with what happens when one is hit.
 */
import { MAX_FRAME_BYTES } from '../messages/codec';

export { MAX_FRAME_BYTES };

/** Longest key, in characters (UTF-16 code units, as the message schema counts). */
export const MAX_KEY_CHARS = 256;
/** Longest value (the JSON text of a put), in characters. */
export const MAX_VALUE_CHARS = 60_000;
/** Longest process name a frame may carry as its sender (the codec's check). */
export const MAX_NAME_CHARS = 64;
/**
 * ZeroMQ's `maxMessageSize` on every socket: a peer announcing a bigger message is disconnected
 * by ZeroMQ before the message is read into memory. A little above the codec's frame limit, so
 * the codec (which names the sender) refuses the frames just above it and ZeroMQ the huge ones.
 */
export const MAX_MESSAGE_SIZE = MAX_FRAME_BYTES + 64 * 1024;
/** Frames received but not yet handled, per ROUTER (ZeroMQ's receive high-water mark). */
export const MAX_RECEIVE_QUEUE_FRAMES = 10_000;
/**
 * Frames above BIG_FRAME_BYTES (only a leader's accepts and repair batches are that big) are
 * decoded at most BIG_FRAME_BYTES_PER_SEC per second (a token bucket holding one second);
 * beyond that they are dropped before decoding (Paxos retransmits), so a flood of frames just
 * under the frame limit does not keep the event loop parsing JSON. (It still costs memory: see
 * the README's known limits.)
 */
export const BIG_FRAME_BYTES = 256 * 1024;
export const BIG_FRAME_BYTES_PER_SEC = 64 * 1024 * 1024;
/** Frames waiting to be sent to one peer (after the delay, before the socket): count and bytes. */
export const MAX_PEER_QUEUE_FRAMES = 10_000;
export const MAX_PEER_QUEUE_BYTES = 64 * 1024 * 1024;
/** Frames held back by the constant delay for one peer: count and bytes. */
export const MAX_DELAYED_FRAMES = 10_000;
export const MAX_DELAYED_BYTES = 64 * 1024 * 1024;
/**
 * Connections opened on demand to reply to processes outside nodes.ini (benchmark clients,
 * made-up ids): beyond this many, the least recently used one is closed.
 */
export const MAX_REPLY_SOCKETS = 256;
/** An on-demand reply connection unused this long is closed. */
export const REPLY_SOCKET_IDLE_MS = 60_000;
/**
 * A client's `Leader` message starts an election (the spec's rule), so one client key could
 * otherwise keep every node electing: a node acts on at most one `Leader` per client per this
 * interval and drops the others with a rate-limited line. (A client asks a node to lead after
 * a timeout or a no-leader answer: seconds apart, never this close.)
 */
export const LEADER_REQUEST_MIN_INTERVAL_MS = 500;
/** Clients whose last `Leader` time a node remembers (least recently seen forgotten first). */
export const MAX_LEADER_REQUESTERS = 4096;
/** Repeated warnings of one kind: at most one line per interval, then a count of the others. */
export const WARN_INTERVAL_MS = 5_000;

/** C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi overrides. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function hasControlChars(s: string): boolean {
  return CONTROL.test(s);
}

/**
 * `s` safe to print on a terminal: every control character becomes a visible escape (`\x1b`,
 * `\n`, `\u009b`, `\u202e`), so a key holding `\x1b[2J` prints as text instead of clearing the screen.
 * Backslashes are not doubled: the output is for reading, not for parsing back.
 */
export function printable(s: string): string {
  if (!CONTROL.test(s)) return s;
  return s.replace(CONTROL_ALL, (c) => {
    switch (c) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: {
        // C0 as \x1b (short, familiar); DEL and above as \u007f, which is also a valid JSON escape,
        // so a --json line stays parseable (JSON.stringify already escapes C0 but not DEL or C1).
        const code = c.charCodeAt(0);
        return code < 0x20 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      }
    }
  });
}

/** Every line of `text` made `printable` (the line breaks between them kept). */
export function printableLines(text: string): string {
  if (!CONTROL.test(text)) return text;
  return text.split('\n').map(printable).join('\n');
}

/** `printable`, and cut to `max` characters (for names and other short peer-supplied text). */
export function printableShort(s: unknown, max = 80): string {
  const t = typeof s === 'string' ? s : String(s);
  const cut = t.length > max ? t.slice(0, max) + '…' : t;
  return printable(cut);
}

/**
 * Why a key cannot be stored, or null when it can: 1..MAX_KEY_CHARS characters, no control
 * characters. The client checks before sending, the node again on receipt.
 */
export function keyProblem(key: string): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'the key is empty';
  if (key.length > MAX_KEY_CHARS) return `the key is ${key.length} characters long (${MAX_KEY_CHARS} at most)`;
  if (hasControlChars(key)) return 'the key contains a control character (such as ESC, NUL or a newline)';
  return null;
}

/** Why a put's value cannot be stored, or null: at most MAX_VALUE_CHARS characters. */
export function valueProblem(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') return 'the value is not text';
  if (value.length > MAX_VALUE_CHARS) return `the value is ${value.length.toLocaleString('en-US')} characters long (${MAX_VALUE_CHARS.toLocaleString('en-US')} at most)`;
  return null;
}

/** Why this operation cannot be stored, or null. */
export function operationProblem(op: string, key: string, value: string | undefined): string | null {
  return keyProblem(key) ?? (op === 'put' ? valueProblem(value) : null);
}

/**
 * Where a node may send replies: `tcp://HOST:PORT` with a port 1..65535 and a host that is an
 * IPv4 address, a bracketed IPv6 address or a DNS name. Anything else (another protocol, an
 * interface name, `*`, a path) is refused before any socket is made. Returns why, or null.
 */
export function replyAddressProblem(address: string): string | null {
  if (typeof address !== 'string' || address.length === 0) return 'empty reply address';
  if (address.length > 256) return 'reply address longer than 256 characters';
  const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(address);
  if (!m) return 'reply address is not tcp://HOST:PORT';
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `reply address port ${m[2]} is out of range`;
  const host = m[1];
  if (!host.startsWith('[')) {
    if (/^[0-9.]+$/.test(host)) {
      const parts = host.split('.');
      if (parts.length !== 4 || parts.some((p) => p === '' || Number(p) > 255)) return 'reply address has a malformed IPv4 host';
      if (host === '0.0.0.0' || host === '255.255.255.255') return `reply address host ${host} cannot be connected to`;
    } else if (host.startsWith('-') || host.startsWith('.') || host.includes('..') || host.length > 253) {
      return 'reply address has a malformed host name';
    }
  }
  return null;
}

/**
 * Repeated warnings, rate-limited per kind: up to `burst` lines of one kind per `intervalMs`
 * are printed; the others are counted, and the next line printed says how many were
 * suppressed. Kinds are fixed categories (not peer names), so the table stays small.
 */
export class RateLimitedLog {
  private readonly kinds = new Map<string, { windowStart: number; printed: number; suppressed: number }>();

  constructor(
    private readonly out: (line: string) => void,
    private readonly intervalMs = WARN_INTERVAL_MS,
    private readonly burst = 3,
    private readonly now: () => number = Date.now,
  ) {}

  warn(kind: string, line: string): void {
    const t = this.now();
    let k = this.kinds.get(kind);
    if (!k) {
      k = { windowStart: t, printed: 0, suppressed: 0 };
      this.kinds.set(kind, k);
    } else if (t - k.windowStart >= this.intervalMs) {
      k.windowStart = t;
      k.printed = 0;
    }
    if (k.printed >= this.burst) {
      k.suppressed++;
      return;
    }
    k.printed++;
    const n = k.suppressed;
    k.suppressed = 0;
    this.out(n > 0 ? `${line} (${n} more like it suppressed before this)` : line);
  }

  /** Warnings of `kind` suppressed and not yet reported. */
  suppressed(kind: string): number {
    return this.kinds.get(kind)?.suppressed ?? 0;
  }
}

// ---- The web view (issue #17): what a node or client started with --events reports on stdout
// (src/events/reporter.ts), and what the cluster console relays to the page (src/web/).

/** A process with --events writes at most one event line per this interval, and only when something happened. */
export const EVENT_FLUSH_MS = 100;
/** Its dictionary goes into an event line at most this often (when it changed). */
export const EVENT_KV_MS = 1000;
/** Messages sent, listed one by one in one event line; the others are only counted. */
export const MAX_EVENT_SENDS = 24;
/** Messages dropped at a failed link, listed one by one in one event line; the others are counted. */
export const MAX_EVENT_DROPS = 12;
/** Distinct (peer, kind) counters in one event line; further peers are counted as "*". */
export const MAX_EVENT_COUNT_KEYS = 48;
/** Log lines (elections, step-downs, repairs) in one event line; the others are counted. */
export const MAX_EVENT_LOG_LINES = 8;
/** Longest text in an event (a log line, a key, a value shown on the page): longer is cut. */
export const MAX_EVENT_TEXT_CHARS = 160;
/** Latest blocks of a chain in an event line (sent when the chain changed). */
export const MAX_EVENT_TAIL_BLOCKS = 8;
/** Dictionary entries in an event line (its size is given too). */
export const MAX_EVENT_KV_ENTRIES = 32;
/** Longest event line the console reads; a longer one is dropped (with a rate-limited line). */
export const MAX_EVENT_LINE_CHARS = 64 * 1024;
/** The console pushes what changed to the pages at most this often. */
export const WEB_PUSH_MS = 100;
/** Messages listed one by one in one push to the pages (from all processes); the others are counted. */
export const MAX_WEB_PUSH_SENDS = 64;
/** Pages connected to the event stream at once; one more is refused (503). */
export const MAX_WEB_PAGES = 8;
/** Bytes written to one page and not yet taken by it; beyond, that page is disconnected (it reconnects and starts from a fresh snapshot). */
export const MAX_WEB_BACKLOG_BYTES = 1024 * 1024;
/** Largest request body the page server reads (a command line: a put of the longest value fits). */
export const MAX_WEB_BODY_BYTES = 128 * 1024;
/** Timeline entries the console keeps for the page. */
export const MAX_WEB_TIMELINE = 200;
/** Commands from pages waiting for the console at once; one more is refused (503). */
export const MAX_WEB_PENDING_COMMANDS = 16;
