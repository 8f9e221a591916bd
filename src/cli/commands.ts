/**
 * The console languages, parsed without side effects so they can be tested:
 * - node console: failLink(P1,P2), fixLink(P1,P2), failProcess, printBlockchain,
 *   printKVStore, printQueue, status, help — case-insensitive, parentheses or spaces;
 * - client console: Operation(put, key, {json}), Operation(get, key), put KEY JSON, get KEY, help.
 */
import { hasControlChars, MAX_KEY_CHARS, printable, valueProblem } from '../limits';

export type NodeCommand = (
  | { cmd: 'failLink' | 'fixLink'; a: string; b: string }
  | { cmd: 'failProcess' | 'printBlockchain' | 'printKVStore' | 'printQueue' | 'status' | 'verifyChain' | 'help' }
  /** printBlockchain all (every block, paged), printBlockchain N (the last N). */
  | { cmd: 'printBlockchain'; all: true }
  | { cmd: 'printBlockchain'; last: number }
) & {
  /** `status --json`: answer with one JSON line (as every command does under the node's --json). */
  json?: boolean;
};

export type ClientCommand =
  | { cmd: 'put'; key: string; value: string }
  | { cmd: 'get'; key: string }
  | { cmd: 'help' };

export type Parse<T> = { ok: true; value: T } | { ok: false; error: string };

export const NODE_HELP = [
  'commands (case-insensitive; parentheses or spaces):',
  '  failLink(P1,P2)    cut the link between this node and the other one (both directions)',
  '  fixLink(P1,P2)     restore it',
  '  failProcess        kill this node (restart it with the same npm run node command)',
  '  printBlockchain    the chain: depth, operation, nonce, hash pointer, status (the last 100 blocks;',
  '                     printBlockchain N: the last N; printBlockchain all: every block, page by page)',
  '  printKVStore       the key-value dictionary (decided puts)',
  '  printQueue         operations waiting to be decided',
  '  status             role, leader, ballot, depth, queue length, failed links, and a catch-up in',
  '                     progress (a checkpoint being installed, blocks being backfilled)',
  '  verifyChain        verify chain.log and blocks.dat on disk (in the background, with progress; names the first bad block)',
  '  help               this list',
  'Add --json to any of them for a one-line JSON answer (e.g. status --json).',
].join('\n');

export const CLIENT_HELP = [
  'commands:',
  '  Operation(put, KEY, JSON)   e.g. Operation(put, alice_netid, {"phone_number":"111-222-3333"})',
  '  Operation(get, KEY)         e.g. Operation(get, alice_netid)',
  '  put KEY JSON                short form of the put',
  '  get KEY                     short form of the get',
  '  help                        this list',
].join('\n');

