/**
 * `npm run client -- N`: client CN. Reads operations from stdin, one at a time, and exits after
 * the last answer when stdin ends (exit code 0 if all succeeded). `npm run client -- N get KEY`
 * (or `put KEY JSON`, or `Operation(...)`) runs one operation and exits. Exit codes: EXIT in ./args.
 */
import { insecureBanner, LinkSecurity, linkSecurity } from '../security/link-security';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Client, DeadlineError, defaultDeadlineMs } from '../client/client';
import { printableLines } from '../limits';
import { Completed } from '../client/client-core';
import { ClusterConfig, Endpoint } from '../config';
import { commandLine, configFromArgs, EXIT, ExitError, OptionSpec, runCli, UsageError } from './args';
import { takeClientLock } from './client-lock';
import { CLIENT_HELP, ClientCommand, parseClientCommand } from './commands';
import { clipText, EventReporter } from '../events/reporter';

const OPTIONS: OptionSpec[] = [
  { name: 'config', short: 'c', type: 'string', arg: 'FILE', help: 'cluster file (default: nodes.ini in the project folder)' },
  { name: 'delay-ms', short: 'd', type: 'int', help: 'constant delay added to every message (default: [network] delay_ms)' },
  { name: 'leader', short: 'l', type: 'int', help: 'initial leader hint, node number (default 1)' },
  { name: 'timeout-ms', short: 't', type: 'int', help: 'deadline of each operation: give up after this long (default: max(10 s, 17 x delay x 1.1 + 6 s))' },
  { name: 'retry-ms', type: 'int', help: 'wait this long for an answer before asking another node to lead (default: 5 hops, 6 once a node was asked to lead: hops x delay x 1.1 + 2 s)' },
  { name: 'json', short: 'j', type: 'flag', help: 'print each result as one JSON line' },
  { name: 'insecure', type: 'flag', help: 'plain TCP: no encryption, no authentication (anyone who can reach the ports can forge anything); announced at every start' },
  { name: 'verbose', short: 'v', type: 'flag', help: 'print every message sent and received' },
  { name: 'events', type: 'flag', help: 'also print structured event lines ("@event {json}", at most 10 a second) for the cluster console\'s web view; typing "@events off" / "@events on" pauses and resumes them' },
];

const ROOT = path.resolve(__dirname, '..', '..', '..');

const USAGE = `usage: npm run client -- N [options]                     console: operations from stdin
       npm run client -- N [options] put KEY JSON        one operation, then exit
       npm run client -- N [options] get KEY
       npm run client -- N [options] 'Operation(get, KEY)'`;

const ABOUT = `Runs client CN. Answers: "ack" for a put, the value or NO_KEY for a get.
In the console, type operations; with piped stdin it exits after the last answer.
With an operation on the command line it prints just the answer (stdout) and exits.
Quote the JSON for the shell: npm run client -- 1 put alice '{"phone":"111"}'.

Exit codes:
  0    every operation was answered (a get of a missing key answers NO_KEY: exit 0)
  1    a line on stdin was not a valid operation (the others still ran)
  2    usage: bad options or arguments, a bad nodes.ini, an invalid operation on the command line
  3    deadline: no answer within --timeout-ms (the operation may still take effect)
  4    unreachable: no node of the cluster accepts connections
  5    this client identity is in use by another process of this cluster
  130  interrupted (Ctrl-C)
With stdin, the exit code is the highest of the failures.

${CLIENT_HELP}`;

const IN_USE = 5;
/** Three reconnect intervals of the nodes' sockets to a client. */
const FIRST_SEND_PAUSE_MS = 300;

function resultLine(c: Completed, json: boolean): string {
  const ms = c.endedAt - c.startedAt;
  if (json) return JSON.stringify({ op: c.op, key: c.key, result: c.result, leader: c.leader, depth: c.depth, req: c.req, ms, attempts: c.attempts });
  return `${c.result}   (${c.op} ${c.key}: block ${c.depth}, leader ${c.leader}, ${ms} ms${c.attempts > 1 ? `, ${c.attempts} attempts` : ''})`;
}

/** Does `e` accept a TCP connection within `ms`? Resolves to null if so, else the reason. */
function probe(e: Endpoint, ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: e.host, port: e.port });
    const done = (why: string | null) => {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.destroy();
      resolve(why);
    };
    s.setTimeout(ms, () => done('no answer'));
    s.once('connect', () => done(null));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** null if some node is reachable, else one line saying why none is. */
