/**
 * The link table of the spec's `failLink` / `fixLink`: a failed link is dead in both
 * directions — this process neither sends to the peer nor accepts anything from it.
 */
export class LinkTable {
  private readonly down = new Set<string>();

  fail(peer: string): boolean {
    const was = this.down.has(peer);
    this.down.add(peer);
    return !was;
  }

  fix(peer: string): boolean {
    return this.down.delete(peer);
  }

  isUp(peer: string): boolean {
    return !this.down.has(peer);
  }

  failed(): string[] {
    return [...this.down].sort();
  }
}