const NODE_NAME = /^P[1-9][0-9]*$/i;
const KEY = /^[^\s,()"]{1,256}$/;

/** Splits `name(args)` or `name args` into the name and its comma- or space-separated args. */
function splitCall(line: string): { name: string; args: string[] } | null {
  const t = line.trim();
  const paren = /^([A-Za-z]+)\s*\((.*)\)\s*$/s.exec(t);
  if (paren) return { name: paren[1], args: paren[2].trim() === '' ? [] : paren[2].split(',').map((s) => s.trim()) };
  const words = t.split(/[\s,]+/).filter(Boolean);
  if (words.length === 0) return null;
  return { name: words[0], args: words.slice(1) };
}

export function parseNodeCommand(line: string): Parse<NodeCommand> {
  const asJson = /\s--json\s*$/i.exec(line);
  if (asJson) {
    const p = parseNodeCommand(line.slice(0, asJson.index));
    return p.ok ? { ok: true, value: { ...p.value, json: true } } : p;
  }
  const call = splitCall(line);
  if (!call) return { ok: false, error: 'empty command' };
  const name = call.name.toLowerCase();
  const simple: Record<string, NodeCommand['cmd']> = {
    failprocess: 'failProcess', printblockchain: 'printBlockchain', printkvstore: 'printKVStore',
    printqueue: 'printQueue', status: 'status', verifychain: 'verifyChain', help: 'help',
  };
  if (name === 'faillink' || name === 'fixlink') {
    const cmd = name === 'faillink' ? 'failLink' : 'fixLink';
    if (call.args.length !== 2) return { ok: false, error: `${cmd} needs two nodes, e.g. ${cmd}(P1,P2)` };
    const [a, b] = call.args.map((x) => x.toUpperCase());
    for (const x of [a, b]) if (!NODE_NAME.test(x) && !/^C[1-9][0-9]*$/.test(x)) return { ok: false, error: `"${x}" is not a process name like P2 or C1` };
    if (a === b) return { ok: false, error: `${cmd} needs two different processes` };
    return { ok: true, value: { cmd, a, b } };
  }
  if (name === 'printblockchain' && call.args.length === 1) {
    const a = call.args[0];
    if (/^all$/i.test(a)) return { ok: true, value: { cmd: 'printBlockchain', all: true } };
    if (/^[1-9][0-9]{0,6}$/.test(a)) return { ok: true, value: { cmd: 'printBlockchain', last: Number(a) } };
    return { ok: false, error: 'printBlockchain takes "all" or a number of blocks (1..9999999), e.g. printBlockchain 20' };
  }
  if (name in simple) {
    if (call.args.length > 0) return { ok: false, error: `${simple[name]} takes no arguments` };
    return { ok: true, value: { cmd: simple[name] } as NodeCommand };
  }
  if (name === 'operation' || name === 'put' || name === 'get') return { ok: false, error: 'operations are typed in a client console (npm run client -- 1), not in a node' };
  return { ok: false, error: `unknown command "${call.name}"` };
}

export function parseClientCommand(line: string): Parse<ClientCommand> {
  const t = line.trim();
  if (!t) return { ok: false, error: 'empty command' };
  if (/^help$/i.test(t)) return { ok: true, value: { cmd: 'help' } };
  let op: string, key: string, value: string | undefined;
  const call = /^operation\s*\((.*)\)\s*$/is.exec(t);
  if (call) {
    const inner = call[1];
    const c1 = inner.indexOf(',');
    if (c1 < 0) return { ok: false, error: 'Operation needs at least an op and a key: Operation(get, KEY)' };
    op = inner.slice(0, c1).trim();
    const rest = inner.slice(c1 + 1);
    const c2 = rest.indexOf(',');
    key = (c2 < 0 ? rest : rest.slice(0, c2)).trim();
    value = c2 < 0 ? undefined : rest.slice(c2 + 1).trim();
  } else if (/^operation\b/i.test(t)) {
    return { ok: false, error: 'malformed Operation: expected Operation(put, KEY, JSON) or Operation(get, KEY)' };
  } else {
    if (/^put$/i.test(t)) return { ok: false, error: 'put needs a key and a JSON value: put KEY JSON' };
    if (/^get$/i.test(t)) return { ok: false, error: 'get needs a key: get KEY' };
    const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/s.exec(t);
    if (!m) return { ok: false, error: `unknown command "${t}" (try: help)` };
    [, op, key, value] = m;
    value = value?.trim();
  }
  op = op.toLowerCase();
  if (op !== 'put' && op !== 'get') return { ok: false, error: `unknown operation "${op}": use put or get` };
  // A key in double quotes is a JSON string: "" is the empty key (refused), "k" is k.
  if (/^".*"$/s.test(key)) {
    try {
      key = JSON.parse(key) as string;
    } catch {
      return { ok: false, error: `invalid key ${key}: not a valid quoted string` };
    }
    if (key === '') return { ok: false, error: 'the key is empty: give a key of 1-256 characters' };
  }
  if (key === '') return { ok: false, error: `${op} needs a key: ${op === 'put' ? 'put KEY JSON' : 'get KEY'}` };
  if (/^[{[]/.test(key)) return { ok: false, error: `${op} needs a key before the value: ${op === 'put' ? 'put KEY JSON' : 'get KEY'} (keys do not start with { or [)` };
  if (hasControlChars(key)) return { ok: false, error: `invalid key "${printable(key)}": control characters (such as ESC or NUL) are not allowed` };
  if (!KEY.test(key)) return { ok: false, error: `invalid key "${printable(key)}": 1-${MAX_KEY_CHARS} characters, no spaces, commas, quotes or parentheses` };
  if (op === 'get') {
    if (value !== undefined && value !== '') return { ok: false, error: 'get takes only a key' };
    return { ok: true, value: { cmd: 'get', key } };
  }
  if (value === undefined || value === '') return { ok: false, error: 'put needs a JSON value, e.g. {"phone_number":"111-222-3333"}' };
  try {
    JSON.parse(value);
  } catch (e) {
    return { ok: false, error: `the value is not valid JSON: ${(e as Error).message}` };
  }
  const tooLong = valueProblem(value);
  if (tooLong) return { ok: false, error: tooLong };
  return { ok: true, value: { cmd: 'put', key, value } };
}
