/**
 * Building blocks of hand-built five-core schedules (on HandNet): the small-bounds config, a
 * seeded random source, an election with chosen voters, a replication round, and the blocks
 * decided at a depth. Shared by the mutant schedules and the attack tests.
 */
import { Accept, Ballot, Block, ClientRequest, LeaderRequest, make, Operation, PendingOp } from '../../messages';
import { blockHash, GENESIS_POINTER, mineBlock } from '../../src/chain';
import { DurableState } from '../../src/core/durable';
import { CoreConfig, Replica } from '../../src/core/replica';
import { HandNet } from './hand-net';

/** Small bounds: batches of 4 blocks, a window of 8, 1 MiB of bytes (override with `over`). */
export const handCfg = (id: number, over: Partial<CoreConfig> = {}): CoreConfig => ({
  id, nodes: 5, retransmitMs: 100, heartbeatMs: 200, electionTimeoutMs: 600, lazyMs: 0, batchMax: 4, windowMax: 8, queueMax: 100,
  batchMaxBytes: 1 << 20, windowMaxBytes: 1 << 20, queueMaxBytes: 1 << 24, ...over,
});

/** A seeded linear-congruential source of nonces (each test file its own). */
export function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** A client's put of `value` to key k (request number `req`). */
export const putRequest = (client: string, value: string, req = 1) =>
  make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', value, client, req), client) });

/** `n` mined blocks of puts to k, linked from `below`. */
export function minedChain(n: number, tag: string, random: () => number, below = GENESIS_POINTER): Block[] {
  const out: Block[] = [];
  let head = below;
  for (let i = 0; i < n; i++) {
    const b = mineBlock(Operation.of('put', 'k', `"${tag}${i}"`, 'C1', i + 1), head, random).block;
    out.push(b);
    head = blockHash(b);
  }
  return out;
}

/** Every node's decided block at `depth` (hash), for those that decided one. */
export function decidedAt(net: HandNet, depth: number): Set<string> {
  const hashes = new Set<string>();
  for (const r of net.R) if (r.commit > depth) hashes.add(r.durable.hash(depth)!);
  return hashes;
}

/** The names of the nodes holding `hash` at `depth` (in memory). */
export const holdersOf = (net: HandNet, depth: number, hash: string): string[] =>
  net.R.filter((r) => r.durable.end > depth && r.durable.hash(depth) === hash).map((r) => r.name);

/** A client asks node `leader` to lead; only `voters` hear its prepare, fsync and promise. */
export function electWith(net: HandNet, leader: number, voters: number[]): void {
  net.step(leader, { type: 'message', from: 'C2', msg: make(LeaderRequest, {}) });
  net.sync(leader);
  for (const v of voters) net.deliver(`P${leader}`, `P${v}`, 'prepare');
  for (const v of voters) net.sync(v);
  for (const v of voters) net.deliver(`P${v}`, `P${leader}`, 'promise');
}

/** The leader's accepts reach `voters`, who fsync and answer. */
export function replicateTo(net: HandNet, leader: number, voters: number[]): void {
  for (const v of voters) net.deliver(`P${leader}`, `P${v}`, 'accept');
  for (const v of voters) net.sync(v);
  for (const v of voters) net.deliver(`P${v}`, `P${leader}`, 'accepted');
}

/** A put of about 400 estimated bytes: under `cutCfg`'s 1,000-byte cap an accept holds two. */
const bigPut = (client: string, req: number) =>
  make(ClientRequest, { pending: PendingOp.of(Operation.of('put', 'k', `"${'v'.repeat(60)}-${req}"`, client, req), client) });

