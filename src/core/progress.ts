/**
 * The leader's view of its followers (etcd raft's `tracker/`): how far each holds my log, what
 * each last said of its decided prefix, what it still owes me, and the quorum that decides.
 */
import { Ballot } from '../../messages';

/** Progress represents a follower's progress in the view of the leader. */
export interface PeerProgress {
  /** Next index to send from (optimistic: advanced when sent). */
  next: number;
  /** Blocks below `match` are known held under this leader's term. */
  match: number;
  /** Peer's first uncommitted index, as last reported. */
  commit: number;
  /** When we last sent this peer anything. */
  sentAt: number;
  /** Whether it still owes us an answer (then we retransmit; else we only send heartbeats). */
  outstanding: boolean;
  /** When we last heard from this peer in this term. */
  heardAt: number;
  /**
   * The commit index moved since this peer was last sent it: a decide is due on the next tick
   * (for a lazy peer, it rides on the next lazy accept; a leader that steps down sends it at once).
   */
  decideOwed: boolean;
  /** Blocks were proposed that this peer has not been sent: they go in one accept once `lazyMs` has passed since the last. */
  lazy: boolean;
}

export interface Leadership {
  ballot: Ballot;
  peers: Map<number, PeerProgress>;
  /** My own log is durable below this depth: only that much of my own vote counts toward a quorum. */
  durableEnd: number;
  /** [output seq, log end] of my accept records not yet known durable. */
  unsynced: [number, number][];
}

/**
 * The highest depth held by a majority (me included, counting only my durable log): every block
 * below it is decided. `ownEnd` is how far my own vote counts.
 */
export function quorumEnd(ownEnd: number, peers: ReadonlyMap<number, PeerProgress>, majority: number): number {
  const matches = [ownEnd];
  for (const pp of peers.values()) matches.push(pp.match);
  matches.sort((a, b) => b - a);
  return matches[majority - 1];
}

/**
 * Whether a majority (me included) has answered within `withinMs` (CheckQuorum, as in etcd's
 * raft): a leader that cannot reach a majority stops claiming to lead, so a client that asks it
 * to lead gets an election instead of "I already lead".
 */
export function hearsMajority(peers: ReadonlyMap<number, PeerProgress>, now: number, withinMs: number, majority: number): boolean {
  let heard = 1;
  for (const pp of peers.values()) if (now - pp.heardAt <= withinMs) heard++;
  return heard >= majority;
}
