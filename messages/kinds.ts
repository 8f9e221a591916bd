/**
 * Every message chainkv sends, one class per kind. `kind` is the discriminator the codec
 * uses; a class's other fields are declared with `field.*` so the decoder can check them.
 */
import { Ballot } from './ballot';
import { Block, Operation } from './block';
import { field } from './schema';

export abstract class Message {
  abstract readonly kind: string;
}

/** A client operation waiting to be decided, with the address its reply goes to. */
export class PendingOp {
  @field.nested(() => Operation) operation: Operation = new Operation();
  /** ZeroMQ endpoint of the client's ROUTER, so any node can answer it. */
  @field.string({ maxLength: 256 }) replyTo = '';

  static of(operation: Operation, replyTo: string): PendingOp {
    const p = new PendingOp();
    p.operation = operation;
    p.replyTo = replyTo;
    return p;
  }
}

/** Client -> node: please apply this operation. */
export class ClientRequest extends Message {
  readonly kind = 'request';
  @field.nested(() => PendingOp) pending: PendingOp = new PendingOp();
}

/** Node -> client: the outcome: "ack" for put, the value or "NO_KEY" for get. */
export class ClientReply extends Message {
  readonly kind = 'reply';
  /** The client it answers (one process may host several clients, as the benchmark does). */
  @field.string({ maxLength: 64 }) client = '';
  @field.int() req = 0;
  @field.string() result = '';
  /** The node that decided it, so the client can update its leader hint. */
  @field.string({ maxLength: 16 }) leader = '';
  /** Depth of the block that holds the operation. */
  @field.int() depth = 0;
  /** `operationDigest` of the operation answered: a client ignores an answer to other contents under its number. */
  @field.string({ maxLength: 64 }) digest = '';
}

/**
 * Node -> client: I hold your request but know of no leader to forward it to. The client then
 * sends this node the spec's `Leader` message at once instead of waiting for its timeout.
 */
export class NoLeader extends Message {
  readonly kind = 'no-leader';
  @field.string({ maxLength: 64 }) client = '';
  @field.int() req = 0;
}

