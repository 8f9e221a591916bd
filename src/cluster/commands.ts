/**
 * The cluster console's language, parsed without side effects: commands routed to a process
 * (`C1 put k v`, `P2 failLink(P2,P3)`), console commands (`restart P3`, `status`, `partition`,
 * `heal`, `help`, `quit`) and the script checks (`sleep`, `expect`, `wait-leader`, `set`).
 * Scripts are files of these lines (see parseScript).
 */
import { Role } from './lines';

export interface Names {
  nodes: readonly string[];
  clients: readonly string[];
}

export type NodeCheck =
  | { what: 'depth'; atLeast: boolean; depth: number }
  | { what: 'role'; role: Role }
  | { what: 'leader'; leader: string | null }
  | { what: 'up' }
  | { what: 'down' };

export type ConsoleCommand =
  /** Text typed into one process's console (or every node's, for `all`). */
  | { kind: 'send'; target: string | 'all'; text: string; note?: string }
  | { kind: 'restart'; target: string }
  | { kind: 'status' }
  | { kind: 'partition'; groups: string[][] }
  | { kind: 'heal' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'sleep'; ms: number }
  | { kind: 'set'; name: 'delay' | 'timeout'; value: number }
  | { kind: 'wait-leader'; variable: string }
  | { kind: 'expect-client'; target: string; expected: string }
  | { kind: 'expect-node'; target: string | 'all'; check: NodeCheck }
  | { kind: 'expect-agree' };

export type Parse<T> = { ok: true; value: T } | { ok: false; error: string };

export const CONSOLE_HELP = [
  'Type a process name, then what to type into its console:',
  '  C1 put alice_netid {"phone_number":"111-222-3333"}     C2 get alice_netid',
  '  C1 Operation(put, bob_netid, {"phone_number":"1"})      C3 Operation(get, bob_netid)',
  '  P2 failLink(P2,P3)   P2 fixLink(P2,P3)   P3 failProcess   P1 printBlockchain',
  '  P1 printKVStore      P4 printQueue       P5 status        all printKVStore (every live node)',
  'Console commands:',
  '  status                       one line per process: up/down; for nodes role, leader, depth, queue',
  '  restart P3                   start a stopped process again (a node reloads its chain from disk)',
  '  partition P1,P2 | P3,P4,P5   cut every link between the groups ("*" = every other node)',
  '  heal                         fix every failed link on every live node',
  '  help                         this list',
  '  quit                         stop every process (the nodes keep their data for the next start)',
  'Checks (for scenario files; they work here too):',
  '  sleep MS                     wait',
  '  expect C1 ack                C1\'s next answer given after the previous step began (not counting other',
  '                               client expects); also: NO_KEY, a JSON value, error, error: TEXT',
  '  expect P4 depth 12           poll P4\'s status until it has 12 decided blocks (depth >= 12 also works)',
  '  expect P4 role leader        ... until P4 is leader (or follower, candidate); expect P4 leader P2: ... believes P2 leads',
  '  expect P3 down | up          ... until that process has exited / is running; "all" for every live node: expect all depth 3',
  '  expect agree                 every live node\'s decided blocks are the same (by block hash)',
  '  wait-leader [NAME]           until a node is leader; $NAME (default $LEADER) then names it: $LEADER failProcess',
  '  set timeout MS               how long expect/wait-leader wait;  set delay MS (scripts, before any command)',
].join('\n');

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Finds a configured process name, case-insensitively. */
function findName(word: string, names: Names): string | null {
  const w = word.toUpperCase();
  return [...names.nodes, ...names.clients].find((n) => n === w) ?? null;
}

function listNames(names: Names): string {
  const span = (xs: readonly string[]) => (xs.length === 0 ? 'none' : xs.length === 1 ? xs[0] : `${xs[0]}..${xs[xs.length - 1]}`);
  return `nodes ${span(names.nodes)}, clients ${span(names.clients)}`;
}

/** True for lines whose text goes to a client (never rewritten by $VARIABLE substitution). */
export function isClientText(line: string, names: Names): boolean {
  const words = line.trim().split(/\s+/);
  const first = words[0] === undefined ? '' : words[0].toLowerCase() === 'expect' ? words[1] ?? '' : words[0];
  return names.clients.includes(first.toUpperCase());
}

/** Replaces $NAME with its value (from wait-leader) everywhere but in text meant for a client. */
export function substitute(line: string, vars: ReadonlyMap<string, string>, names: Names): Parse<string> {
  if (isClientText(line, names)) return { ok: true, value: line };
  let error: string | null = null;
  const value = line.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, v: string) => {
    const got = vars.get(v.toUpperCase());
    if (got === undefined) {
      error ??= `$${v} is not set yet (wait-leader ${v} sets it)`;
      return all;
    }
    return got;
  });
  return error ? { ok: false, error } : { ok: true, value };
}

