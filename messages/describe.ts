/** One compact line per message, for the demo log and the simulator trace: `ACCEPT ballot=<4,2,17> blocks=1 commit=16`. */
import { AnyMessage } from './kinds';

export function describe(msg: AnyMessage): string {
  switch (msg.kind) {
    case 'request': {
      const o = msg.pending.operation;
      return `REQUEST ${o.client}#${o.req} ${o.op} ${o.key}${o.value !== undefined ? ' ' + clip(o.value) : ''}`;
    }
    case 'reply': return `REPLY #${msg.req} ${clip(msg.result)} leader=${msg.leader} depth=${msg.depth}`;
    case 'leader': return 'LEADER';
    case 'no-leader': return `NO-LEADER #${msg.req}`;
    case 'redirect': return `REDIRECT #${msg.req} to ${msg.leader}`;
    case 'refused': return `REFUSED #${msg.req} ${msg.reason} (last #${msg.lastReq})`;
    case 'forward': return `FORWARD ${msg.ops.map((p) => `${p.operation.client}#${p.operation.req}`).join(',')}`;
    case 'prepare': return `PREPARE ballot=${msg.ballot}`;
    case 'promise': return `PROMISE ballot=${msg.ballot} commit=${msg.commit} suffix=${msg.suffix.length}${msg.suffixBallot ? '@' + msg.suffixBallot : ''} queue=${msg.queue.length}`;
    case 'nack': return `NACK ${msg.reason} ballot=${msg.ballot} promised=${msg.promised} commit=${msg.commit}${msg.reason === 'gap' ? ' resume=' + msg.resume : ''}${msg.blocks.length ? ' blocks=' + msg.blocks.length : ''}`;
    case 'accept': return `ACCEPT ballot=${msg.ballot} depth=${msg.ballot.depth} blocks=${msg.blocks.length} commit=${msg.commit}`;
    case 'accepted': return `ACCEPTED ballot=${msg.ballot} end=${msg.end} commit=${msg.commit}`;
    case 'decide': return `DECIDE commit=${msg.commit} ballot=${msg.ballot}`;
    case 'repair-request': return `REPAIR-REQUEST from=${msg.from}`;
    case 'repair': return `REPAIR from=${msg.from} blocks=${msg.blocks.length} commit=${msg.commit}`;
    case 'install-request': return `INSTALL-REQUEST commit=${msg.commit} offset=${msg.offset}${msg.sha256 ? ' image=' + msg.sha256.slice(0, 10) : ''}`;
    case 'install-chunk': return `INSTALL-CHUNK depth=${msg.depth} offset=${msg.offset} bytes=${Math.floor(msg.data.length * 3 / 4)} total=${msg.total}`;
    case 'backfill-request': return `BACKFILL-REQUEST ${msg.from}..${msg.to}`;
    case 'backfill': return `BACKFILL from=${msg.from} blocks=${msg.blocks.length}`;
  }
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}