async function unreachable(config: ClusterConfig): Promise<string | null> {
  const why = await Promise.all(config.nodes.map((n) => probe(n, 1000)));
  if (why.some((w) => w === null)) return null;
  return `no node of the cluster is reachable (${config.nodes.map((n, i) => `${n.name} ${n.host}:${n.port} ${why[i]}`).join(', ')}); are the nodes running? (config ${config.source})`;
}

function parseOperation(words: string[]): ClientCommand {
  const p = parseClientCommand(words.join(' '));
  if (!p.ok) throw new UsageError(p.error);
  if (p.value.cmd === 'help') throw new UsageError('help is --help here');
  return p.value;
}

async function main(): Promise<void> {
  const args = commandLine(process.argv.slice(2), OPTIONS, USAGE, ABOUT);
  if (!args) return;
  if (args.positional.length === 0) throw new UsageError('give a client number, e.g. npm run client -- 1');
  const config = configFromArgs(args, ROOT);
  const id = `C${args.positional[0].replace(/^C/i, '')}`;
  if (!config.clients.some((c) => c.name === id)) throw new UsageError(`${config.source} has no [${id}] section (clients: ${config.clients.map((c) => c.name).join(', ')})`);
  const oneShot = args.positional.length > 1 ? parseOperation(args.positional.slice(1)) : null;
  const delayMs = args.values.get('delay-ms') as number | undefined;
  if (delayMs !== undefined && delayMs < 0) throw new UsageError('--delay-ms must be >= 0');
  const delay = delayMs ?? config.delayMs;
  const retryMs = args.values.get('retry-ms') as number | undefined;
  if (retryMs !== undefined && retryMs < 1) throw new UsageError('--retry-ms must be >= 1');
  const deadlineMs = (args.values.get('timeout-ms') as number | undefined) ?? defaultDeadlineMs(delay);
  if (deadlineMs < 1) throw new UsageError('--timeout-ms must be >= 1');
  const json = !!args.values.get('json');
  const hint = args.values.get('leader') as number | undefined;
  if (hint !== undefined && (hint < 1 || hint > config.nodes.length)) throw new UsageError(`--leader must be 1..${config.nodes.length}`);
  const interactive = !oneShot && !!process.stdin.isTTY;

  let lock: { release(): void };
  try {
    lock = takeClientLock(id, config);
  } catch (e) {
    throw new ExitError((e as Error).message, IN_USE);
  }
  process.on('exit', () => lock.release());
  // Ctrl-C at any point, even while connecting: 130, after the cleanup there is to do by then.
  let cleanup = () => lock.release();
  process.on('SIGINT', () => { cleanup(); process.exit(EXIT.INTERRUPTED); });
  process.on('SIGTERM', () => { cleanup(); process.exit(143); });
  // Keys before the network: a key problem is this machine's, whatever the nodes do.
  const insecure = !!args.values.get('insecure');
  if (insecure) process.stderr.write(`${insecureBanner(id)}\n`);
  let security: LinkSecurity;
  try {
    security = linkSecurity(config, id, insecure, (l) => process.stderr.write(`${l}\n`));
  } catch (e) {
    throw new ExitError(`${id} cannot start: ${(e as Error).message}`, EXIT.FAILED);
  }
  const down = await unreachable(config);
  if (down && !interactive) throw new ExitError(down, EXIT.UNREACHABLE);

  // Progress of a waiting operation: one line with what it waits for and what happens next;
  // then, on a terminal, a countdown rewritten in place.
  const tty = !!(oneShot ? process.stderr.isTTY : process.stdout.isTTY) && !json;
  const progress = {
    timer: null as NodeJS.Timeout | null,
    live: false,
    clear() {
      if (this.live) process[oneShot ? 'stderr' : 'stdout'].write('\r\x1b[K');
      this.live = false;
    },
  };
  // One-shot: the answer alone on stdout; everything else on stderr.
  const say = (line: string) => process.stdout.write(printableLines(line) + '\n'); // no terminal escapes from answers
  const note = oneShot || json ? (line: string) => process.stderr.write(printableLines(line) + '\n') : say;
  let client: Client;
  let connected: Client | null = null;
  // --events (the cluster console's web view): the operation in flight, and the messages.
  const reporter = args.values.get('events') ? new EventReporter(id, {
    state: () => {
      const w = connected?.waiting();
      return w ? { req: w.req, op: w.op, key: clipText(w.key, 64), target: w.target, attempts: w.attempts, since: w.since } : null;
    },
  }, (line) => process.stdout.write(`${line}\n`)) : null;
  try {
    client = await Client.connect({
      security,
      id, config,
      delayMs,
      timeoutMs: retryMs,
      hint,
      onEvent: (l) => { progress.clear(); note(l); },
      trace: args.values.get('verbose') ? (l) => { progress.clear(); note(l); } : undefined,
      observe: reporter ?? undefined,
    });
  } catch (e) {
    throw new ExitError((e as Error).message, EXIT.FAILED);
  }
  if (down) note(`warning: ${down}`);
  connected = client;
  reporter?.start();
  // The nodes' sockets to a configured client (immediate, reconnecting every 100 ms) drop what
  // they send before they have reconnected to this freshly bound process: without this pause
  // a one-shot client loses its first answer and waits out a whole attempt (src/net/transport.ts).
  await new Promise((r) => setTimeout(r, FIRST_SEND_PAUSE_MS));
  if (!oneShot && !json) say(`${id} ready (replies on ${client.endpoint}; leader hint ${client.leaderHint}; deadline ${(deadlineMs / 1000).toFixed(1)} s per operation). Type "help" for commands.`);

  const watch = (started: number) => {
    let told = false;
    progress.timer = setInterval(() => {
      const w = client.waiting();
      if (!w || json) return;
      const retryAt = client.retryAt;
      const nextIn = retryAt === null ? 0 : Math.max(0, Math.round((retryAt - Date.now()) / 1000));
      const giveUp = Math.max(0, Math.round((started + deadlineMs - Date.now()) / 1000));
      if (!told && w.ms >= 3000) {
        told = true;
        progress.clear();
        note(`  ...waiting for request #${w.req}: sent to ${w.target}, no answer yet; the next node is asked to lead in ${nextIn} s (delay ${delay} ms per message); gives up in ${giveUp} s`);
      } else if (told && tty) {
        process[oneShot ? 'stderr' : 'stdout'].write(`\r\x1b[K  ...${Math.round(w.ms / 1000)} s, attempt ${w.attempts} at ${w.target}; next node in ${nextIn} s; gives up in ${giveUp} s`);
        progress.live = true;
      }
    }, 1000);
  };
  const unwatch = () => {
    if (progress.timer) clearInterval(progress.timer);
    progress.timer = null;
    progress.clear();
  };

  /** Runs one operation; returns the exit code it earns (0 when answered). */
  const runOne = async (c: ClientCommand & { cmd: 'put' | 'get' }): Promise<number> => {
    watch(Date.now());
    try {
      const done = await (c.cmd === 'put' ? client.run('put', c.key, c.value, deadlineMs) : client.run('get', c.key, undefined, deadlineMs));
      unwatch();
      if (oneShot && !json) say(done.result);
      else say(resultLine(done, json));
      return EXIT.OK;
    } catch (e) {
      unwatch();
      let code: number = EXIT.FAILED;
      let message = (e as Error).message;
      if (e instanceof DeadlineError) {
        const gone = await unreachable(config);
        code = gone ? EXIT.UNREACHABLE : EXIT.TIMEOUT;
        message = `timeout: ${message}${gone ? `; ${gone}` : ''} (--timeout-ms sets the deadline)`;
      }
      if (json) say(JSON.stringify({ error: message, code }));
      else if (oneShot) process.stderr.write(`client: ${message}\n`);
      else say(`error: ${message}`);
      return code;
    }
  };

  let exitCode: number = EXIT.OK;
  const finish = () => {
    unwatch();
    reporter?.flush();
    reporter?.stop();
    client.close();
    lock.release();
    process.exitCode = exitCode;
  };
  cleanup = finish;

  if (oneShot) {
    if (oneShot.cmd !== 'help') exitCode = await runOne(oneShot);
    finish();
    return;
  }

  // Lines typed while an operation is in flight wait their turn: one operation at a time.
  const lines: string[] = [];
  let busy = false;
  let inputClosed = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (lines.length > 0) {
      const line = lines.shift()!;
      if (!line.trim()) continue;
      const p = parseClientCommand(line);
      if (!p.ok) {
        say(json ? JSON.stringify({ error: p.error, code: EXIT.FAILED }) : `error: ${p.error}`);
        exitCode = Math.max(exitCode, EXIT.FAILED);
        continue;
      }
      const c: ClientCommand = p.value;
      if (c.cmd === 'help') { say(CLIENT_HELP); continue; }
      exitCode = Math.max(exitCode, await runOne(c));
    }
    busy = false;
    if (inputClosed) finish();
  };
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (reporter?.control(line)) return; // the cluster console pausing or resuming the web view's events
    lines.push(line);
    void pump();
  });
  rl.on('close', () => { inputClosed = true; if (!busy) finish(); });
}

runCli('client', main);
