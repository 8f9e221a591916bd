/**
 * The consensus core's contract with whoever runs it (the host loop, the tests): its
 * configuration, what goes in (`Input`) and what comes out (`Output`: records to persist, messages
 * to send, decided blocks, log lines). See replica.ts for the rules and README "Protocol".
 */
import { AnyMessage, Ballot, Block, Operation } from '../../messages';
import { operationDigest } from '../chain';
import { DurableBase, DurableRecord } from './durable';
import { Session } from './state-machine';

export interface CoreConfig {
  /** This node's process id, 1..nodes. */
  id: number;
  /** Cluster size (5). */
  nodes: number;
  /** Resend an unanswered accept, prepare, forward or repair request after this long. */
  retransmitMs: number;
  /** An idle leader sends an empty accept this often (it carries the commit index and finds lagging nodes). */
  heartbeatMs: number;
  /** A candidate without a majority gives up after this long (a client will ask again). */
  electionTimeoutMs: number;
  /**
   * Peers outside the eager majority get the blocks held back for them (and the commit index)
   * at most this often: each such accept costs the peer a wake-up and an fsync however few
   * blocks it carries. Also how far behind such a peer may fall while the leader is healthy.
   */
  lazyMs: number;
  /** Most blocks (or operations) in one accept, repair, refusal or forward. */
  batchMax: number;
  /** ... and most bytes (estimated, see sizes.ts), so any legal value size fits in a frame. */
  batchMaxBytes: number;
  /** Most tentative (proposed, undecided) blocks a leader keeps in flight. */
  windowMax: number;
  /** ... and most bytes: a promise carries the whole tentative suffix, so this bounds it too. */
  windowMaxBytes: number;
  /** Most operations a node holds in its queue; beyond it, new requests are refused as `busy`. */
  queueMax: number;
  /** ... and most bytes of them. */
  queueMaxBytes: number;
  /**
   * A node whose decided depth is more than this many blocks behind a peer's asks that peer for
   * its checkpoint instead of repairing block by block (INSTALL_THRESHOLD_BLOCKS if unset).
   */
  installThresholdBlocks?: number;
}

/**
 * Default install threshold: repair moves about 20,000 blocks a second here, so below this a
 * node is caught up by repair within a second; above it, an install (one dictionary) is cheaper.
 */
export const INSTALL_THRESHOLD_BLOCKS = 20_000;
/** Largest checkpoint image a node assembles from chunks (bytes); a bigger offer is refused. */
export const MAX_INSTALL_BYTES = 512 * 1024 * 1024;

/** Highest ballot seq taken from any message: beyond it a ballot is refused (a forged seq near 2^53 would end all elections). */
export const MAX_BALLOT_SEQ = 2 ** 40;
/** One message's worth of blocks, in bytes (estimated): a quarter of the codec's 16 MiB frame limit. */
export const BATCH_MAX_BYTES = 4 * 1024 * 1024;


export function defaultCoreConfig(id: number, delayMs: number, nodes = 5): CoreConfig {
  const rtt = 2 * delayMs;
  return {
    id,
    nodes,
    retransmitMs: rtt + 300,
    heartbeatMs: rtt + 1000,
    electionTimeoutMs: 3 * rtt + 2000,
    lazyMs: 50,
    batchMax: 1000,
    batchMaxBytes: BATCH_MAX_BYTES,
    windowMax: 1000,
    windowMaxBytes: BATCH_MAX_BYTES,
    queueMax: 100_000,
    queueMaxBytes: 64 * 1024 * 1024,
  };
}

export type Input =
  | { type: 'message'; from: string; msg: AnyMessage }
  | { type: 'tick' }
  /** The records of every output up to `Output.seq === through` are now durable (fsynced). */
  | { type: 'synced'; through: number }
  /**
   * From the host (blocks.dat): decided blocks [from, to) are not held and block to-1 hashes to
   * `topHash`; fetch them from peers, newest first, verifying each back from there.
   */
  | { type: 'backfill'; from: number; to: number; topHash: string };

export interface Outbound {
  to: string;
  msg: AnyMessage;
  /**
   * Must not leave before this output's records are durable: a promise, an accepted reply, or
   * a prepare (whose term must never be reused after a crash). Everything else may go at once —
   * a leader's accepts, for one, travel while its own copy is being fsynced.
   */
  afterSync: boolean;
  /** For replies to clients: the endpoint the client gave (nodes do not all know every client). */
  address?: string;
}

export interface Decided {
  depth: number;
  block: Block;
  result: string;
}

export interface Output {
  /** Numbers the outputs that persist something, for `{ type: 'synced', through }`. */
  seq: number;
  persist: DurableRecord[];
  /** True when a record in `persist` must be fsynced before any message is sent. */
  sync: boolean;
  send: Outbound[];
  decided: Decided[];
  /** Human-readable lines for the demo log (elections, nonces, commits, leader changes). */
  events: string[];
  /** One line per block mined or decided (nonce, hash): the spec's demo output; hidden by --quiet. */
  blockEvents: string[];
  /**
   * A peer's checkpoint was installed: the host writes it as this node's checkpoint file
   * (durably) after the first `at` records of `persist` and before the others (the `install`
   * record among them). `base` is the acceptor state right after the install.
   */
  install?: InstallAction;
  /** Peers asking for my checkpoint: the host answers each with a chunk of its image. */
  serve: ServeRequest[];
  /** Verified decided blocks below the hole's top, for the host to write into blocks.dat. */
  backfill: { from: number; blocks: Block[] }[];
}

export interface InstallAction {
  at: number;
  base: DurableBase;
  dict: [string, string][];
  sessions: [string, Session][];
  /** The bytes as received (the peer's checkpoint file). */
  bytes: number;
  from: string;
}

export interface ServeRequest {
  to: string;
  commit: number;
  sha256: string;
  offset: number;
}

export type Role = 'follower' | 'candidate' | 'leader';


/** A tentative suffix on offer to a new leader: `blocks` from depth `from`, accepted under `ballot`. */
export interface SuffixOffer {
  ballot: Ballot;
  from: number;
  blocks: Block[];
}



export const pname = (id: number): string => `P${id}`;
/** A request as people read it: client and number. */
export const requestId = (op: Operation): string => `${op.client}#${op.req}`;
/** A request as the core keys it: client, number and contents (see `operationDigest`). */
export const requestKey = (op: Operation): string => `${op.client}#${op.req}#${operationDigest(op)}`;
