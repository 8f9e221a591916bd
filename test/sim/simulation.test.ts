/**
 * The simulator in CI: thousands of seeded fault schedules, fixed regression seeds, and
 * mutants that prove the checks can fail. `CHAINKV_SIM_SEEDS` overrides the seed count.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import { formatFailure, runSeeds } from '../../src/cli/sim-main';
import { Mutation } from '../../src/sim/mutants';
import { runSim, SimOptions } from '../../src/sim/simulator';
import { SwarmProfile } from '../../src/sim/swarm';

const SEEDS = Number(process.env.CHAINKV_SIM_SEEDS ?? 2000);
const CHURN_SEEDS = Math.max(20, Math.round(SEEDS / 6));
const WORKERS = Math.max(1, os.availableParallelism());

/** Seeds that once found real bugs, with the options they were found with; each must stay green. (The simulator of issue 12 draws differently, so they no longer replay the schedules that found those bugs; the bugs themselves have unit tests in test/core.) */
const REGRESSION_SEEDS: [number, Partial<SimOptions>][] = [
  ...[16, 71, 225, 241, 257, 261, 391].map((seed): [number, Partial<SimOptions>] => [seed, {}]), // adoption ignored a promise whose suffix was empty but whose term was highest
  [1001812, {}], // an acceptor treated a stale leader's block that lost to a decided one as a broken invariant
  [302699, {}], // followers whose hints formed a cycle re-forwarded operations round it (and duplicates multiplied them)
  // A leader that decided and stepped down before its next tick never told anyone (decides are
  // sent lazily). Found before lazyMs existed: with held-back decides these seeds run differently.
  [116507, { lazyMs: 0 }], [119744, { lazyMs: 0 }],
  // Found by the simulator of issue 12 (the first two before client sessions changed the draws:
  // they no longer replay the finding; unit and attack tests pin those fixes):
  [7100152, {}], // adoption took a term's partial log whole (byte-capped accepts) and lost a block decided under a lower term
  [7100100, {}], // a restarted client (clock stepped back) got another life's cached answer
  [3012335, {}], // a node's repair stopped at a peer that had less, though another had reported more; no leader was left to tell it
  [272, { profile: 'churn' }], [2020, { profile: 'churn' }], // a node far behind at the heal: convergence needs time per missing block
  [5001909, {}], // nodes crashing in turn: the liveness check must watch one majority, not any
  [6000422, {}], // two nodes down for good: a client may try each once after the heal
  [9502443, { profile: 'churn' }], // a new leader's first accept, cut by the byte cap, made an acceptor drop votes an older leader then counted to decide a block
];

