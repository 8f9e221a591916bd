/**
 * The simulated network: directed links that can be cut (both ways or one way) or stalled,
 * per-message delay with jitter, drops and duplicates drawn from the seed. Delivery is FIFO per
 * directed link (what TCP under ZeroMQ gives); across links, jitter reorders. After the heal
 * new messages travel fast and reliably, but whatever was already in flight still arrives late.
 */
import { Prng } from './prng';
import { Swarm } from './swarm';

export type Link = `${string}>${string}`;
export const link = (from: string, to: string): Link => `${from}>${to}`;

/** After the heal: delays small enough that recovery is bounded by the protocol's timers. */
const HEALED_DELAY_MS = 10;
const HEALED_JITTER_MS = 10;

export class SimNetwork {
  private readonly down = new Set<Link>();
  private readonly stalledUntil = new Map<Link, number>();
  private readonly lastDelivery = new Map<Link, number>();
  private healed = false;
  /** Latest time any message already sent will arrive. */
  lastInFlight = 0;

  constructor(private readonly rng: Prng, private readonly swarm: Swarm) {}

  isDown(from: string, to: string): boolean {
    return this.down.has(link(from, to));
  }

  /** Whether messages on this directed link currently travel without a stall. */
  isFlowing(from: string, to: string, now: number): boolean {
    return !this.down.has(link(from, to)) && (this.stalledUntil.get(link(from, to)) ?? 0) <= now;
  }

  cut(from: string, to: string): void { this.down.add(link(from, to)); }
  fix(from: string, to: string): void { this.down.delete(link(from, to)); }
  stall(from: string, to: string, until: number): void {
    const k = link(from, to);
    this.stalledUntil.set(k, Math.max(until, this.stalledUntil.get(k) ?? 0));
  }

  heal(): void {
    this.healed = true;
    this.down.clear();
    this.stalledUntil.clear();
  }

  /** Whether per-message delays stay below `ms` (the seed's delays, not counting stalls). */
  delaysBelow(ms: number): boolean {
    return this.healed || this.swarm.baseDelayMs + this.swarm.jitterMs <= ms;
  }

  /**
   * When copies of a message sent now arrive (none: dropped). Checked again on arrival: a link
   * cut while the message travels drops it then.
   */
  route(from: string, to: string, now: number): { arrivals: number[]; dropped: 'link down' | 'lost' | null } {
    const k = link(from, to);
    if (this.down.has(k)) return { arrivals: [], dropped: 'link down' };
    const s = this.swarm;
    if (!this.healed && this.rng.chance(s.drop)) return { arrivals: [], dropped: 'lost' };
    const copies = !this.healed && this.rng.chance(s.dup) ? 2 : 1;
    const arrivals: number[] = [];
    for (let i = 0; i < copies; i++) {
      const delay = this.healed ? HEALED_DELAY_MS + this.rng.int(0, HEALED_JITTER_MS) : s.baseDelayMs + this.rng.int(0, s.jitterMs);
      const at = Math.max(now + delay, this.stalledUntil.get(k) ?? 0, this.lastDelivery.get(k) ?? 0);
      this.lastDelivery.set(k, at);
      this.lastInFlight = Math.max(this.lastInFlight, at);
      arrivals.push(at);
    }
    return { arrivals, dropped: null };
  }
}
