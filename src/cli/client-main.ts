/**
 * `npm run client -- N`: client CN. Reads operations from stdin, one at a time.
 */
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Client } from '../client/client';
import { printableLines } from '../limits';
import { Completed } from '../client/client-core';
import { configFromArgs, helpText, OptionSpec, parseArgs, runCli, UsageError } from './args';
import { CLIENT_HELP, ClientCommand, parseClientCommand } from './commands';

const OPTIONS: OptionSpec[] = [
  { name: 'config', type: 'string', arg: 'FILE', help: 'cluster file (default: nodes.ini in the project folder)' },
  { name: 'delay-ms', type: 'int', help: 'constant delay added to every message (default: [network] delay_ms)' },
  { name: 'leader', type: 'int', help: 'initial leader hint, node number (default 1)' },
  { name: 'timeout-ms', type: 'int', help: 'wait this long before asking another node to lead (default 10 x delay + 2000)' },
  { name: 'json', type: 'flag', help: 'print each result as one JSON line' },
  { name: 'verbose', type: 'flag', help: 'print every message sent and received' },
];

const ROOT = path.resolve(__dirname, '..', '..', '..');

function resultLine(c: Completed, json: boolean): string {
  const ms = c.endedAt - c.startedAt;
  if (json) return JSON.stringify({ op: c.op, key: c.key, result: c.result, leader: c.leader, depth: c.depth, req: c.req, ms, attempts: c.attempts });
  return `${c.result}   (${c.op} ${c.key}: block ${c.depth}, leader ${c.leader}, ${ms} ms${c.attempts > 1 ? `, ${c.attempts} attempts` : ''})`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('usage: npm run client -- N [options]', 'Runs client CN: type operations, get answers ("ack", the value, or NO_KEY).\n\n' + CLIENT_HELP, OPTIONS));
    return;
  }
  const args = parseArgs(argv, OPTIONS);
  if (args.positional.length !== 1) throw new UsageError('give exactly one client number, e.g. npm run client -- 1');
  const config = configFromArgs(args, ROOT);
  const id = `C${args.positional[0].replace(/^C/i, '')}`;
  if (!config.clients.some((c) => c.name === id)) throw new UsageError(`${config.source} has no [${id}] section (clients: ${config.clients.map((c) => c.name).join(', ')})`);
  const delayMs = args.values.get('delay-ms') as number | undefined;
  if (delayMs !== undefined && delayMs < 0) throw new UsageError('--delay-ms must be >= 0');
  const timeoutMs = args.values.get('timeout-ms') as number | undefined;
  if (timeoutMs !== undefined && timeoutMs < 1) throw new UsageError('--timeout-ms must be >= 1');
  const json = !!args.values.get('json');
  const hint = args.values.get('leader') as number | undefined;
  if (hint !== undefined && (hint < 1 || hint > config.nodes.length)) throw new UsageError(`--leader must be 1..${config.nodes.length}`);
  const say = (line: string) => process.stdout.write(printableLines(line) + '\n'); // no terminal escapes from answers
  const client = await Client.connect({
    id, config,
    delayMs,
    timeoutMs,
    hint,
    onEvent: (l) => (json ? process.stderr.write(printableLines(l) + '\n') : say(l)),
    trace: args.values.get('verbose') ? say : undefined,
  });
  if (!json) say(`${id} ready (replies on ${client.endpoint}; leader hint ${client.leaderHint}). Type "help" for commands.`);

  // Lines typed while an operation is in flight wait their turn: one operation at a time.
  const lines: string[] = [];
  let busy = false;
  let inputClosed = false;
  const progress = setInterval(() => {
    const w = client.waiting();
    if (w && w.ms >= 3000 && !json) say(`  ...waiting for request #${w.req}: ${Math.round(w.ms / 1000)} s (last sent to ${w.target})`);
  }, 3000);
  const finish = () => {
    clearInterval(progress);
    client.close();
  };
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (lines.length > 0) {
      const line = lines.shift()!;
      if (!line.trim()) continue;
      const p = parseClientCommand(line);
      if (!p.ok) {
        say(json ? JSON.stringify({ error: p.error }) : `error: ${p.error}`);
        continue;
      }
      const c: ClientCommand = p.value;
      if (c.cmd === 'help') { say(CLIENT_HELP); continue; }
      try {
        const done = await (c.cmd === 'put' ? client.put(c.key, c.value) : client.get(c.key));
        say(resultLine(done, json));
      } catch (e) {
        say(json ? JSON.stringify({ error: (e as Error).message }) : `error: ${(e as Error).message}`);
      }
    }
    busy = false;
    if (inputClosed) finish();
  };
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => { lines.push(line); void pump(); });
  rl.on('close', () => { inputClosed = true; if (!busy) finish(); });
  process.on('SIGINT', () => { finish(); process.exit(0); });
}

runCli('client', main);
