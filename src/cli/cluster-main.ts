/**
 * `npm start`: the whole cluster on this machine, in one console. Starts P1..Pn and C1..Cm as
 * separate OS processes (the same commands as `npm run node -- N` / `npm run client -- N`),
 * prints every process's lines prefixed with its name, and routes what you type:
 * `C1 put k {"a":1}`, `P3 failProcess`, `restart P3`, `status`, `partition P1,P2 | P3,P4,P5`, `heal`.
 * With --script FILE it replays a scenario file and exits 0 (every check held) or 1.
 */
import { insecureBanner, openKeyRing } from '../security/link-security';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { defaultClientTimeoutMs, defaultDeadlineMs, electionTimeoutMs, FIRST_OPERATION_HOPS, leaderTimeoutMs } from '../client/client';
import { Cluster } from '../cluster/cluster';
import { CONSOLE_HELP, parseScript, Script } from '../cluster/commands';
import { CheckFailed, CommandError, defaultTimeoutMs, Executor } from '../cluster/executor';
import { Output } from '../cluster/output';
import { runScript } from '../cluster/script';
import { ClusterConfig, ConfigError, loadConfig } from '../config';
import { commandLine, OptionSpec, runCli, UsageError } from './args';
import { parseCommand } from '../cluster/commands';
import { WebHub } from '../web/hub';
import { isLoopback, WebServer } from '../web/server';

const OPTIONS: OptionSpec[] = [
  { name: 'config', short: 'c', type: 'string', arg: 'FILE', help: 'cluster file (default: nodes.ini in the project folder)' },
  { name: 'delay-ms', short: 'd', type: 'int', help: 'message delay for every process (default: the config\'s delay_ms, or the script\'s "set delay")' },
  { name: 'data-dir', type: 'string', arg: 'DIR', help: 'node PN keeps its files in DIR/PN (default: persist/; with --script: a new temp folder)' },
  { name: 'fresh', type: 'flag', help: 'wipe the nodes\' data folders first (else they resume from their chains on disk)' },
  { name: 'script', type: 'string', arg: 'FILE', help: 'replay a scenario file, then stop everything: exit 0 if every check held, 1 if not' },
  { name: 'timeout-ms', short: 't', type: 'int', help: 'passed to the clients: give up on an operation after this long (default: from the delay)' },
  { name: 'retry-ms', type: 'int', help: 'passed to the clients: wait this long for an answer before asking another node to lead (default: from the delay)' },
  { name: 'insecure', type: 'flag', help: 'plain TCP: no encryption, no authentication (anyone who can reach the ports can forge anything); announced at every start' },
  { name: 'quiet', short: 'q', type: 'flag', help: 'pass --quiet to the nodes: do not print every message sent and received' },
  { name: 'web-port', type: 'int', help: 'serve the web view on this port (default: a free port, printed at start; 0 too)' },
  { name: 'no-web', type: 'flag', help: 'do not serve the web view (with --script it is off unless --web-port is given)' },
  { name: 'web-host', type: 'string', arg: 'ADDR', help: 'serve the web view on this address instead of 127.0.0.1 (needs --web-token: anyone who can reach it could run commands)' },
  { name: 'web-token', type: 'string', arg: 'TOKEN', help: 'require this token (16+ characters) on the web view\'s event stream and commands; the printed URL carries it' },
];

const ROOT = path.resolve(__dirname, '..', '..', '..');

const ABOUT = `Starts nodes P1..P5 and clients C1..C3 of nodes.ini as separate processes (the commands of
npm run node / npm run client) and merges their output into this console, each line prefixed
with its process's name. Type a process name and a line for its console, or a console command.

  npm start                                        the cluster of nodes.ini, node data in persist/
  npm start -- --delay-ms 1000 --fresh             1 s message delay, empty chains
  npm start -- --script scenarios/partition.txt    replay a scenario; exit 0 if every check held
  npm start -- --web-port 8080                     the web view on http://127.0.0.1:8080/

The web view (a page on 127.0.0.1, its URL printed at start) shows the nodes, ballots, chains
and messages in flight live, with controls that type the same console commands.

${CONSOLE_HELP}`;

