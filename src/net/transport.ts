/**
 * The ZeroMQ mesh of one process (node or client), as the design asks: it binds one ROUTER
 * that receives everything, and connects one DEALER per peer it sends to (a DEALER with
 * several endpoints would round-robin between them).
 *
 * - Constant delay: each frame waits `delayMs` in a per-link FIFO before it is handed to the
 *   socket; neither the sender nor other links wait.
 * - Link table: a failed link drops frames on enqueue, on dispatch and on receipt.
 * - zeromq v6 allows one pending send per socket, so each DEALER has its own send pump.
 *   `sendTimeout: 0`: a send never waits; EAGAIN means the frame is dropped. For the peers in
 *   nodes.ini the DEALERs are opened at start with `immediate: true`: a frame for a node that
 *   is down is dropped at once rather than queued and replayed as a stale burst when it
 *   returns — Paxos retransmits what matters. A DEALER opened on demand (a reply to a client
 *   that named its own address) queues until its connection is up (`immediate: false`, a
 *   small high-water mark), or its first reply would be lost while connecting.
 *   `linger: 0` so closing never hangs.
 */
import * as zmq from 'zeromq';
import { AnyMessage, decode, describe, encode } from '../../messages';
import { LinkTable } from './links';

export interface TransportOptions {
  /** This process's name: P1..P5, C1..C3, or a benchmark client's id. */
  self: string;
  /** ROUTER endpoint to bind, e.g. tcp://127.0.0.1:7001 (port 0 or * picks a free one). */
  bind: string;
  /** Known peers: name -> endpoint. Others can be reached with an explicit address. */
  peers: ReadonlyMap<string, string>;
  delayMs: number;
  onMessage: (from: string, msg: AnyMessage) => void;
  /** One line per message sent and received (the demo log); omitted with --quiet. */
  trace?: (line: string) => void;
  /** Problems worth a line: undecodable frames, drops. */
  warn: (line: string) => void;
}

// One process may host many clients (the benchmark runs 64), each with a ROUTER, a DEALER per
// node and a connection observer per DEALER: raise ZeroMQ's default limit of 1,024 sockets.
zmq.context.maxSockets = 16_384;

/** Most frames waiting for one peer's socket; beyond it new frames are dropped (Paxos retransmits). */
const MAX_PENDING_PER_PEER = 50_000;

interface PeerSocket {
  name: string;
  address: string;
  socket: zmq.Dealer;
  /** Frames due for sending, in order: [due time, frame]. */
  delayed: [number, string][];
  timer: NodeJS.Timeout | null;
  /** Frames released by the delay and waiting for the socket. */
  ready: string[];
  pumping: boolean;
  dropped: number;
  /** The ZMTP handshake with the peer completed (tracked only until waitForPeers returns). */
  connected: boolean;
}

export class Transport {
  readonly links = new LinkTable();
  private readonly router = new zmq.Router({ linger: 0, receiveHighWaterMark: 100_000 });
  private readonly sockets = new Map<string, PeerSocket>();
  private closed = false;
  private watchDone = false;
  private readonly frames = new WeakMap<AnyMessage, string>();
  private boundAt = '';

  constructor(private readonly o: TransportOptions) {}

  /** The endpoint actually bound (with the real port when asked for port 0). */
  get endpoint(): string {
    return this.boundAt;
  }

