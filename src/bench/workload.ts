/**
 * The closed-loop workload, the same for chainkv and etcd: each client issues one operation,
 * waits for its answer, then issues the next — 50% put / 50% get on `keys` keys, values like
 * {"phone_number":"111-222-3333"}. Latency is measured here (hrtime around each call).
 */
import { LatencyStats, latencyStats, procCpuMs, prng } from './util';

/** One client connection of a system under test: one operation at a time. */
export interface KvClient {
  /** Resolves with the number of attempts the operation took (1 = no retry). */
  put(key: string, value: string): Promise<number>;
  get(key: string): Promise<number>;
  close(): void | Promise<void>;
}

export interface RunOptions {
  system: string;
  clients: KvClient[];
  seconds: number;
  keys: number;
  seed: number;
  /** Stop after this many operations in total (with `seconds` as a cap); 0 = time only. */
  maxOps?: number;
  /** Only puts (used to grow the chain quickly). */
  putsOnly?: boolean;
  /** Called about once a second with progress. */
  progress?: (line: string) => void;
  /** The servers' processes: their CPU time during the run is reported. */
  serverPids?: number[];
}

export interface RunResult {
  system: string;
  clients: number;
  seconds: number;
  operations: number;
  opsPerSec: number;
  puts: number;
  gets: number;
  /** Operations that failed (etcd: HTTP error; chainkv: rejected). */
  errors: number;
  /** Operations that needed more than one attempt (chainkv client timeouts / leader changes). */
  retried: number;
  latency: LatencyStats;
  /** CPU used by all the servers' processes during the run, per operation (ms); null if unknown. */
  serverCpuMsPerOp: number | null;
  /** Servers' CPU during the run as a share of one core (100 = one core busy). */
  serverCpuPct: number | null;
  /** This (client) process's CPU during the run as a share of one core. */
  clientCpuPct: number;
}

export function keyName(i: number): string {
  return `key${String(i).padStart(4, '0')}`;
}

export function phoneValue(rand: () => number): string {
  const d = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join('');
  return JSON.stringify({ phone_number: `${d(3)}-${d(3)}-${d(4)}` });
}

export async function runClosedLoop(o: RunOptions): Promise<RunResult> {
  const lat: number[] = [];
  let puts = 0;
  let gets = 0;
  let errors = 0;
  let retried = 0;
  let done = 0;
  const cpuOf = (pids: number[]) => pids.reduce<number | null>((sum, p) => {
    const v = procCpuMs(p);
    return sum === null || v === null ? null : sum + v;
  }, 0);
  const serverCpu0 = o.serverPids ? cpuOf(o.serverPids) : null;
  const clientCpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(o.seconds * 1e9));
  const maxOps = o.maxOps ?? 0;
  let issued = 0;
  const elapsedS = () => Number(process.hrtime.bigint() - start) / 1e9;

  let lastDone = 0;
  let lastT = 0;
  const timer = o.progress
    ? setInterval(() => {
        const t = elapsedS();
        const rate = (done - lastDone) / Math.max(1e-9, t - lastT);
        lastDone = done;
        lastT = t;
        const goal = maxOps > 0 ? `${done.toLocaleString('en-US')}/${maxOps.toLocaleString('en-US')} ops` : `${done.toLocaleString('en-US')} ops`;
        o.progress!(`[${o.system}, ${o.clients.length} clients] ${t.toFixed(1)}/${o.seconds} s  ${goal}  ${Math.round(rate).toLocaleString('en-US')} ops/s${errors ? `  ${errors} errors` : ''}`);
      }, 1000)
    : null;

  const loop = async (c: KvClient, idx: number) => {
    const rand = prng(o.seed * 1000 + idx + 1);
    for (;;) {
      if (maxOps > 0 && issued >= maxOps) return;
      if (process.hrtime.bigint() >= deadline) return;
      issued++;
      const key = keyName(Math.floor(rand() * o.keys));
      const isPut = o.putsOnly || rand() < 0.5;
      const value = isPut ? phoneValue(rand) : '';
      const t0 = process.hrtime.bigint();
      try {
        const attempts = isPut ? await c.put(key, value) : await c.get(key);
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (attempts > 1) retried++;
        if (isPut) puts++;
        else gets++;
        done++;
      } catch {
        errors++;
        // A closed or broken client: do not spin on it.
        if (process.hrtime.bigint() >= deadline) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  try {
    await Promise.all(o.clients.map((c, i) => loop(c, i)));
  } finally {
    if (timer) clearInterval(timer);
  }
  const seconds = elapsedS();
  const serverCpu1 = o.serverPids ? cpuOf(o.serverPids) : null;
  const serverCpuMs = serverCpu0 !== null && serverCpu1 !== null ? serverCpu1 - serverCpu0 : null;
  const cc = process.cpuUsage(clientCpu0);
  return {
    system: o.system,
    clients: o.clients.length,
    seconds,
    operations: done,
    opsPerSec: done / seconds,
    puts,
    gets,
    errors,
    retried,
    latency: latencyStats(lat),
    serverCpuMsPerOp: serverCpuMs !== null && done > 0 ? serverCpuMs / done : null,
    serverCpuPct: serverCpuMs !== null ? serverCpuMs / (seconds * 10) : null,
    clientCpuPct: (cc.user + cc.system) / 1000 / (seconds * 10),
  };
}
