/**
 * Deliberately broken cores: each overrides one rule of `Replica` with a plausible wrong one.
 * The simulator must catch every one of them (test/sim/simulation.test.ts), or its checks have
 * gone blind. They live here, in the test harness, not behind a switch in the production core.
 */
import { AnyMessage, BackfillResponse, Ballot, Block, Operation } from '../../messages';
import { Random } from '../chain';
import { DurableState } from '../core/durable';
import { StateMachine } from '../core/state-machine';
import { CoreConfig, Leadership, Replica, SuffixOffer } from '../core/replica';

export const MUTATIONS = [
  'forget-promise', 'skip-adoption', 'no-dedupe', 'adopt-longest', 'leader-vote-early', 'accept-nosync', 'commit-by-index',
  'adopt-highest-suffix', 'checkpoint-tentative', 'checkpoint-no-dedupe', 'forget-cut-tail', 'backfill-unverified',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

export const MUTATION_HELP: Record<Mutation, string> = {
  'forget-promise': 'an acceptor forgets its promises on restart (applied by the store loader)',
  'skip-adoption': 'a new leader ignores the promised suffixes',
  'no-dedupe': 'a leader proposes a retried request again',
  'adopt-longest': "a new leader adopts the longest promised suffix, not the highest-term one (the seed document's literal wording)",
  'leader-vote-early': 'the leader counts its own vote before its own fsync',
  'accept-nosync': 'an acceptor sends `accepted` before its accept record is fsynced',
  'commit-by-index': 'a node learns "decided" by index alone, without the hash check',
  'adopt-highest-suffix': "a new leader adopts the highest-term suffix whole (this core's rule before byte-capped accepts made it unsafe)",
  'checkpoint-tentative': "a checkpoint's dictionary includes the tentative (undecided) blocks (applied by the checkpoint writer)",
  'checkpoint-no-dedupe': 'a checkpoint leaves out the request-dedupe sessions (applied by the checkpoint writer)',
  'forget-cut-tail': "an acceptor entering a new term drops its blocks beyond a byte-capped accept, though the leader's log holds them (this core's rule before session 6)",
  'backfill-unverified': 'a backfilling node stores the blocks it is sent below what it holds, without checking where they belong or that they hash back from the anchor',
};

class SkipAdoption extends Replica {
  protected override chooseAdoption(): Block[] { return []; }
}
class NoDedupe extends Replica {
  protected override isKnown(_op: Operation): boolean { return false; }
}
/** The longest promised suffix, whole, whatever its term (offers that contradict the decided prefix are already gone). */
class AdoptLongest extends Replica {
  protected override chooseAdoption(offers: readonly SuffixOffer[]): Block[] {
    let best: SuffixOffer | null = null;
    for (const o of offers) if (!best || o.from + o.blocks.length > best.from + best.blocks.length) best = o;
    return best ? best.blocks.slice(this.durable.commit - best.from) : [];
  }
}

/** The suffix of the highest term, whole (the longest among equals): safe only if every acceptor holds a term's whole log. */
class AdoptHighestSuffix extends Replica {
  protected override chooseAdoption(offers: readonly SuffixOffer[]): Block[] {
    let best: SuffixOffer | null = null;
    for (const o of offers) {
      const cmp = best ? Ballot.compareTerm(o.ballot, best.ballot) : 1;
      if (cmp > 0 || (cmp === 0 && o.from + o.blocks.length > best!.from + best!.blocks.length)) best = o;
    }
    return best ? best.blocks.slice(this.durable.commit - best.from) : [];
  }
}
class ForgetCutTail extends Replica {
  protected override keptBeyondCut(): Block[] { return []; }
}
/** Trusts a backfill answer: places it right below what it holds (a late or duplicated answer lands at the wrong depth) and checks no hash. */
class BackfillUnverified extends Replica {
  protected override backfillPlace(m: BackfillResponse, b: { low: number; top: number }): number | null {
    return b.top - m.blocks.length >= b.low ? b.top - m.blocks.length : null;
  }
  protected override backfillProblem(): string | null { return null; }
}
class LeaderVoteEarly extends Replica {
  protected override ownVoteEnd(_l: Leadership): number { return this.durable.end; }
}
class AcceptNoSync extends Replica {
  protected override vouchesForDisk(msg: AnyMessage): boolean { return msg.kind === 'promise' || msg.kind === 'prepare'; }
}
class CommitByIndex extends Replica {
  protected override holdsDecided(_commit: number, _hash: string): boolean { return true; }
}

/** A core with `mutation`'s bug planted (or the real one); `forget-promise` acts in the store loader. */
export function makeReplica(mutation: Mutation | undefined, cfg: CoreConfig, state: DurableState, random: Random, opts: { voteFloor?: number; sm?: StateMachine }): Replica {
  switch (mutation) {
    case 'skip-adoption': return new SkipAdoption(cfg, state, random, opts);
    case 'no-dedupe': return new NoDedupe(cfg, state, random, opts);
    case 'adopt-longest': return new AdoptLongest(cfg, state, random, opts);
    case 'leader-vote-early': return new LeaderVoteEarly(cfg, state, random, opts);
    case 'accept-nosync': return new AcceptNoSync(cfg, state, random, opts);
    case 'commit-by-index': return new CommitByIndex(cfg, state, random, opts);
    case 'adopt-highest-suffix': return new AdoptHighestSuffix(cfg, state, random, opts);
    case 'forget-cut-tail': return new ForgetCutTail(cfg, state, random, opts);
    case 'backfill-unverified': return new BackfillUnverified(cfg, state, random, opts);
    default: return new Replica(cfg, state, random, opts);
  }
}
