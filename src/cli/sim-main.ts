/**
 * `npm run sim -- --seeds 1000` runs that many seeded fault simulations (on all cores);
 * `npm run sim -- --seed 42` replays one and prints its full trace.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { Mutation, MUTATION_HELP, MUTATIONS } from '../sim/mutants';
import { runSim, SimOptions, SimResult } from '../sim/simulator';
import { SwarmProfile } from '../sim/swarm';
import { commandLine, OptionSpec, runCli, UsageError } from './args';

const OPTIONS: OptionSpec[] = [
  { name: 'seeds', type: 'int', help: 'number of seeds to run (default 200)' },
  { name: 'start', type: 'int', help: 'first seed (default 1)' },
  { name: 'seed', type: 'int', help: 'replay this one seed and print its whole trace' },
  { name: 'workers', type: 'int', help: 'parallel workers (default: number of cores)' },
  { name: 'mutation', type: 'string', arg: 'NAME', help: `run a deliberately broken core: ${MUTATIONS.join(' | ')}` },
  { name: 'profile', type: 'string', arg: 'NAME', help: 'swarm profile: mixed (default) | churn (leader changes: old leaders cut off with a follower, leaders crashing right after deciding, duels)' },
  { name: 'tail', type: 'int', help: 'trace lines to print for a failing seed (default 60)' },
  { name: 'json', type: 'flag', help: 'print the summary as one JSON line' },
];

export interface BatchSummary {
  seeds: number;
  failed: SimResult[];
  seconds: number;
  opsCompleted: number;
  opsDuringFaults: number;
  crashes: number;
  elections: number;
  /** Fault kinds seen across the batch (a guard against a simulator that quietly stopped drawing them). */
  freezes: number;
  lateMessages: number;
  clientRestarts: number;
  busy: number;
  livenessWindows: number;
  checkpoints: number;
  checkpointRestarts: number;
  checkpointFallbacks: number;
  installs: number;
  backfillsDone: number;
}

/** Runs seeds [start, start+count) on `workers` threads; `onResult` sees each result as it comes. */
/** What every seed of a batch shares: a planted bug, a swarm profile. */
export type BatchOptions = Pick<SimOptions, 'mutation' | 'profile' | 'endToEndChecksOnly'>;

export async function runSeeds(start: number, count: number, workers: number, batch: BatchOptions, onResult: (r: SimResult) => void, opts: { stopAtFirstFailure?: boolean } = {}): Promise<BatchSummary> {
  const t0 = Date.now();
  const summary: BatchSummary = {
    seeds: count, failed: [], seconds: 0, opsCompleted: 0, opsDuringFaults: 0, crashes: 0, elections: 0,
    freezes: 0, lateMessages: 0, clientRestarts: 0, busy: 0, livenessWindows: 0, checkpoints: 0, checkpointRestarts: 0, checkpointFallbacks: 0, installs: 0, backfillsDone: 0,
  };
  const take = (r: SimResult) => {
    if (!r.ok) summary.failed.push(r);
    r.trace = r.ok ? [] : r.trace; // a passing seed's trace is not needed (and 2,000 of them add up)
    summary.opsCompleted += r.stats.opsCompleted;
    summary.opsDuringFaults += r.stats.opsDuringFaults;
    summary.crashes += r.stats.crashes;
    summary.elections += r.stats.elections;
    summary.freezes += r.stats.freezes;
    summary.lateMessages += r.stats.lateMessages;
    summary.clientRestarts += r.stats.clientRestarts;
    summary.busy += r.stats.busy;
    summary.livenessWindows += r.stats.livenessWindows;
    summary.checkpoints += r.stats.checkpoints;
    summary.checkpointRestarts += r.stats.checkpointRestarts;
    summary.checkpointFallbacks += r.stats.checkpointFallbacks;
    summary.installs += r.stats.installs;
    summary.backfillsDone += r.stats.backfillsDone;
    onResult(r);
  };
  if (workers <= 1) {
    for (let s = start; s < start + count && !(opts.stopAtFirstFailure && summary.failed.length > 0); s++) take(runSim({ seed: s, ...batch }));
  } else {
    let next = start;
    const end = start + count;
    await Promise.all(Array.from({ length: workers }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(__filename, { workerData: batch });
      const feed = () => {
        if (next < end && !(opts.stopAtFirstFailure && summary.failed.length > 0)) w.postMessage(next++);
        else void w.terminate().then(() => resolve());
      };
      w.on('message', (r: SimResult) => { take(r); feed(); });
      w.on('error', reject);
      feed();
    })));
  }
  summary.seconds = (Date.now() - t0) / 1000;
  summary.failed.sort((a, b) => a.seed - b.seed);
  return summary;
}