/** A path as short as it can be said: relative to the project folder when inside it. */
function shown(p: string): string {
  const rel = path.relative(ROOT, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

function wipe(cluster: Cluster): void {
  for (const n of cluster.nodes) fs.rmSync(cluster.dataDir(n), { recursive: true, force: true });
}

async function main(): Promise<void> {
  const args = commandLine(process.argv.slice(2), OPTIONS, 'usage: npm start -- [options]', ABOUT);
  if (!args) return;
  if (args.positional.length > 0) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const configPath = path.resolve((args.values.get('config') as string | undefined) ?? path.join(ROOT, 'nodes.ini'));
  let config: ClusterConfig;
  try {
    config = loadConfig(configPath);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  const flagDelay = args.values.get('delay-ms') as number | undefined;
  if (flagDelay !== undefined && flagDelay < 0) throw new UsageError('--delay-ms must be >= 0');
  const clientTimeoutMs = args.values.get('timeout-ms') as number | undefined;
  if (clientTimeoutMs !== undefined && clientTimeoutMs < 1) throw new UsageError('--timeout-ms must be >= 1');
  const clientRetryMs = args.values.get('retry-ms') as number | undefined;
  if (clientRetryMs !== undefined && clientRetryMs < 1) throw new UsageError('--retry-ms must be >= 1');
  const names = { nodes: config.nodes.map((n) => n.name), clients: config.clients.map((c) => c.name) };
  const webPort = args.values.get('web-port') as number | undefined;
  if (webPort !== undefined && (webPort < 0 || webPort > 65535)) throw new UsageError('--web-port must be 0..65535');
  const webHost = (args.values.get('web-host') as string | undefined) ?? '127.0.0.1';
  const webToken = (args.values.get('web-token') as string | undefined) ?? null;
  if (webToken !== null && (webToken.length < 16 || webToken.length > 256 || !/^[\x21-\x7e]+$/.test(webToken))) throw new UsageError('--web-token must be 16..256 printable characters without spaces');
  if (!isLoopback(webHost) && webToken === null) throw new UsageError(`--web-host ${webHost} is reachable from other machines: give --web-token TOKEN too (anyone with the page can run commands)`);
  if (args.values.get('no-web') && (webPort !== undefined || args.values.has('web-host') || webToken !== null)) throw new UsageError('--no-web cannot go with --web-port, --web-host or --web-token');

  // A script is checked whole before anything starts.
  const scriptPath = args.values.get('script') as string | undefined;
  let script: Script | null = null;
  if (scriptPath !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(scriptPath, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read script ${scriptPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const parsed = parseScript(text, scriptPath, names);
    if (!parsed.ok) {
      for (const err of parsed.errors) process.stderr.write(`cluster: ${err}\n`);
      process.stderr.write(`cluster: ${parsed.errors.length} error(s) in ${scriptPath}; nothing was started\n`);
      process.exitCode = 2;
      return;
    }
    script = parsed.script;
  }

  const dirFlag = args.values.get('data-dir') as string | undefined;
  const tempData = script !== null && dirFlag === undefined;
  const dataRoot = dirFlag !== undefined ? path.resolve(dirFlag) : tempData ? fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-script-')) : path.join(ROOT, 'persist');
  const delayMs = flagDelay ?? script?.delayMs;

  const colour = !!process.stdout.isTTY && !process.env.NO_COLOR;
  const out = new Output((s) => process.stdout.write(s), colour);
  const insecure = !!args.values.get('insecure');
  if (insecure) process.stderr.write(`${insecureBanner('this cluster')}\n`);
  else {
    // Made here, once, before the eight processes start (each would otherwise try).
    try {
      openKeyRing(config, config.nodes[0].name, (l) => process.stdout.write(`cluster: ${l}\n`));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  // The web view: on by default at the console, off for a script unless a port is asked for.
  const web = !args.values.get('no-web') && (script === null || webPort !== undefined);
  let hub: WebHub | null = null;
  const events = web ? { line: (name: string, line: string) => void hub?.onEventLine(name, line), answer: (name: string, line: string) => hub?.onAnswer(name, line) } : undefined;
  const cluster = new Cluster({ config, configPath, delayMs, dataRoot, quiet: !!args.values.get('quiet'), out, root: ROOT, clientTimeoutMs, clientRetryMs, insecure, events });
  if (web) {
    hub = new WebHub(cluster, (l) => out.warn(l));
    out.onInfo = (text, style) => hub?.onConsole(text, style);
  }
  const ex = new Executor(cluster, out, { timeoutMs: defaultTimeoutMs(cluster.delayMs, clientTimeoutMs), failOnCrash: script !== null });

  // Never leave a process behind: on any exit of this one, SIGKILL what is still running.
  process.on('exit', () => cluster.killAll());
  let shuttingDown = false;
  let rl: readline.Interface | null = null;
  let server: WebServer | null = null;
  const shutdown = async (code: number, why?: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    ex.abort();
    out.setPrompt(null);
    rl?.close();
    out.info(`${why ? `${why}: ` : ''}stopping all processes...`);
    await server?.close();
    await cluster.stopAll();
    if (tempData && code === 0) fs.rmSync(dataRoot, { recursive: true, force: true });
    out.info(tempData ? (code === 0 ? 'stopped' : `stopped; the nodes' data is kept in ${dataRoot}`) : `stopped; the nodes' data stays in ${shown(dataRoot)} for the next start (--fresh wipes it)`);
    process.exit(code);
  };
  const onSignal = (sig: NodeJS.Signals, code: number) => process.on(sig, () => {
    if (shuttingDown) {
      cluster.killAll(); // a second Ctrl-C: do not wait
      process.exit(code);
    }
    void shutdown(code, sig);
  });
  onSignal('SIGINT', 130);
  onSignal('SIGTERM', 143);
  onSignal('SIGHUP', 129);

  if (args.values.get('fresh')) {
    wipe(cluster);
    out.info(`--fresh: wiped ${cluster.nodes.map((n) => shown(cluster.dataDir(n))).join(' ')}`);
  }
  // One queue of console lines, typed here or sent by a page of the web view: they run in
  // order through the same executor.
  const terminal = !!(process.stdin.isTTY && process.stdout.isTTY);
  const echo = !terminal; // piped commands, or output to a file: show what is run
  type Done = (r: { ok: true } | { ok: false; error: string }) => void;
  const queue: { line: string; web?: Done }[] = [];
  let busy = false;
  let inputClosed = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0 && !shuttingDown) {
      const { line, web: done } = queue.shift()!;
      if (!line.trim()) {
        done?.({ ok: true });
        continue;
      }
      if (done) out.info(`(web) > ${line.trim()}`);
      else if (echo) out.info(`> ${line.trim()}`);
      try {
        if ((await ex.line(line)) === 'quit') return void shutdown(0);
        done?.({ ok: true });
      } catch (e) {
        const message = e instanceof CheckFailed ? `check failed: ${e.message}` : `error: ${(e as Error).message ?? String(e)}`;
        out.error(message);
        done?.({ ok: false, error: message });
      }
    }
    busy = false;
    if (inputClosed) void shutdown(0);
  };
  const fromPage = (line: string): Promise<{ ok: true } | { ok: false; error: string }> => {
    if (script) return Promise.resolve({ ok: false, error: 'a script is running: the page only watches (start without --script to use the controls)' });
    const p = parseCommand(line.trim(), names);
    if (p.ok && p.value.kind === 'quit') return Promise.resolve({ ok: false, error: 'quit only at the console' });
    if (shuttingDown) return Promise.resolve({ ok: false, error: 'the console is stopping' });
    return new Promise((resolve) => {
      queue.push({ line, web: resolve });
      void pump();
    });
  };

  if (hub) {
    server = new WebServer({
      host: webHost, port: webPort ?? 0, token: webToken, hub, run: fromPage,
      staticDir: path.join(ROOT, 'web'), scenariosDir: path.join(ROOT, 'scenarios'), names,
    });
    try {
      await server.start();
    } catch (e) {
      server = null;
      out.error(`cannot serve the web view on ${webHost}:${webPort ?? 0}: ${(e as Error).message} (--web-port picks another port, --no-web turns it off)`);
      await shutdown(2);
      return;
    }
    hub.start();
    out.info(`web view: ${server.url}`, 'bold');
  }

  out.info(`starting ${cluster.nodes.join(' ')} and ${cluster.clients.join(' ')} (config ${shown(configPath)}, delay ${cluster.delayMs} ms, node data in ${shown(dataRoot)})`);
  try {
    await cluster.startAll();
  } catch (e) {
    out.error((e as Error).message);
    await shutdown(1);
    return;
  }

  if (script) {
    out.info(`all ${cluster.procs.size} processes are up; replaying ${script.file} (${script.steps.length} steps; checks wait up to ${(ex.timeoutMs / 1000).toFixed(1)} s)`);
    let outcome;
    try {
      outcome = await runScript(script, ex, cluster, out);
    } catch (e) {
      out.error(`internal error: ${(e as Error).stack ?? e}`);
      await shutdown(1);
      return;
    }
    await new Promise((r) => setTimeout(r, 300)); // let the answers to the last commands come out first
    if (outcome.ok) {
      out.info(`PASSED ${script.file}: ${outcome.steps} steps, ${outcome.checks} checks, ${(outcome.ms / 1000).toFixed(1)} s`, 'ok');
      await shutdown(0);
    } else {
      out.error(`FAILED ${outcome.at}: ${outcome.line}`);
      out.error(`  ${outcome.message}`);
      process.stderr.write(`cluster: FAILED ${outcome.at}: ${outcome.line}: ${outcome.message}\n`);
      await shutdown(1);
    }
    return;
  }

  // ---- the interactive console
  out.info(`all ${cluster.procs.size} processes are up. Type "help" for commands, "quit" to stop.${server ? ` The web view: ${server.url}` : ''}`);
  const d = cluster.delayMs;
  const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  out.info(`no node led at start: the clients, knowing no leader, asked P1 to lead as they started; it leads after 3 message delays (Leader, prepare, promise: about ${secs(3 * d)} at delay ${d} ms). An operation then takes 4 delays (about ${secs(4 * d)}); one typed before that waits for the election, at most ${FIRST_OPERATION_HOPS} delays (about ${secs(FIRST_OPERATION_HOPS * d)}). A client waits ${secs(clientRetryMs ?? leaderTimeoutMs(d))} for an answer from the node it believes leads (${secs(clientRetryMs ?? defaultClientTimeoutMs(d))} through another node, ${secs(clientRetryMs ?? electionTimeoutMs(d))} once it asked a node to lead) before it asks the next node, and gives up after ${secs(clientTimeoutMs ?? defaultDeadlineMs(d))} (--retry-ms, --timeout-ms)`);
  rl = readline.createInterface({ input: process.stdin, output: terminal ? process.stdout : undefined, terminal, prompt: '> ' });
  if (terminal) {
    out.setPrompt(() => rl!.prompt(true));
    rl.prompt();
  }
  rl.on('line', (line) => {
    // Typed quit stops at once, even during a long check; piped commands run in order.
    if (terminal && /^\s*(quit|exit)\s*$/i.test(line)) return void shutdown(0);
    if (terminal && busy && /^\s*\S/.test(line)) out.info(`(queued after the command in progress: ${line.trim()})`);
    queue.push({ line });
    void pump();
  });
  rl.on('SIGINT', () => void shutdown(0));
  rl.on('close', () => {
    if (shuttingDown) return;
    inputClosed = true; // end of input (Ctrl-D, or a pipe ran out): quit once queued commands are done
    if (!busy) void shutdown(0);
  });
}

runCli('cluster', main);
