/**
 * `npm run node -- N`: runs node PN, with the console of the spec on stdin.
 */
import * as path from 'node:path';
import * as readline from 'node:readline';
import { printableLines } from '../limits';
import { insecureBanner, LinkSecurity, linkSecurity } from '../security/link-security';
import { Worker } from 'node:worker_threads';
import { ChainNode } from '../node/node';
import { VerifyProgress, VerifyReport, verifyText } from '../store/verify-files';
import { commandLine, configFromArgs, EXIT, ExitError, OptionSpec, runCli, UsageError } from './args';
import { checkListen, DataDirState, prepareDataDir, undoStart } from './node-preflight';
import { NODE_HELP, parseNodeCommand } from './commands';
import { blockchainJson, blockchainText, blocksTable, PRINT_PAGE_BLOCKS, kvJson, kvText, LinkData, queueJson, queueText, statusData, statusText } from './format';

const OPTIONS: OptionSpec[] = [
  { name: 'config', short: 'c', type: 'string', arg: 'FILE', help: 'cluster file (default: nodes.ini in the project folder)' },
  { name: 'delay-ms', short: 'd', type: 'int', help: 'constant delay added to every message (default: [network] delay_ms)' },
  { name: 'data-dir', type: 'string', arg: 'DIR', help: 'where this node keeps its files (default: persist/PN)' },
  { name: 'quiet', short: 'q', type: 'flag', help: 'do not print every message sent and received' },
  { name: 'json', short: 'j', type: 'flag', help: 'print printBlockchain/printKVStore/printQueue/status as one JSON line each (any command followed by --json answers as JSON)' },
  { name: 'no-fsync', type: 'flag', help: 'skip fsync (unsafe: for experiments only)' },
  { name: 'events', type: 'flag', help: 'also print structured event lines ("@event {json}", at most 10 a second) for the cluster console\'s web view; typing "@events off" / "@events on" pauses and resumes them' },
  { name: 'insecure', type: 'flag', help: 'plain TCP: no encryption, no authentication (anyone who can reach the ports can forge anything); announced at every start' },
  { name: 'checkpoint-blocks', type: 'int', help: 'write a checkpoint every N decided blocks (default 100000); a restart replays only what follows the newest' },
  { name: 'checkpoint-mb', type: 'int', help: 'write a checkpoint every N MiB written to chain.log, whichever comes first (default 64)' },
  { name: 'install-threshold', type: 'int', help: 'a node more than N decided blocks behind a peer installs its checkpoint and backfills the older blocks in the background, instead of repairing block by block (default 20000)' },
  { name: 'exit-on-stdin-close', type: 'flag', help: 'stop when stdin closes (for a parent process: its death then stops the node)' },
];

const ROOT = path.resolve(__dirname, '..', '..', '..');