/**
 * The cut-accept schedule (seed 9502443's, by hand). P4 leads <1,4> and replicates four blocks to
 * P1 and P2, whose accepted replies are still on their way to it. P2 wins <2,2> with P1 and P3 and
 * adopts the four blocks; its first accept to P1 is cut by the byte cap to the first two (the
 * `twist` decides what happens to it; by default P1 takes it and fsyncs). Then P4's delayed
 * replies arrive and it decides all four (P1, P2 and P4 held them under <1,4>). Then P3 wins <3,3>
 * with P1 and P5 only and puts a new block: at depth 2 if P1 forgot its blocks beyond the cut,
 * past depth 4 if it kept them. Returns the network and the hash of block 2 as P4 decided it.
 */
export function cutAcceptSchedule(make5: (c: CoreConfig, s: DurableState, r: () => number) => Replica, random: () => number,
  twist: (net: HandNet, first: Accept) => void = (n) => { n.deliver('P2', 'P1', 'accept'); n.sync(1); }): { net: HandNet; b2: string } {
  const net = new HandNet([[], [], [], [], []], (id) => handCfg(id, { batchMaxBytes: 1000 }), random, make5);
  electWith(net, 4, [1, 2]);
  if (!net.R[3].isLeader) throw new Error('P4 did not win <1,4> with P1 and P2');
  net.sync(4);
  net.drop(() => true);
  for (let i = 1; i <= 4; i++) net.step(4, { type: 'message', from: 'C1', msg: bigPut('C1', i) });
  for (let round = 0; round < 4; round++) {
    for (const v of [1, 2]) net.deliver('P4', `P${v}`, 'accept');
    for (const v of [1, 2]) net.sync(v);
    net.step(4, { type: 'tick' });
  }
  net.sync(4);
  if (net.R[0].durable.end !== 4 || net.R[1].durable.end !== 4) throw new Error('P1 and P2 should hold the four blocks');
  const b2 = net.R[0].durable.hash(2)!;
  const late = net.pending().filter((x) => x.to === 'P4' && x.msg.kind === 'accepted');
  net.drop((x) => x.to === 'P4' || x.from === 'P4'); // P4 freezes: its replies wait (kept in `late`)
  electWith(net, 2, [1, 3]);
  if (!net.R[1].isLeader) throw new Error('P2 did not win <2,2> with P1 and P3');
  net.sync(2);
  const first = net.pending().find((x) => x.from === 'P2' && x.to === 'P1' && x.msg.kind === 'accept')!;
  const accept = first.msg as Accept;
  if (accept.blocks.length !== 2) throw new Error(`the byte cap should cut P2's first accept to P1 to two blocks, not ${accept.blocks.length}`);
  net.drop((x) => !(x.from === 'P2' && x.to === 'P1' && x.msg === first.msg));
  twist(net, accept);
  net.drop(() => true);
  for (const x of late) net.step(4, { type: 'message', from: x.from, msg: x.msg }); // P4 thaws
  if (net.R[3].commit !== 4) throw new Error(`P4 should decide all four blocks with P1 and P2 (commit ${net.R[3].commit})`);
  net.drop(() => true);
  electWith(net, 3, [1, 5]);
  if (!net.R[2].isLeader) throw new Error('P3 did not win <3,3> with P1 and P5');
  net.sync(3);
  net.step(3, { type: 'message', from: 'C2', msg: putRequest('C2', '"other"') });
  net.sync(3);
  for (let round = 0; round < 6; round++) {
    net.step(3, { type: 'tick' });
    replicateTo(net, 3, [1, 5]);
    net.sync(3);
  }
  if (net.R[2].commit < 3) throw new Error(`P3 should decide past depth 2 (commit ${net.R[2].commit})`);
  return { net, b2 };
}

/** An acceptor's durable state: promised and accepted `blocks` under `ballot`, decided below `commit`. */
export function votedState(blocks: Block[], ballot: Ballot, commit = 0): DurableState {
  const st = new DurableState();
  st.apply({ t: 'promise', ballot });
  st.apply({ t: 'accept', ballot, from: 0, blocks });
  if (commit > 0) st.apply({ t: 'decide', commit });
  return st;
}
