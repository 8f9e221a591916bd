/** Human (tables) and --json (one line) renderings of a node's chain, dictionary, queue and status. */
import { PendingOp } from '../../messages';
import { printable } from '../limits';
import { catchUpText, ChainNode, NodeStatus } from '../node/node';

/** printBlockchain without `all` shows this many blocks (the newest) as text. */
export const PRINT_LAST_DEFAULT = 100;
/** printBlockchain all: blocks printed per turn of the event loop (the node serves in between). */
export const PRINT_PAGE_BLOCKS = 1000;

/** The whole chain by default (tools read it), or the last `last` blocks. */
export function blockchainJson(node: ChainNode, o: { last?: number } = {}): string {
  const end = node.chainEnd();
  return JSON.stringify({
    node: node.name,
    commit: node.replica.commit,
    blocks: node.blocks(o.last === undefined ? 0 : Math.max(0, end - o.last), end).map((b) => !b.block ? { depth: b.depth, to: b.to, status: b.status } : ({
      depth: b.depth, op: b.block.operation.op, key: b.block.operation.key, value: b.block.operation.value ?? null,
      client: b.block.operation.client, req: b.block.operation.req, session: b.block.operation.session ?? null,
      nonce: b.block.nonce, hashPointer: b.block.hashPointer, hash: b.hash, status: b.status,
    })),
  });
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Table cells: control characters escaped (a key holding ESC [2J must not clear the screen), then cut. */
const clip = (s: string, n: number) => {
  const t = printable(s);
  return t.length > n ? t.slice(0, n - 1) + '…' : t;
};

/** The blocks from `from` to `to` as a table. */
export function blocksTable(node: ChainNode, from: number, to: number): string {
  const rows = node.blocks(from, to).map((b) => !b.block ? [
    `${b.depth}..${b.to! - 1}`, 'not held yet: being backfilled from peers (below the installed checkpoint)', '', '', '', '', '', '', '',
  ] : [
    String(b.depth), b.status, b.block.operation.op, clip(b.block.operation.key, 20), clip(b.block.operation.value ?? '', 36),
    printable(`${b.block.operation.client}#${b.block.operation.req}`), printable(b.block.nonce), b.block.hashPointer.slice(0, 16) + '…', b.hash.slice(0, 16) + '…',
  ]);
  return table(['depth', 'status', 'op', 'key', 'value', 'request', 'nonce', 'hash pointer (prev)', 'block hash'], rows);
}

/** The newest `last` blocks (PRINT_LAST_DEFAULT), or all of them (`printBlockchain all` pages them instead: node-main). */
export function blockchainText(node: ChainNode, o: { last?: number } = {}): string {
  const end = node.chainEnd();
  if (end === 0) return `${node.name} blockchain: empty`;
  const from = Math.max(0, end - (o.last ?? PRINT_LAST_DEFAULT));
  const shown = from > 0 ? ` (the last ${end - from}; printBlockchain all for all ${end}, printBlockchain N for the last N)` : '';
  return `${node.name} blockchain: ${node.replica.commit} decided, ${end - node.replica.commit} tentative${shown}\n` + blocksTable(node, from, end);
}

export function kvJson(node: ChainNode): string {
  return JSON.stringify({ node: node.name, depth: node.replica.commit, kv: Object.fromEntries([...node.replica.sm.dict].sort()) });
}

export function kvText(node: ChainNode): string {
  const entries = [...node.replica.sm.dict].sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return `${node.name} key-value store: empty (decided to depth ${node.replica.commit})`;
  return `${node.name} key-value store (decided to depth ${node.replica.commit}):\n` + table(['key', 'value'], entries.map(([k, v]) => [printable(k), printable(v)]));
}

const opRow = (p: PendingOp) => ({ client: p.operation.client, req: p.operation.req, op: p.operation.op, key: p.operation.key, value: p.operation.value ?? null });

export function queueJson(node: ChainNode): string {
  return JSON.stringify({ node: node.name, queue: node.replica.pendingOps().map(opRow) });
}

export function queueText(node: ChainNode): string {
  const q = node.replica.pendingOps();
  if (q.length === 0) return `${node.name} queue: empty`;
  return `${node.name} queue (${q.length}):\n` + table(['request', 'op', 'key', 'value'], q.map((p) => [printable(`${p.operation.client}#${p.operation.req}`), p.operation.op, clip(p.operation.key, 40), clip(p.operation.value ?? '', 40)]));
}

/** The node's status as data: `ballot`/`promised` as printed, plus the leadership term as numbers. */
export interface StatusData extends NodeStatus {
  /** The (seq, pid) of `ballot`: what orders leaders (null when it has none). */
  term: { seq: number; pid: number } | null;
}

export function statusData(node: ChainNode): StatusData {
  const b = node.replica.ballot;
  return { ...node.status(), term: b ? { seq: b.seq, pid: b.pid } : null };
}

/** The answer to failLink/fixLink as data. */
export interface LinkData {
  link: 'failLink' | 'fixLink';
  node: string;
  peer: string;
  /** Whether the link is failed now, and whether this command changed it. */
  failed: boolean;
  changed: boolean;
}

export function statusText(node: ChainNode): string {
  const s = node.status();
  const catchUp = catchUpText(s.catchUp);
  return `${s.node}: ${s.role}, leader ${s.leader ?? 'unknown'}, ballot ${s.ballot ?? '-'}, promised ${s.promised ?? '-'}, depth ${s.depth} (+${s.tentative} tentative), queue ${s.queue}, failed links: ${s.failedLinks.join(',') || 'none'}${catchUp ? `; ${catchUp}` : ''}`;
}
