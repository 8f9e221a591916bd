/**
 * FINDING 4 (liveness bound, not safety) — churn seed 2020 fails the simulator's own recovery
 * bound on the unmodified code.
 *
 * P2 crashes at t=415 ms and stays down until the heal at 12,000 ms (a 30% `downFor: Infinity`
 * crash that is not one of the `gone` nodes), 2,500 blocks behind. After the heal it catches up
 * by repair, `batchMax` = 16 blocks per round trip, serially: ~160 round trips. The bound
 * (RECOVERY_ROUNDS x (election timeout + client timeout) = 3,675 ms) counts election rounds, not
 * the backlog, and `converged()` requires every chain at the same depth: missed by 2 ms.
 */
import { strict as assert } from 'node:assert';
import { runSim } from '../../src/sim/simulator';

describe('attack (fixed): recovery bound vs a long backlog', () => {
  it('churn seed 2020 converges within the recovery bound', function () {
    this.timeout(120_000);
    const r = runSim({ seed: 2020, profile: 'churn' });
    assert.ok(r.ok, `${r.violation?.property}: ${r.violation?.detail.slice(0, 400)}`);
  });
});