describe('simulation: randomized faults with replayable seeds', function () {
  this.timeout(600_000);

  it('a seed replays exactly', () => {
    const a = runSim({ seed: 4242, trace: true });
    const b = runSim({ seed: 4242, trace: true });
    assert.deepEqual(a.trace, b.trace);
    assert.deepEqual(a.stats, b.stats);
    assert.ok(a.stats.opsCompleted >= 9, 'the run did real work');
  });

  it('regression seeds stay green', () => {
    for (const [seed, opts] of REGRESSION_SEEDS) {
      const r = runSim({ seed, ...opts });
      assert.ok(r.ok, r.ok ? '' : formatFailure(runSim({ seed, ...opts, trace: true }), 40));
    }
  });

  it(`${CHURN_SEEDS} churn seeds (leader changes): every check`, async () => {
    const s = await runSeeds(2_000_000, CHURN_SEEDS, WORKERS, { profile: 'churn' }, () => {});
    const first = s.failed[0];
    assert.equal(s.failed.length, 0, first ? formatFailure(runSim({ seed: first.seed, profile: 'churn', trace: true }), 60) : '');
    assert.ok(s.elections > CHURN_SEEDS * 5, `only ${s.elections} elections`);
    assert.ok(s.installs > CHURN_SEEDS / 5 && s.backfillsDone > CHURN_SEEDS / 5, `installs during elections and partitions: ${s.installs}, backfills completed ${s.backfillsDone}`);
    process.stdout.write(`      ${CHURN_SEEDS} churn seeds in ${s.seconds.toFixed(1)} s, ${s.opsCompleted} ops, ${s.elections} elections\n`);
  });

  it(`${SEEDS} seeds: agreement, validity, linearizability, durability, at-most-once, liveness`, async () => {
    const s = await runSeeds(1_000_000, SEEDS, WORKERS, {}, () => {});
    const first = s.failed[0];
    assert.equal(s.failed.length, 0, first ? formatFailure(runSim({ seed: first.seed, trace: true }), 60) : '');
    // Guard against a vacuous run: clients must have got real answers, also while faults were active.
    assert.ok(s.opsCompleted >= SEEDS * 9, `only ${s.opsCompleted} operations completed`);
    assert.ok(s.opsDuringFaults > SEEDS * 3, `only ${s.opsDuringFaults} operations completed during faults`);
    assert.ok(s.crashes > SEEDS / 2 && s.elections > SEEDS, 'faults and elections happened');
    // Every new fault kind was drawn, and the liveness-during-faults check had windows to watch.
    assert.ok(s.freezes > 0 && s.lateMessages > 0 && s.clientRestarts > 0 && s.busy > 0 && s.livenessWindows > 0, JSON.stringify(s));
    // Checkpoints were taken, restarts started from them, and damaged or torn ones were found and passed over.
    assert.ok(s.checkpoints > SEEDS && s.checkpointRestarts > SEEDS / 10 && s.checkpointFallbacks > 0, JSON.stringify(s));
    // Fast catch-up: nodes far behind installed peers' checkpoints, and backfilled the blocks below them to the end.
    assert.ok(s.installs > SEEDS / 20 && s.backfillsDone > SEEDS / 20, `installs ${s.installs}, backfills completed ${s.backfillsDone}`);
    process.stdout.write(`      ${SEEDS} seeds in ${s.seconds.toFixed(1)} s (${(SEEDS / s.seconds).toFixed(0)} seeds/s on ${WORKERS} workers), ${s.opsCompleted} ops, ${s.crashes} crashes, ${s.elections} elections\n`);
  });
});

describe('simulation: deliberately broken cores are caught (the checks are not blind)', function () {
  this.timeout(600_000);
  // Budgets cover the first seed that catches each mutant with room to spare (README: catch rates).
  const mutants: [Mutation, SwarmProfile, number][] = [
    ['skip-adoption', 'mixed', 200],       // a new leader ignores the promised suffixes
    ['no-dedupe', 'mixed', 50],            // a leader proposes a retried request again
    ['forget-promise', 'mixed', 50],       // an acceptor forgets its promises on restart
    ['adopt-longest', 'churn', 1200],      // the longest promised suffix, not the highest-term one (rare: 8 in 2,000)
    ['leader-vote-early', 'mixed', 200],   // the leader counts its own vote before its fsync
    ['accept-nosync', 'mixed', 50],        // `accepted` leaves before the accept record is fsynced
    ['commit-by-index', 'churn', 300],     // "decided" learned by index alone, without the hash
    ['checkpoint-tentative', 'mixed', 100], // a checkpoint's dictionary holds undecided blocks
    ['checkpoint-no-dedupe', 'mixed', 100], // a checkpoint drops the request-dedupe sessions
    ['backfill-unverified', 'mixed', 300], // a backfill stores what it is sent without checking where it belongs or the hashes back from the anchor
  ];
  for (const [mutation, profile, budget] of mutants) {
    it(`catches the "${mutation}" mutant within ${budget} ${profile} seeds`, async () => {
      const s = await runSeeds(1, budget, WORKERS, { mutation, profile }, () => {}, { stopAtFirstFailure: true });
      assert.ok(s.failed.length > 0, `${mutation} survived ${budget} seeds`);
      const safety = s.failed.filter((r) => r.violation!.property !== 'liveness' && r.violation!.property !== 'vacuous');
      assert.ok(safety.length > 0, `${mutation} only tripped liveness: ${s.failed.map((r) => r.violation!.detail).join('; ')}`);
    });
  }
  it('catches the "checkpoint-no-dedupe" mutant by its client-visible effect too (at-most-once), without the replay comparison', async () => {
    const s = await runSeeds(1, 200, WORKERS, { mutation: 'checkpoint-no-dedupe', endToEndChecksOnly: true }, () => {}, { stopAtFirstFailure: true });
    assert.ok(s.failed.some((r) => r.violation!.property === 'at-most-once'), JSON.stringify(s.failed.map((r) => r.violation)));
  });
});
