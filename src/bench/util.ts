/** Small helpers shared by the benchmark: free ports, latency statistics, machine facts, formatting. */
import { Prng } from '../sim/prng';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';

/** `count` distinct free TCP ports on 127.0.0.1 (all held open together, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
      servers.push(s);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

export interface LatencyStats {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function latencyStats(samplesMs: number[]): LatencyStats {
  const s = Float64Array.from(samplesMs).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    count: s.length,
    meanMs: s.length ? sum / s.length : NaN,
    p50Ms: percentile(s, 50),
    p90Ms: percentile(s, 90),
    p99Ms: percentile(s, 99),
    maxMs: s.length ? s[s.length - 1] : NaN,
  };
}

export function median(values: number[]): number {
  return percentile(Float64Array.from(values).sort(), 50);
}

export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  node: string;
  tmpdir: string;
  /** 1/5/15-minute load average when the bench started (other work on the machine skews results). */
  loadAvg: number[];
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    /* not Linux */
  }
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    tmpdir: os.tmpdir(),
    loadAvg: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

/** Peak and current resident set size of a process, in MB (Linux /proc), or null. */
export function procMemory(pid: number): { hwmMB: number; rssMB: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s*(\d+) kB/m.exec(s);
    const rss = /^VmRSS:\s*(\d+) kB/m.exec(s);
    if (!hwm || !rss) return null;
    return { hwmMB: Number(hwm[1]) / 1024, rssMB: Number(rss[1]) / 1024 };
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A seeded source of floats in [0, 1), so every run draws the same operation sequence. */
export function prng(seed: number): () => number {
  const r = new Prng(seed);
  return () => r.float();
}

export const fmt = {
  ms: (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) : '-'),
  int: (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-'),
  ratio: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-'),
};

export function table(headers: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms), or null. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) in parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}