export const REFUSAL_REASONS = ['stale', 'busy'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * Node -> client: your request was not taken, and will not be. `stale`: its number is at or
 * below `lastReq`, a request of yours that already took effect (a restarted client whose clock
 * went back): send it again numbered above `lastReq`. `busy`: my queue is full: retry later.
 */
export class Refused extends Message {
  readonly kind = 'refused';
  @field.string({ maxLength: 64 }) client = '';
  @field.int() req = 0;
  @field.oneOf(REFUSAL_REASONS) reason: RefusalReason = 'stale';
  @field.int() lastReq = 0;
  /** `operationDigest` of the operation refused. */
  @field.string({ maxLength: 64 }) digest = '';
}

/**
 * Node -> client: I forwarded your request to `leader`, the node I believe leads. The client
 * sends its retries there (and takes it as its hint), rather than waiting on me.
 */
export class Redirect extends Message {
  readonly kind = 'redirect';
  @field.string({ maxLength: 64 }) client = '';
  @field.int() req = 0;
  @field.string({ maxLength: 16 }) leader = '';
}

/** Client -> node: the spec's special `Leader` message: try to become leader. */
export class LeaderRequest extends Message {
  readonly kind = 'leader';
}

/** Node -> the node it believes leads: an operation a client gave me. */
export class Forward extends Message {
  readonly kind = 'forward';
  @field.array(() => PendingOp) ops: PendingOp[] = [];
}

/** Phase 1a. `ballot.depth` is the candidate's first uncommitted index. */
export class Prepare extends Message {
  readonly kind = 'prepare';
  @field.nested(() => Ballot) ballot: Ballot = new Ballot();
}

/**
 * Phase 1b. Carries the acceptor's tentative suffix (blocks at `commit`.. accepted under
 * `suffixBallot`) and its pending queue, so the new leader loses neither.
 */
export class PromiseMsg extends Message {
  readonly kind = 'promise';
  @field.nested(() => Ballot) ballot: Ballot = new Ballot();
  @field.int() commit = 0;
  @field.nested(() => Ballot, { optional: true }) suffixBallot?: Ballot;
  @field.array(() => Block) suffix: Block[] = [];
  @field.array(() => PendingOp) queue: PendingOp[] = [];
}

export const NACK_REASONS = ['ballot', 'behind', 'gap'] as const;
export type NackReason = (typeof NACK_REASONS)[number];

/**
 * A refusal that says why: `ballot` (I promised a higher term: `promised`), `behind`
 * (your depth is below my chain's: here are decided blocks from `ballot.depth`), `gap`
 * (your accept does not link to what I hold: resend from `resume`).
 */
export class Nack extends Message {
  readonly kind = 'nack';
  @field.oneOf(NACK_REASONS) reason: NackReason = 'ballot';
  @field.nested(() => Ballot) ballot: Ballot = new Ballot();
  @field.nested(() => Ballot) promised: Ballot = new Ballot();
  @field.int() commit = 0;
  @field.string({ maxLength: 64 }) commitHash = '';
  /** For `gap`: the depth from which the leader should resend. */
  @field.int() resume = 0;
  @field.array(() => Block) blocks: Block[] = [];
}

/** Most block hashes an accept's `tail` names (more than a leader's window and one batch). */
export const MAX_TAIL_HASHES = 4096;
/** Characters of one block hash in hex. */
export const HASH_HEX_CHARS = 64;

/**
 * Phase 2a: blocks from `ballot.depth` on, plus the leader's first uncommitted index. When a byte
 * cap cut the blocks short of the leader's log, `end` is that log's end and `tail` the hashes (hex,
 * concatenated) of the leader's blocks after the cut: an acceptor entering the term keeps (and
 * votes again for) its own blocks there that match, instead of forgetting votes the cut left out.
 */
export class Accept extends Message {
  readonly kind = 'accept';
  @field.nested(() => Ballot) ballot: Ballot = new Ballot();
  @field.array(() => Block) blocks: Block[] = [];
  @field.int() commit = 0;
  @field.string({ maxLength: 64 }) commitHash = '';
  @field.int({ optional: true }) end = 0;
  @field.string({ optional: true, maxLength: MAX_TAIL_HASHES * HASH_HEX_CHARS }) tail = '';
}

/** Phase 2b: I hold your blocks below `end` under `ballot`; my first uncommitted index is `commit`. */
export class Accepted extends Message {
  readonly kind = 'accepted';
  @field.nested(() => Ballot) ballot: Ballot = new Ballot();
  @field.int() end = 0;
  @field.int() commit = 0;
  @field.string({ maxLength: 64 }) commitHash = '';
}

/** Blocks below `commit` are decided; the block at `commit - 1` hashes to `commitHash`. */
export class Decide extends Message {
  readonly kind = 'decide';
  @field.nested(() => Ballot) ballot: Ballot = new Ballot();
  @field.int() commit = 0;
  @field.string({ maxLength: 64 }) commitHash = '';
}

/** Send me your decided blocks from `from` on (first-uncommitted-index repair). */
export class RepairRequest extends Message {
  readonly kind = 'repair-request';
  @field.int() from = 0;
}

/** Decided blocks `from`.. (a batch), and the sender's own first uncommitted index. */
export class RepairResponse extends Message {
  readonly kind = 'repair';
  @field.int() from = 0;
  @field.array(() => Block) blocks: Block[] = [];
  @field.int() commit = 0;
}

/** Most bytes of a checkpoint image in one `install-chunk` (before base64). */
export const MAX_INSTALL_CHUNK_BYTES = 1024 * 1024;
/** Characters of base64 that carry MAX_INSTALL_CHUNK_BYTES. */
export const MAX_INSTALL_CHUNK_CHARS = 4 * Math.ceil(MAX_INSTALL_CHUNK_BYTES / 3);

/**
 * Fast catch-up: send me your checkpoint (a node far behind asks instead of repairing block by
 * block). `sha256` '' asks for your current image from its start; otherwise bytes from `offset`
 * of the image with that sha256. `commit` is mine: an image at or below it is of no use.
 */
export class InstallRequest extends Message {
  readonly kind = 'install-request';
  @field.int() commit = 0;
  @field.string({ maxLength: 64 }) sha256 = '';
  @field.int() offset = 0;
}

/**
 * Bytes `offset`.. of a checkpoint image (base64 `data`): the checkpoint file at decided depth
 * `depth`, `total` bytes long with sha256 `sha256` over all of it. `total` 0: I have none newer
 * than your `commit`.
 */
export class InstallChunk extends Message {
  readonly kind = 'install-chunk';
  @field.int() depth = 0;
  @field.string({ maxLength: 64 }) sha256 = '';
  @field.int() total = 0;
  @field.int() offset = 0;
  @field.string({ maxLength: MAX_INSTALL_CHUNK_CHARS }) data = '';
}

/** Backfill after an install: send me your decided blocks below `to` (down to `from`), newest first. */
export class BackfillRequest extends Message {
  readonly kind = 'backfill-request';
  @field.int() from = 0;
  @field.int() to = 0;
}

/** Decided blocks `from`.. (in depth order), the highest ones of the range asked for; none: I cannot serve it. */
export class BackfillResponse extends Message {
  readonly kind = 'backfill';
  @field.int() from = 0;
  @field.array(() => Block) blocks: Block[] = [];
}

export const MESSAGE_CLASSES = [
  ClientRequest, ClientReply, NoLeader, Refused, Redirect, LeaderRequest, Forward, Prepare, PromiseMsg, Nack,
  Accept, Accepted, Decide, RepairRequest, RepairResponse, InstallRequest, InstallChunk, BackfillRequest, BackfillResponse,
] as const;

export type AnyMessage = InstanceType<(typeof MESSAGE_CLASSES)[number]>;

/** Build a message of class `C` with the given fields (the classes keep zero-argument constructors). */
export function make<C extends AnyMessage>(ctor: new () => C, fields: Omit<Partial<C>, 'kind'>): C {
  return Object.assign(new ctor(), fields);
}
