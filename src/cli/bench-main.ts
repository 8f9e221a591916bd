/**
 * `npm run bench`: how chainkv stands against etcd on this machine, in one run.
 */
import * as fs from 'node:fs';
import { BenchOptions, etcdNote, Part, PARTS, runBench, summaryText } from '../bench/bench';
import { cleanupAll, installSignalCleanup } from '../bench/procs';
import { commandLine, OptionSpec, runCli, UsageError } from './args';

const OPTIONS: OptionSpec[] = [
  { name: 'clients', type: 'string', arg: 'LIST', help: 'closed-loop client counts, one run each (default 3,64)' },
  { name: 'seconds', type: 'int', help: 'length of each run in seconds (default 10; --quick: 2)' },
  { name: 'repeat', type: 'int', help: 'runs per system and client count, alternating chainkv/etcd; the median is reported (default 1)' },
  { name: 'keys', type: 'int', help: 'number of distinct keys (default 1000)' },
  { name: 'only', type: 'string', arg: 'LIST', help: `parts to run, comma-separated: ${PARTS.join(',')} (default all)` },
  { name: 'skip', type: 'string', arg: 'LIST', help: 'parts to leave out (e.g. --skip etcd)' },
  { name: 'etcd-bin', type: 'string', arg: 'PATH', help: 'the etcd binary (default: etcd on PATH)' },
  { name: 'catchup-blocks', type: 'int', help: 'blocks a restarted node is behind in the catch-up test (default 10000; --quick: 1000)' },
  { name: 'reload-blocks', type: 'int', help: 'blocks in the generated chain for reload and RSS (default 100000; --quick: 5000)' },
  { name: 'rss-seconds', type: 'int', help: 'seconds of 64-client load on the generated chain before reading peak RSS (default 5; --quick: 1)' },
  { name: 'rss-blocks', type: 'string', arg: 'LIST', help: 'chain lengths the rss part loads a cluster at (default 100000,1000000; --quick: 5000)' },
  { name: 'big-blocks', type: 'int', help: 'blocks in the node folder the bigrestart part generates on disk and restarts (default 10000000, about 4.5 GB and several minutes; --quick: 50000)' },
  { name: 'ckpt-every', type: 'int', help: 'the ckptcost part: checkpoint every N blocks, against the default policy (default 1000)' },
  { name: 'install-blocks', type: 'int', help: 'the install part: blocks the fifth node is behind when it starts empty (default 1000000; --quick: 30000)' },
  { name: 'cpu-prof', type: 'string', arg: 'DIR', help: 'run the chainkv nodes under node --cpu-prof, write profiles to DIR and print their hotspots' },
  { name: 'events', type: 'flag', help: 'start the chainkv nodes with --events (the web view\'s event lines) and report how many they wrote' },
  { name: 'tmp', type: 'string', arg: 'DIR', help: 'create the temp dir under DIR (default: the OS temp dir; its disk is what fsync measures)' },
  { name: 'keep', type: 'flag', help: 'keep the temp dir (data dirs and node logs) for inspection' },
  { name: 'quick', type: 'flag', help: 'a short smoke run (a few seconds per part): checks that everything works, numbers not comparable' },
  { name: 'json', type: 'flag', help: 'print all results as one JSON object on stdout, the readable report on stderr (use npm run -s)' },
  { name: 'out', type: 'string', arg: 'FILE', help: 'also write all results as one JSON object to FILE' },
];

const ABOUT = `Starts a real 5-node chainkv cluster (one process per node, ZeroMQ on loopback, fsync on,
delay 0) and, when the etcd binary is present, a 5-member etcd cluster, and runs the same
closed-loop workload against both: each client waits for its answer before its next
operation; 50% put / 50% get on ~1,000 keys. Prints ops/s and p50/p99/max latency per run and
the chainkv/etcd ratios. Also measures the disk's fsync floor, the message floor (CPU
and round trip of one ZeroMQ message between two Node processes), the catch-up time of a node
restarted 10,000 blocks behind, the reload-and-verify time of a 100,000-block chain and the
restart from a checkpoint, the peak RSS of loaded nodes at 100,000 and 1,000,000 blocks, the
restart of a 10,000,000-block node folder generated on disk, the throughput cost of
frequent checkpoints, and the fast catch-up of a node 1,000,000 blocks behind (install and backfill). Everything runs in a temp dir, removed at the end; all
processes are stopped at the end, also on error or Ctrl-C. Progress goes to stderr.

${etcdNote()}`;