  async start(): Promise<void> {
    const bind = this.o.bind.replace(/:0$/, ':*');
    try {
      await this.router.bind(bind);
    } catch (e) {
      throw new Error(`cannot listen on ${this.o.bind}: ${(e as Error).message} (is another process using that port?)`);
    }
    this.boundAt = this.router.lastEndpoint ?? this.o.bind;
    void this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.router) {
        // [routing id, payload]: the routing id is not trusted; the sender is named inside.
        const payload = frames[frames.length - 1];
        const d = decode(payload);
        if (!d.ok) {
          this.o.warn(`dropped a frame from ${d.from ?? 'an unknown sender'}: ${d.reason}`);
          continue;
        }
        if (!this.links.isUp(d.from)) continue; // failLink: accept nothing from that peer
        this.o.trace?.(`${this.o.self} <- ${d.from} ${describe(d.msg)}`);
        try {
          this.o.onMessage(d.from, d.msg);
        } catch (e) {
          this.o.warn(`error handling ${d.msg.kind} from ${d.from}: ${(e as Error).stack ?? e}`);
          throw e;
        }
      }
    } catch (e) {
      if (!this.closed) throw e;
    }
  }

  /** Sends `msg` to `to` after the constant delay; `address` reaches a peer not in the config. */
  send(to: string, msg: AnyMessage, address?: string): void {
    if (this.closed || !this.links.isUp(to)) return;
    const peer = this.peer(to, address);
    if (!peer) {
      this.o.warn(`no address for ${to}: dropped ${describe(msg)}`);
      return;
    }
    // The core hands the same message object to every peer that gets it: encode it once.
    let frame = this.frames.get(msg);
    if (!frame) {
      frame = encode(this.o.self, msg);
      this.frames.set(msg, frame);
    }
    this.o.trace?.(`${this.o.self} -> ${to} ${describe(msg)}`);
    if (this.o.delayMs <= 0) {
      this.release(peer, frame);
      return;
    }
    peer.delayed.push([Date.now() + this.o.delayMs, frame]);
    if (!peer.timer) this.armDelay(peer);
  }

  private armDelay(peer: PeerSocket): void {
    const wait = Math.max(0, peer.delayed[0][0] - Date.now());
    peer.timer = setTimeout(() => {
      peer.timer = null;
      const now = Date.now();
      while (peer.delayed.length > 0 && peer.delayed[0][0] <= now) this.release(peer, peer.delayed.shift()![1]);
      if (peer.delayed.length > 0 && !this.closed) this.armDelay(peer);
    }, wait);
  }

  private release(peer: PeerSocket, frame: string): void {
    if (this.closed || !this.links.isUp(peer.name)) return; // the link may have failed during the delay
    if (peer.ready.length >= MAX_PENDING_PER_PEER) {
      if (peer.dropped++ % 1000 === 0) this.o.warn(`send queue to ${peer.name} is full: dropping`);
      return;
    }
    peer.ready.push(frame);
    if (!peer.pumping) void this.pump(peer);
  }

  private async pump(peer: PeerSocket): Promise<void> {
    peer.pumping = true;
    while (peer.ready.length > 0 && !this.closed) {
      const batch = peer.ready;
      peer.ready = [];
      for (const frame of batch) {
        try {
          await peer.socket.send(frame);
        } catch {
          peer.dropped++; // EAGAIN: the peer is not connected (down or not yet up); a lost message
        }
      }
    }
    peer.pumping = false;
  }

  private peer(name: string, address?: string): PeerSocket | null {
    let p = this.sockets.get(name);
    const addr = address ?? this.o.peers.get(name);
    if (p && addr && p.address !== addr) {
      p.socket.close(); // a client came back on another port
      p = undefined;
    }
    if (p) return p;
    if (!addr) return null;
    const configured = this.o.peers.get(name) === addr;
    // Reconnect every 100 ms without backoff: on loopback or a LAN that is cheap, and a node
    // that restarts is reached (and repaired) within a tenth of a second.
    const socket = configured
      ? new zmq.Dealer({ linger: 0, sendTimeout: 0, immediate: true, sendHighWaterMark: 10_000, reconnectInterval: 100, reconnectMaxInterval: 0 })
      : new zmq.Dealer({ linger: 0, sendTimeout: 0, immediate: false, sendHighWaterMark: 1_000, reconnectInterval: 100, reconnectMaxInterval: 0 });
    const peer: PeerSocket = { name, address: addr, socket, delayed: [], timer: null, ready: [], pumping: false, dropped: 0, connected: false };
    if (configured && !this.watchDone) socket.events.on('handshake', () => { peer.connected = true; });
    socket.connect(addr);
    p = peer;
    this.sockets.set(name, p);
    return p;
  }

  /** Opens the DEALERs to all configured peers now, so the first messages are not lost to connection set-up. */
  connectAll(): void {
    for (const name of this.o.peers.keys()) if (name !== this.o.self) this.peer(name);
  }

  /**
   * Waits until the DEALERs to every configured peer have connected, or `timeoutMs` passed
   * (peers that are down never connect). Without it the first messages after a start are
   * dropped while the connections are still being set up.
   */
  async waitForPeers(timeoutMs: number, only?: (name: string) => boolean): Promise<void> {
    const end = Date.now() + timeoutMs;
    const names = [...this.o.peers.keys()].filter((n) => n !== this.o.self && (!only || only(n)));
    while (Date.now() < end && !names.every((n) => this.sockets.get(n)?.connected)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.watchDone = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.sockets.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.socket.close();
    }
    this.router.close();
  }
}
