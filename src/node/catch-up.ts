/** How a node's fast catch-up is going, as `status` reports it (node console, cluster console). */
export interface CatchUpStatus {
  fetch: { peer: string; depth: number; got: number; total: number } | null;
  backfill: { from: number; to: number; done: number; of: number } | null;
  installs: number;
  backfills: number;
}

/** One line about a catch-up in progress (null: none). */
export function catchUpText(c: CatchUpStatus | undefined): string | null {
  if (!c) return null;
  const parts: string[] = [];
  if (c.fetch) parts.push(`installing ${c.fetch.peer}'s checkpoint${c.fetch.depth ? ` at depth ${c.fetch.depth}` : ''}: ${(c.fetch.got / 1048576).toFixed(1)} of ${(c.fetch.total / 1048576).toFixed(1)} MiB`);
  if (c.backfill) parts.push(`backfilling blocks ${c.backfill.from}..${c.backfill.to - 1} (${c.backfill.done} of ${c.backfill.of} done, ${Math.floor((100 * c.backfill.done) / Math.max(1, c.backfill.of))}%)`);
  return parts.length ? parts.join('; ') : null;
}