async function main(): Promise<void> {
  const args = commandLine(process.argv.slice(2), OPTIONS, 'usage: npm run node -- N [options]', 'Runs node PN of the chainkv cluster (N = 1..5) and reads console commands from stdin.\n\n' + NODE_HELP);
  if (!args) return;
  if (args.positional.length !== 1) throw new UsageError('give exactly one node number, e.g. npm run node -- 2');
  const id = Number(args.positional[0].replace(/^P/i, ''));
  const config = configFromArgs(args, ROOT);
  if (!Number.isInteger(id) || id < 1 || id > config.nodes.length) throw new UsageError(`node number must be 1..${config.nodes.length}, got "${args.positional[0]}"`);
  const delayMs = (args.values.get('delay-ms') as number | undefined) ?? config.delayMs;
  if (delayMs < 0) throw new UsageError('--delay-ms must be >= 0');
  const json = !!args.values.get('json');
  const log = (line: string) => process.stdout.write(`${printableLines(line)}\n`); // no terminal escapes from keys, values or names
  const dataDir = (args.values.get('data-dir') as string | undefined) ?? path.join(ROOT, 'persist', `P${id}`);
  // Check what can be checked first, so a start that cannot work fails with one line and
  // leaves nothing behind.
  const cannot = await checkListen(config.nodes[id - 1], config.source);
  if (cannot) throw new ExitError(`P${id} cannot start: ${cannot}`, EXIT.FAILED);
  const insecure = !!args.values.get('insecure');
  if (insecure) process.stderr.write(`${insecureBanner(`P${id}`)}\n`);
  let security: LinkSecurity;
  try {
    security = linkSecurity(config, `P${id}`, insecure, log);
  } catch (e) {
    throw new ExitError(`P${id} cannot start: ${(e as Error).message}`, EXIT.FAILED);
  }
  let created: DataDirState;
  try {
    created = prepareDataDir(dataDir);
  } catch (e) {
    throw new ExitError(`P${id} cannot start: ${(e as Error).message}`, EXIT.FAILED);
  }
  const ckBlocks = args.values.get('checkpoint-blocks') as number | undefined;
  const ckMb = args.values.get('checkpoint-mb') as number | undefined;
  if ((ckBlocks !== undefined && ckBlocks < 1) || (ckMb !== undefined && ckMb < 1)) throw new UsageError('--checkpoint-blocks and --checkpoint-mb must be >= 1');
  const installThreshold = args.values.get('install-threshold') as number | undefined;
  if (installThreshold !== undefined && installThreshold < 1) throw new UsageError('--install-threshold must be >= 1');
  const node = new ChainNode({
    id, config, delayMs, dataDir,
    ...(installThreshold !== undefined ? { core: { installThresholdBlocks: installThreshold } } : {}),
    checkpoint: { ...(ckBlocks !== undefined ? { everyBlocks: ckBlocks } : {}), ...(ckMb !== undefined ? { everyBytes: ckMb * 1024 * 1024 } : {}) },
    traceMessages: !args.values.get('quiet'),
    fsync: !args.values.get('no-fsync'),
    log,
    events: args.values.get('events') ? (line) => process.stdout.write(`${line}\n`) : undefined,
    security,
  });
  try {
    await node.start();
  } catch (e) {
    undoStart(created);
    // Exit now: sockets the failed start opened would keep the process alive.
    process.stderr.write(`node: P${id} cannot start: ${(e as Error).message}\n`);
    process.exit(EXIT.FAILED);
  }
  log(`type "help" for commands`);

  const shutdown = (code: number) => {
    node.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));

  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    if (node.events?.control(line)) return; // the cluster console pausing or resuming the web view's events
    const p = parseNodeCommand(line);
    // A trailing --json asks for data for this one command; the node's --json flag (kept as it
    // was for the tools that use it) only turns the print commands and status into JSON.
    const wantsJson = /\s--json\s*$/i.test(line);
    const error = (message: string) => log(wantsJson ? JSON.stringify({ node: node.name, error: message }) : `error: ${message}`);
    if (!p.ok) {
      if (wantsJson) return error(p.error);
      log(`error: ${p.error}\n${NODE_HELP}`);
      return;
    }
    const c = p.value;
    const asJson = !!c.json;
    const dataJson = json || asJson;
    switch (c.cmd) {
      case 'failLink':
      case 'fixLink': {
        const other = c.a === node.name ? c.b : c.b === node.name ? c.a : null;
        if (!other) return error(`${c.cmd} must name this node (${node.name}), e.g. ${c.cmd}(${node.name},P3)`);
        if (other.startsWith('P') && Number(other.slice(1)) > config.nodes.length) return error(`there is no node ${other} (nodes: P1..P${config.nodes.length})`);
        if (other.startsWith('C') && !config.clients.some((x) => x.name === other)) return error(`there is no client ${other} in ${config.source} (clients: ${config.clients.map((x) => x.name).join(', ') || 'none'})`);
        const changed = c.cmd === 'failLink' ? node.links.fail(other) : node.links.fix(other);
        if (asJson) {
          const data: LinkData = { link: c.cmd, node: node.name, peer: other, failed: c.cmd === 'failLink', changed };
          return log(JSON.stringify(data));
        }
        if (c.cmd === 'failLink') log(changed ? `link ${node.name}<->${other} failed` : `link ${node.name}<->${other} was already failed`);
        else log(changed ? `link ${node.name}<->${other} fixed` : `link ${node.name}<->${other} was not failed`);
        return;
      }
      case 'failProcess':
        // A crash, not a clean stop: nothing more is written; what was fsynced is what survives.
        log(`${node.name} failProcess: exiting now`);
        process.exit(1);
        return;
      case 'printBlockchain': {
        if ('all' in c && !dataJson) return printAllBlocks(node, log);
        const last = 'last' in c ? c.last : undefined;
        return log(dataJson ? blockchainJson(node, { last }) : blockchainText(node, { last }));
      }
      case 'printKVStore': return log(dataJson ? kvJson(node) : kvText(node));
      case 'printQueue': return log(dataJson ? queueJson(node) : queueText(node));
      case 'status': return log(dataJson ? JSON.stringify(statusData(node)) : statusText(node));
      case 'verifyChain': return verifyInBackground(dataDir, (l) => log(l), asJson);
      case 'help': return log(asJson ? JSON.stringify({ node: node.name, help: NODE_HELP.split('\n') }) : NODE_HELP);
    }
  });
  // By default stdin closing (e.g. a pipe ended) does not stop the node; signals do.
  if (args.values.get('exit-on-stdin-close')) rl.on('close', () => shutdown(0));
}

/** printBlockchain all: a page of blocks per turn of the event loop, read from blocks.dat below the memory window. */
function printAllBlocks(node: ChainNode, log: (line: string) => void): void {
  const end = node.chainEnd();
  log(`${node.name} blockchain: ${node.replica.commit} decided, ${end - node.replica.commit} tentative (all ${end}, in pages of ${PRINT_PAGE_BLOCKS})`);
  const page = (from: number) => {
    if (from >= end) return;
    log(blocksTable(node, from, Math.min(end, from + PRINT_PAGE_BLOCKS)));
    setImmediate(() => page(from + PRINT_PAGE_BLOCKS));
  };
  page(0);
}

let verifying: Worker | null = null;

/** verifyChain: the files are read in a worker thread, so the node goes on serving meanwhile. */
function verifyInBackground(dir: string, log: (line: string) => void, json: boolean): void {
  if (verifying) return log(json ? JSON.stringify({ error: 'verifyChain is already running' }) : 'verifyChain is already running');
  if (!json) log(`verifyChain: reading ${dir} in the background`);
  const w = new Worker(path.join(__dirname, '..', 'store', 'verify-worker.js'), { workerData: { dir } });
  verifying = w;
  w.on('message', (m: { progress?: VerifyProgress; report?: VerifyReport }) => {
    if (m.progress && !json) log(`verifyChain: ${m.progress.file} ${Math.round((100 * m.progress.bytes) / Math.max(1, m.progress.total))}%, ${m.progress.blocks} blocks`);
    if (m.report) log(json ? JSON.stringify({ verifyChain: m.report }) : verifyText(m.report).split('\n').map((l) => `verifyChain: ${l}`).join('\n'));
  });
  w.on('error', (e) => log(`verifyChain failed: ${e.message}`));
  w.on('exit', () => { verifying = null; });
}

runCli('node', main);
