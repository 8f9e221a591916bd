/**
 * Swarm testing (TigerBeetle's VOPR): each seed draws which faults it has and how often, so
 * across seeds every mix is tried, from calm runs to storms. Timers in the default shape are
 * retransmit 100 ms, election 600 ms; delays and stalls reach several election timeouts, so
 * promises, accepts and decides arrive after newer terms began.
 */
import { Prng } from './prng';

export interface Swarm {
  /** Production-sized parameters (the node's real timers, batches and windows; many keys). */
  production: boolean;
  /** Small seeds only: byte and queue bounds so tight that accepts, repairs and forwards are cut short and queues fill (clients told `busy`). */
  tightBounds: boolean;
  faultMs: number;
  // ---- network ----
  baseDelayMs: number;
  jitterMs: number;
  drop: number;
  dup: number;
  /** Directed links that stall for a while: what is sent meanwhile arrives, in order, when the stall ends. */
  stalls: number;
  stallMaxMs: number;
  partitions: number;
  linkFlaps: number;
  /** Share of link flaps that cut one direction only (A hears B, B does not hear A). */
  oneWay: number;
  // ---- nodes ----
  crashes: number;
  preciseCrashes: number;
  /** Two nodes crash for good during the faults and never return: liveness with a bare majority. */
  minorityDown: boolean;
  /** Nodes frozen (SIGSTOP, a long GC pause) while the others go on; up to freezeMaxMs each. */
  freezes: number;
  freezeMaxMs: number;
  /** Each node's clock runs at 1 ± up to this rate error. */
  skew: number;
  /** Each node's timer fires up to this late. */
  lateTimerMs: number;
  /** An event-loop turn: inputs within it reach the core as one batch. */
  turnMs: number;
  /** Upper bound of an fsync's duration. */
  diskMs: number;
  /** A failing fsync (EIO) or a full disk (ENOSPC) on a node's next write: it must stop cleanly. */
  diskFaults: number;
  // ---- clients ----
  /** Closed-loop clients (the spec's three; more in production-sized and churn seeds). */
  clients: number;
  duel: number;
  clientTimeoutMs: number;
  /** Clients that crash and restart as new incarnations (request numbers from their clock). */
  clientCrashes: number;
  /** Chance a restarted client's clock stepped backwards. */
  clockBack: number;
}

/**
 * `churn`: a swarm aimed at leader changes, where adoption goes wrong: old leaders cut off with
 * one follower (so a long suffix of an older term survives there), leaders crashed just after
 * they decide (so followers do not know what is decided), dueling candidates.
 */
export type SwarmProfile = 'mixed' | 'churn';

export function drawSwarm(r: Prng, profile: SwarmProfile = 'mixed'): Swarm {
  const s = drawMixed(r);
  if (profile === 'churn') {
    s.partitions = r.int(3, 6);
    s.preciseCrashes = r.int(2, 6);
    s.duel = 0.2 + r.float() * 0.4;
    s.crashes = r.int(0, 3);
    s.clients = 16;
  }
  return s;
}

function drawMixed(r: Prng): Swarm {
  const production = r.chance(0.15);
  const electionMs = production ? 2000 : 600;
  const late = r.chance(0.35); // a seed whose messages can be late by several election timeouts
  return {
    production,
    tightBounds: !production && r.chance(0.3),
    faultMs: r.pick([3000, 3000, 3000, 6000, 12000]),
    baseDelayMs: late && r.chance(0.3) ? r.int(20, 300) : r.int(1, 20),
    jitterMs: late ? r.int(0, 3 * electionMs) : r.chance(0.7) ? r.int(0, 60) : 0,
    drop: r.chance(0.5) ? r.float() * 0.3 : 0,
    dup: r.chance(0.4) ? r.float() * 0.5 : 0,
    stalls: r.chance(0.4) ? r.int(1, 8) : 0,
    stallMaxMs: r.int(100, 4 * electionMs),
    partitions: r.chance(0.6) ? r.int(1, 4) : 0,
    linkFlaps: r.chance(0.5) ? r.int(1, 8) : 0,
    oneWay: r.chance(0.5) ? r.float() : 0,
    // Some seeds get a crash storm: many crashes with quick restarts, which is where forgotten state bites.
    crashes: r.chance(0.25) ? r.int(8, 20) : r.chance(0.6) ? r.int(1, 5) : 0,
    preciseCrashes: r.chance(0.5) ? r.int(1, 6) : 0,
    minorityDown: r.chance(0.1),
    freezes: r.chance(0.35) ? r.int(1, 4) : 0,
    freezeMaxMs: r.int(100, 4 * electionMs),
    skew: r.pick([0, 0, 0.05, 0.3]),
    lateTimerMs: r.pick([0, 0, 20, 250]),
    turnMs: r.pick([0, 0, 1, 5]),
    diskMs: r.pick([0, 1, 3, 10, 60]),
    diskFaults: r.chance(0.2) ? r.int(1, 3) : 0,
    clients: production ? r.pick([3, 8, 16]) : 3,
    duel: r.chance(0.5) ? r.float() * 0.6 : 0,
    clientTimeoutMs: production ? r.int(1500, 4000) : r.int(300, 900),
    clientCrashes: r.chance(0.3) ? r.int(1, 4) : 0,
    clockBack: r.chance(0.5) ? 0.5 : 0,
  };
}

export function swarmText(s: Swarm): string {
  return [
    s.production ? 'production-sized' : s.tightBounds ? 'small, tight bounds' : 'small',
    `faults=${s.faultMs}ms`,
    `delay=${s.baseDelayMs}+${s.jitterMs}ms`,
    `drop=${s.drop.toFixed(2)}`,
    `dup=${s.dup.toFixed(2)}`,
    `stalls=${s.stalls}(<=${s.stallMaxMs}ms)`,
    `partitions=${s.partitions}`,
    `link-flaps=${s.linkFlaps}(one-way ${s.oneWay.toFixed(2)})`,
    `crashes=${s.crashes}`,
    `precise-crashes=${s.preciseCrashes}`,
    s.minorityDown ? 'two-nodes-down-for-good' : '',
    `freezes=${s.freezes}(<=${s.freezeMaxMs}ms)`,
    `skew=${s.skew}`,
    `late-timers<=${s.lateTimerMs}ms`,
    `turn=${s.turnMs}ms`,
    `fsync<=${s.diskMs}ms`,
    `disk-faults=${s.diskFaults}`,
    `clients=${s.clients}`,
    `duel=${s.duel.toFixed(2)}`,
    `client-timeout=${s.clientTimeoutMs}ms`,
    `client-crashes=${s.clientCrashes}`,
    `clock-back=${s.clockBack}`,
  ].filter(Boolean).join(' ');
}
