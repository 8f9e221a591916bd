/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time and by
 * inclusive time, and self time per source file — enough to see where a node spends its CPU.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Time not idle (program + GC + JS + native). */
  busyMs: number;
  self: ProfileRow[];
  inclusive: ProfileRow[];
  byFile: ProfileRow[];
}

const ROOT = path.resolve(__dirname, '..', '..', '..');

function where(url: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(ROOT + '/')) u = u.slice(ROOT.length + 1);
  u = u.replace(/^dist\//, '').replace(/^node_modules\//, '');
  return u;
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const name = f.functionName || '(anonymous)';
  const w = where(f.url);
  return w ? `${name} ${w}:${f.lineNumber + 1}` : name;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totalMs = (p.endTime - p.startTime) / 1000;
  const count = new Map<number, number>();
  for (const s of p.samples) count.set(s, (count.get(s) ?? 0) + 1);
  const weight = p.samples.length ? totalMs / p.samples.length : 0;

  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const files = new Map<string, number>();
  let idle = 0;
  for (const [id, c] of count) {
    const n = byId.get(id)!;
    const ms = c * weight;
    const l = label(n);
    self.set(l, (self.get(l) ?? 0) + ms);
    const fname = n.callFrame.url ? where(n.callFrame.url) : n.callFrame.functionName || '(native)';
    files.set(fname, (files.get(fname) ?? 0) + ms);
    if (n.callFrame.functionName === '(idle)') idle += ms;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cl = label(byId.get(cur)!);
      if (cl === '(root)' || seen.has(cl)) continue;
      seen.add(cl);
      incl.set(cl, (incl.get(cl) ?? 0) + ms);
    }
  }
  const busyMs = totalMs - idle;
  const rows = (m: Map<string, number>, skipIdle: boolean) =>
    [...m]
      .filter(([k]) => !skipIdle || !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, pct: busyMs > 0 ? (100 * ms) / busyMs : 0 }));
  return { file, totalMs, busyMs, self: rows(self, true), inclusive: rows(incl, true), byFile: rows(files, true) };
}

export function profileText(s: ProfileSummary): string {
  const fmtRows = (rows: ProfileRow[]) => rows.map((r) => `    ${r.ms.toFixed(0).padStart(7)} ms ${r.pct.toFixed(1).padStart(5)}%  ${r.name}`).join('\n');
  return [
    `  ${path.basename(s.file)}: ${s.totalMs.toFixed(0)} ms profiled, ${s.busyMs.toFixed(0)} ms busy (percentages are of busy time)`,
    '   self time:', fmtRows(s.self),
    '   inclusive time:', fmtRows(s.inclusive),
    '   self time by file:', fmtRows(s.byFile),
  ].join('\n');
}
