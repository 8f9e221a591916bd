/**
 * Reading what the node and client consoles print, without side effects (so it can be tested).
 *
 * These regexes mirror the human formats of src/cli/format.ts (`statusText`, `blockchainText`)
 * and src/cli/client-main.ts (`resultLine`, the ready and waiting lines). If those formats change,
 * test/cluster/lines.test.ts fails first.
 */

import { Role } from '../core/replica';
import { NodeStatus } from '../node/node';

export type { NodeStatus, Role };

const STATUS_RE = /^(P[0-9]+): (leader|follower|candidate), leader (P[0-9]+|unknown), ballot (<[0-9]+,[0-9]+,[0-9]+>|-), promised (<[0-9]+,[0-9]+,[0-9]+>|-), depth ([0-9]+) \(\+([0-9]+) tentative\), queue ([0-9]+), failed links: (.*)$/;

/** `P1: leader, leader P1, ballot <1,1,0>, promised <1,1,0>, depth 3 (+0 tentative), queue 0, failed links: none` */
export function parseStatusLine(line: string): NodeStatus | null {
  const m = STATUS_RE.exec(line.trim());
  if (!m) return null;
  const links = m[9].trim();
  return {
    node: m[1],
    role: m[2] as Role,
    leader: m[3] === 'unknown' ? null : m[3],
    ballot: m[4] === '-' ? null : m[4],
    promised: m[5] === '-' ? null : m[5],
    depth: Number(m[6]),
    tentative: Number(m[7]),
    queue: Number(m[8]),
    failedLinks: links === 'none' || links === '' ? [] : links.split(',').map((s) => s.trim()).filter(Boolean),
  };
}

/** `<seq,pid,depth>` -> [seq, pid] (the term), or null. */
export function ballotTerm(b: string | null): [number, number] | null {
  const m = b ? /^<([0-9]+),([0-9]+),[0-9]+>$/.exec(b) : null;
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Orders two ballots by term (seq, then pid); a missing ballot is lowest. */
export function compareBallotTerms(a: string | null, b: string | null): number {
  const x = ballotTerm(a);
  const y = ballotTerm(b);
  if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
  return x[0] - y[0] || x[1] - y[1];
}

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

/** `P1 blockchain: empty` or `P1 blockchain: 3 decided, 0 tentative` (then a table of that many rows). */
export function parseBlockchainHeader(node: string, line: string): { decided: number; tentative: number } | null {
  if (line === `${node} blockchain: empty`) return { decided: 0, tentative: 0 };
  const m = new RegExp(`^${node} blockchain: ([0-9]+) decided, ([0-9]+) tentative$`).exec(line);
  return m ? { decided: Number(m[1]), tentative: Number(m[2]) } : null;
}

/** One row of the printBlockchain table: depth, status and the (shortened) block hash. */
export function parseBlockchainRow(line: string): { depth: number; status: 'decided' | 'tentative'; hash: string } | null {
  const m = /^([0-9]+)\s+(decided|tentative)\s.*\s([0-9a-f]{16})…$/.exec(line.trimEnd());
  return m ? { depth: Number(m[1]), status: m[2] as 'decided' | 'tentative', hash: m[3] } : null;
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
