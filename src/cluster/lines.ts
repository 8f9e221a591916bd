/**
 * Reading what the client consoles print, without side effects (so it can be tested). Node
 * answers are not read here: the cluster console asks nodes for `status --json` and
 * `printBlockchain --json` and reads data (src/cluster/cluster.ts).
 *
 * These patterns mirror src/cli/client-main.ts (`resultLine`, the ready and waiting lines) and
 * the nodes' ready and trace lines. If those formats change, test/cluster/parse.test.ts fails first.
 */

import { Role } from '../core/replica';

export type { Role };

/** One answer a client printed: a result line or an error line. */
export interface ClientResult {
  /** The line as printed. */
  line: string;
  error: boolean;
  /** "ack", the value, "NO_KEY", or the error message. */
  result: string;
  op?: 'put' | 'get';
  key?: string;
  depth?: number;
  leader?: string;
  ms?: number;
  attempts?: number;
}

// `${result}   (${op} ${key}: block ${depth}, leader ${leader}, ${ms} ms[, ${n} attempts])`. The
// suffix is anchored at the end, so a value that itself contains "   (" is still read whole.
const RESULT_RE = /^(.*)   \((put|get) (\S+): block ([0-9]+), leader (\S+), ([0-9]+) ms(?:, ([0-9]+) attempts)?\)$/s;

export function parseResultLine(line: string): ClientResult | null {
  const m = RESULT_RE.exec(line);
  if (m) {
    return {
      line, error: false, result: m[1], op: m[2] as 'put' | 'get', key: m[3], depth: Number(m[4]), leader: m[5],
      ms: Number(m[6]), attempts: m[7] ? Number(m[7]) : 1,
    };
  }
  const e = /^error: (.*)$/s.exec(line);
  if (e) return { line, error: true, result: e[1] };
  return null;
}

/** `  ...waiting for request #N: X s (last sent to PK)` */
export function isWaitingLine(line: string): boolean {
  return /^\s*\.\.\.waiting for request #/.test(line);
}

/** The line a process prints once it is ready: `P1 listening on ...`, `C1 ready (...`. */
export function isReadyLine(name: string, line: string): boolean {
  return line.startsWith(`${name} listening on `) || line.startsWith(`${name} ready (`);
}

/** A message trace line of a node: `P1 <- P2 PREPARE ...` or `P1 -> P2 ...`. */
export function isTraceLine(line: string): boolean {
  return /^[PC][0-9]+ (<-|->) /.test(line);
}

/**
 * Does a client's answer match what a script expects? `error` matches any error line and
 * `error: TEXT` one whose message contains TEXT; otherwise the result must be the same text, or
 * the same JSON value (so `{"a": 1}` matches `{"a":1}`).
 */
export function resultMatches(expected: string, got: ClientResult): boolean {
  const want = expected.trim();
  const e = /^error(?::\s*(.*))?$/is.exec(want);
  if (e) return got.error && (!e[1] || got.result.includes(e[1].trim()));
  if (got.error) return false;
  if (want === got.result.trim()) return true;
  const a = tryJson(want);
  const b = tryJson(got.result);
  return a.ok && b.ok && canonical(a.value) === canonical(b.value);
}

function tryJson(s: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false };
  }
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