const NODE_COMMAND_WORDS = /^(faillink|fixlink|failprocess|printblockchain|printkvstore|printqueue)\b/i;
const CLIENT_COMMAND_WORDS = /^(operation\b|put\s|get\s)/i;

export function parseCommand(line: string, names: Names): Parse<ConsoleCommand> {
  const text = line.trim();
  if (!text) return { ok: false, error: 'empty command' };
  const [first, ...restWords] = text.split(/\s+/);
  const rest = text.slice(first.length).trim();
  const word = first.toLowerCase();
  const noArgs = (cmd: ConsoleCommand, hint?: string): Parse<ConsoleCommand> =>
    rest ? { ok: false, error: `${word} takes no arguments${hint ? ` (${hint})` : ''}` } : { ok: true, value: cmd };

  switch (word) {
    case 'help': case '?': return noArgs({ kind: 'help' });
    case 'quit': case 'exit': return noArgs({ kind: 'quit' });
    case 'status': return noArgs({ kind: 'status' }, 'to ask one node: P3 status');
    case 'heal': return noArgs({ kind: 'heal' });
    case 'restart': {
      if (restWords.length !== 1) return { ok: false, error: 'restart needs one process, e.g. restart P3' };
      const target = findName(restWords[0], names);
      if (!target) return { ok: false, error: `there is no process "${restWords[0]}" (${listNames(names)})` };
      return { ok: true, value: { kind: 'restart', target } };
    }
    case 'partition': return parsePartition(rest, names);
    case 'sleep': {
      if (!/^[0-9]+$/.test(rest)) return { ok: false, error: 'sleep needs a number of milliseconds, e.g. sleep 500' };
      return { ok: true, value: { kind: 'sleep', ms: Number(rest) } };
    }
    case 'set': {
      const m = /^(delay|timeout)\s+([0-9]+)$/i.exec(rest);
      if (!m) return { ok: false, error: 'expected "set delay MS" or "set timeout MS"' };
      return { ok: true, value: { kind: 'set', name: m[1].toLowerCase() as 'delay' | 'timeout', value: Number(m[2]) } };
    }
    case 'wait-leader': {
      const variable = rest || 'LEADER';
      if (!VAR_NAME.test(variable)) return { ok: false, error: `wait-leader takes an optional variable name (letters, digits, _), got "${rest}"` };
      return { ok: true, value: { kind: 'wait-leader', variable: variable.toUpperCase() } };
    }
    case 'expect': return parseExpect(rest, names);
    case 'all': {
      if (!rest) return { ok: false, error: 'all needs a node command, e.g. all printKVStore' };
      return { ok: true, value: { kind: 'send', target: 'all', text: rest } };
    }
  }
  const target = findName(first, names);
  if (target) {
    if (!rest) return { ok: false, error: `what should ${target} do? e.g. ${names.nodes.includes(target) ? `${target} printBlockchain` : `${target} get alice_netid`}` };
    return { ok: true, value: { kind: 'send', target, text: rest } };
  }
  if (/^[PC][0-9]+$/i.test(first)) return { ok: false, error: `there is no process ${first.toUpperCase()} (${listNames(names)})` };
  // failLink(P2,P3) with no process in front: the spec types it at its first process.
  const link = /^(faillink|fixlink)\s*\(?\s*(P[0-9]+)\s*[, ]/i.exec(text);
  if (link) {
    const at = findName(link[2], names);
    if (at && names.nodes.includes(at)) return { ok: true, value: { kind: 'send', target: at, text, note: `typed at ${at}` } };
  }
  if (NODE_COMMAND_WORDS.test(text)) return { ok: false, error: `say which node it is for, e.g. P1 ${text}` };
  if (CLIENT_COMMAND_WORDS.test(text)) return { ok: false, error: `say which client it is for, e.g. C1 ${text}` };
  return { ok: false, error: `unknown command "${first}" (type help)` };
}

function parsePartition(rest: string, names: Names): Parse<ConsoleCommand> {
  const usage = 'expected e.g. partition P1,P2 | P3,P4,P5  (groups split by |, "*" = all other nodes)';
  if (!rest.includes('|')) return { ok: false, error: usage };
  const groups: string[][] = [];
  const seen = new Set<string>();
  for (const part of rest.split('|')) {
    const members = part.split(/[\s,]+/).filter(Boolean);
    if (members.length === 0) return { ok: false, error: `empty group: ${usage}` };
    const group: string[] = [];
    for (const m of members) {
      const name = m === '*' ? '*' : findName(m, names);
      if (!name) return { ok: false, error: `there is no process "${m}" (${listNames(names)})` };
      if (seen.has(name)) return { ok: false, error: name === '*' ? '"*" can appear only once' : `${name} is in two groups` };
      seen.add(name);
      group.push(name);
    }
    if (group.includes('*') && group.length > 1) return { ok: false, error: '"*" must be a group of its own, e.g. partition P1 | *' };
    groups.push(group);
  }
  if (groups.length < 2) return { ok: false, error: usage };
  return { ok: true, value: { kind: 'partition', groups } };
}

function parseExpect(rest: string, names: Names): Parse<ConsoleCommand> {
  const usage = 'expected e.g. expect C1 ack, expect P4 depth 12, expect P2 role leader, expect P3 down, expect agree';
  const words = rest.split(/\s+/).filter(Boolean);
  if (words.length === 0) return { ok: false, error: usage };
  if (words.length === 1 && words[0].toLowerCase() === 'agree') return { ok: true, value: { kind: 'expect-agree' } };
  const who = words[0].toLowerCase() === 'all' ? 'all' : findName(words[0], names);
  if (!who) return { ok: false, error: `there is no process "${words[0]}" (${listNames(names)})` };
  const what = rest.slice(words[0].length).trim();
  if (who !== 'all' && names.clients.includes(who)) {
    if (!what) return { ok: false, error: `expect ${who} needs the answer it should give, e.g. expect ${who} ack` };
    return { ok: true, value: { kind: 'expect-client', target: who, expected: what } };
  }
  const w = what.split(/\s+/).filter(Boolean).map((x) => x.toLowerCase());
  let check: NodeCheck | null = null;
  if (w[0] === 'depth') {
    const atLeast = w[1] === '>=';
    const n = atLeast ? w[2] : w[1];
    if (n !== undefined && /^[0-9]+$/.test(n) && w.length === (atLeast ? 3 : 2)) check = { what: 'depth', atLeast, depth: Number(n) };
  } else if (w[0] === 'role' && w.length === 2 && ['leader', 'follower', 'candidate'].includes(w[1])) {
    check = { what: 'role', role: w[1] as Role };
  } else if (w[0] === 'leader' && w.length === 2) {
    const l = w[1] === 'unknown' ? null : findName(w[1], names);
    if (l === null && w[1] !== 'unknown') return { ok: false, error: `there is no node "${w[1]}"` };
    if (l !== null && !names.nodes.includes(l)) return { ok: false, error: `${l} is not a node` };
    check = { what: 'leader', leader: l };
  } else if ((w[0] === 'up' || w[0] === 'down') && w.length === 1) {
    check = { what: w[0] };
  }
  if (!check) return { ok: false, error: `cannot check "${what}" on a node: use depth N, depth >= N, role leader|follower|candidate, leader PN|unknown, up or down` };
  if (who === 'all' && check.what === 'down') return { ok: false, error: 'expect all down is not a useful check; name the node' };
  return { ok: true, value: { kind: 'expect-node', target: who, check } };
}

// ---------------------------------------------------------------- scripts

export interface ScriptStep {
  /** 1-based line number in the file. */
  line: number;
  text: string;
}

export interface Script {
  file: string;
  /** `set delay MS` from the script's head (before any command), if any. */
  delayMs?: number;
  steps: ScriptStep[];
}

/**
 * A scenario file: one console command per line; blank lines and lines starting with # are
 * skipped. Every line is checked before anything runs; $NAME must be set by an earlier
 * `wait-leader NAME`. `set delay` must come before the first other command.
 */
export function parseScript(text: string, file: string, names: Names): { ok: true; script: Script } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const steps: ScriptStep[] = [];
  let delayMs: number | undefined;
  let started = false;
  const defined = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (!t || t.startsWith('#')) return;
    const at = `${file}:${i + 1}`;
    const sub = substitute(t, defined, names);
    if (!sub.ok) return void errors.push(`${at}: ${sub.error}`);
    const p = parseCommand(sub.value, names);
    if (!p.ok) return void errors.push(`${at}: ${p.error}`);
    const c = p.value;
    if (c.kind === 'set' && c.name === 'delay') {
      if (started) errors.push(`${at}: set delay must come before the first command (the processes are started with it)`);
      else delayMs = c.value;
      return;
    }
    if (c.kind !== 'set') started = true;
    // Variables get a placeholder node for the syntax check; their value is known only at run time.
    if (c.kind === 'wait-leader') defined.set(c.variable, names.nodes[0] ?? 'P1');
    steps.push({ line: i + 1, text: t });
  });
  return errors.length ? { ok: false, errors } : { ok: true, script: { file, delayMs, steps } };
}