function list(raw: string | undefined, what: string): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${what} needs at least one item`);
  return items;
}

function parts(only: string[] | undefined, skip: string[] | undefined): Set<Part> {
  const check = (p: string, opt: string) => {
    if (!(PARTS as readonly string[]).includes(p)) throw new UsageError(`--${opt}: unknown part "${p}" (parts: ${PARTS.join(', ')})`);
    return p as Part;
  };
  const set = new Set<Part>(only ? only.map((p) => check(p, 'only')) : PARTS);
  for (const p of skip ?? []) set.delete(check(p, 'skip'));
  return set;
}

async function main(): Promise<void> {
  const a = commandLine(process.argv.slice(2), OPTIONS, 'usage: npm run bench -- [options]', ABOUT);
  if (!a) return;
  if (a.positional.length > 0) throw new UsageError(`unexpected argument "${a.positional[0]}"`);
  const quick = !!a.values.get('quick');
  const json = !!a.values.get('json');
  const int = (name: string, dflt: number, min: number) => {
    const v = (a.values.get(name) as number | undefined) ?? dflt;
    if (v < min) throw new UsageError(`--${name} must be >= ${min}`);
    return v;
  };
  const clients = (list(a.values.get('clients') as string | undefined, 'clients') ?? ['3', '64']).map((s) => {
    if (!/^[0-9]+$/.test(s) || Number(s) < 1 || Number(s) > 1000) throw new UsageError(`--clients: "${s}" is not a client count 1..1000`);
    return Number(s);
  });
  const out = json ? process.stderr : process.stdout;
  const tty = process.stderr.isTTY;
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown && tty) process.stderr.write('\r\x1b[K');
    progressShown = false;
  };
  const o: BenchOptions = {
    clients,
    seconds: int('seconds', quick ? 2 : 10, 1),
    repeat: int('repeat', 1, 1),
    keys: int('keys', 1000, 1),
    quick,
    parts: parts(list(a.values.get('only') as string | undefined, 'only'), list(a.values.get('skip') as string | undefined, 'skip')),
    etcdBin: a.values.get('etcd-bin') as string | undefined,
    catchupBlocks: int('catchup-blocks', quick ? 1000 : 10_000, 1),
    catchupClients: 64,
    reloadBlocks: int('reload-blocks', quick ? 5000 : 100_000, 1),
    reloadTrials: quick ? 1 : 3,
    rssBlocks: (list(a.values.get('rss-blocks') as string | undefined, 'rss-blocks') ?? (quick ? ['5000'] : ['100000', '1000000'])).map((v) => {
      if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 100_000_000) throw new UsageError(`--rss-blocks: "${v}" is not a block count 1..100000000`);
      return Number(v);
    }),
    bigBlocks: int('big-blocks', quick ? 50_000 : 10_000_000, 1),
    ckptEveryBlocks: int('ckpt-every', 1000, 1),
    installBlocks: int('install-blocks', quick ? 30_000 : 1_000_000, 1),
    rssSeconds: int('rss-seconds', quick ? 1 : 5, 0),
    fsyncSamples: quick ? 50 : 200,
    cpuProfDir: a.values.get('cpu-prof') as string | undefined,
    events: !!a.values.get('events'),
    tmp: a.values.get('tmp') as string | undefined,
    keep: !!a.values.get('keep'),
    log: (line) => {
      clearProgress();
      out.write(line + '\n');
    },
    progress: (line) => {
      if (tty) {
        process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
        progressShown = true;
      } else {
        process.stderr.write(line + '\n');
      }
    },
  };
  installSignalCleanup((sig) => {
    clearProgress();
    process.stderr.write(`bench: ${sig}: stopping every process and removing the temp dir\n`);
  });
  try {
    const res = await runBench(o);
    clearProgress();
    out.write(summaryText(res) + '\n');
    if (json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    const outFile = a.values.get('out') as string | undefined;
    if (outFile) fs.writeFileSync(outFile, JSON.stringify(res, null, 2) + '\n');
    if (res.errors.length) process.exitCode = 1;
  } finally {
    await cleanupAll();
  }
}

runCli('bench', main);