export function formatFailure(r: SimResult, tail: number): string {
  const v = r.violation!;
  const lines = r.trace.slice(-tail);
  return [
    `seed ${r.seed} FAILED: ${v.property} at t=${v.at}ms: ${v.detail}`,
    `  swarm: ${r.swarm}`,
    `  replay: npm run sim -- --seed ${r.seed}`,
    `  last ${lines.length} trace lines up to the violation:`,
    ...lines.map((l) => `    ${l}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const args = commandLine(process.argv.slice(2), OPTIONS, 'usage: npm run sim -- [--seeds N] [--start S] [--seed S] [--profile mixed|churn] [--mutation NAME]', 'Deterministic fault simulation of the five-node cluster and its clients (the real host loop and core over a simulated network, disks and clocks); checks agreement, durability, linearizability, at-most-once and liveness. Mutants: ' + MUTATIONS.map((m) => `${m} (${MUTATION_HELP[m]})`).join('; ') + '.');
  if (!args) return;
  if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const mutation = args.values.get('mutation') as Mutation | undefined;
  if (mutation !== undefined && !(MUTATIONS as readonly string[]).includes(mutation)) throw new UsageError(`--mutation must be one of ${MUTATIONS.join(', ')}`);
  const profile = args.values.get('profile') as SwarmProfile | undefined;
  if (profile !== undefined && profile !== 'mixed' && profile !== 'churn') throw new UsageError('--profile must be mixed or churn');
  const batch: BatchOptions = { mutation, profile };
  const tail = (args.values.get('tail') as number | undefined) ?? 60;
  const one = args.values.get('seed') as number | undefined;
  if (one !== undefined) {
    const r = runSim({ seed: one, trace: true, ...batch });
    for (const line of r.trace) process.stdout.write(line + '\n');
    const s = r.stats;
    process.stdout.write(`\nseed ${one}: ${r.ok ? 'ok' : `FAILED: ${r.violation!.property}: ${r.violation!.detail}`}\n  ${r.swarm}\n  ${s.opsCompleted} ops (${s.opsDuringFaults} during faults), ${s.decided} blocks decided, ${s.elections} elections, ${s.crashes} crashes, ${s.messages} messages (${s.dropped} dropped), ${s.simMs} simulated ms\n`);
    if (!r.ok) process.exitCode = 1;
    return;
  }
  const count = (args.values.get('seeds') as number | undefined) ?? 200;
  const start = (args.values.get('start') as number | undefined) ?? 1;
  const workers = (args.values.get('workers') as number | undefined) ?? os.availableParallelism();
  if (count < 1) throw new UsageError('--seeds must be at least 1');
  let done = 0;
  let lastPrint = Date.now();
  const summary = await runSeeds(start, count, Math.max(1, workers), batch, () => {
    done++;
    if (!args.values.get('json') && (Date.now() - lastPrint > 2000 || done === count)) {
      lastPrint = Date.now();
      process.stderr.write(`  ${done}/${count} seeds\r`);
    }
  });
  if (args.values.get('json')) {
    process.stdout.write(JSON.stringify({ seeds: count, start, profile: profile ?? 'mixed', failed: summary.failed.map((r) => ({ seed: r.seed, property: r.violation!.property, detail: r.violation!.detail })), seconds: summary.seconds, seedsPerSecond: count / summary.seconds, opsCompleted: summary.opsCompleted, opsDuringFaults: summary.opsDuringFaults }) + '\n');
  } else {
    for (const r of summary.failed.slice(0, 3)) {
      // Replay with the full trace so the prefix shown is complete.
      process.stdout.write(formatFailure(runSim({ seed: r.seed, trace: true, ...batch }), tail) + '\n\n');
    }
    process.stdout.write(`${count} seeds from ${start} in ${summary.seconds.toFixed(1)} s (${(count / summary.seconds).toFixed(0)} seeds/s, ${workers} workers): ${summary.failed.length} failed${summary.failed.length ? ' (' + summary.failed.map((r) => r.seed).slice(0, 20).join(', ') + ')' : ''}; ${summary.opsCompleted} client ops completed (${summary.opsDuringFaults} during faults), ${summary.crashes} crashes, ${summary.elections} elections, ${summary.freezes} freezes, ${summary.lateMessages} late messages, ${summary.clientRestarts} client restarts, ${summary.busy} busy refusals, ${summary.livenessWindows} healthy-majority windows watched, ${summary.checkpoints} checkpoints (${summary.checkpointRestarts} restarts from one, ${summary.checkpointFallbacks} found damaged or torn), ${summary.installs} checkpoint installs, ${summary.backfillsDone} backfills completed\n`);
  }
  if (summary.failed.length) process.exitCode = 1;
}

// As a worker thread: run the seeds posted to us.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', (seed: number) => {
    const r = runSim({ seed, ...(workerData as BatchOptions) });
    if (r.ok) r.trace = [];
    port.postMessage(r);
  });
} else if (require.main === module) {
  runCli('sim', main);
}
