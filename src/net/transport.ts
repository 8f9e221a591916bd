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
 *   that named its own address, and the clients in nodes.ini) queues until its connection is
 *   up (`immediate: false`, a small high-water mark): a client that has just started is not yet
 *   connected back to, and its first answer would otherwise be dropped.
 *   `linger: 0` so closing never hangs.
 *
 * Hostile input (issue #14): every socket has `maxMessageSize` (a huge frame disconnects its
 * sender before it is read); a client request is screened before the node sees it (its reply
 * address must be `tcp://HOST:PORT`, and the one nodes.ini gives a configured client; its key
 * and value must be storable) and refused with an answer when it can be answered; connections
 * opened on demand are bounded (least recently used closed first, idle ones closed); every queue
 * is bounded in frames and bytes; peer-supplied text is escaped and every warning a peer can
 * cause is rate-limited; a failed send, connect or close is a dropped message, never a throw.
 *
 * Security (issue #13): with `security.mode === 'curve'` every link is CurveZMQ (encrypted, and
 * the bound ROUTER admits through the ZAP handler only keys of the cluster's key set: a client's
 * ROUTER only node keys). Every frame is [sender, MAC, message], the MAC under the pairwise key
 * of sender and receiver (src/security/keys.ts): a frame is acted on only if the MAC verifies
 * under the key of the sender it names, the message names the same sender, and that sender may
 * send that kind (src/security/authorize.ts). A reply connection to a client is made with that
 * client's public key as the server key, so only the holder of its secret can take the answers.
 */
import * as zmq from 'zeromq';
import { AnyMessage, ClientReply, ClientRequest, decode, describe, encode, make } from '../../messages';
import {
  BIG_FRAME_BYTES, BIG_FRAME_BYTES_PER_SEC, LEADER_REQUEST_MIN_INTERVAL_MS, MAX_LEADER_REQUESTERS, MAX_DELAYED_BYTES, MAX_DELAYED_FRAMES, MAX_FRAME_BYTES, MAX_MESSAGE_SIZE, MAX_PEER_QUEUE_BYTES, MAX_PEER_QUEUE_FRAMES,
  MAX_RECEIVE_QUEUE_FRAMES, MAX_REPLY_SOCKETS, operationProblem, printable, printableShort, RateLimitedLog, replyAddressProblem,
  REPLY_SOCKET_IDLE_MS,
} from '../limits';
import { refusal } from '../security/authorize';
import { KEY_RESCAN_MIN_INTERVAL_MS, MAC_BYTES } from '../security/keys';
import { LinkSecurity } from '../security/link-security';
import { registerZapDomain } from '../security/zap';
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
  /** Problems worth a line: undecodable frames, drops (rate-limited here). */
  warn: (line: string) => void;
  /**
   * Peers whose DEALER drops frames while not connected (`immediate: true`): the nodes, which
   * retransmit what matters. Default: names of the form P<number>. Every other peer's DEALER
   * queues until connected (a client's first answer must not be lost).
   */
  isNode?: (name: string) => boolean;
  /** CurveZMQ with a key ring, or plain (`--insecure`). */
  security: LinkSecurity;
  /**
   * Sees each message sent (after the size check, before the delay) and each one dropped at a
   * failed link: the events the web view draws (src/events/reporter.ts). Absent (the default,
   * and whenever --events is off): no cost.
   */
  observe?: TransportObserver;
  /** The clock of the large-frame budget (tests freeze it; default Date.now). */
  budgetClock?: () => number;
}

export interface TransportObserver {
  sent(to: string, kind: string): void;
  /** `kind` is null for a frame dropped after its delay (only the encoded frame is at hand). */
  dropped(peer: string, kind: string | null, inbound: boolean): void;
}

/** A frame waiting to be sent: the encoded message and, in secure mode, its MAC for that peer. */
interface OutFrame {
  payload: string;
  mac: Buffer | null;
  bytes: number;
}

// One process may host many clients (the benchmark runs 64), each with a ROUTER, a DEALER per
// node and a connection observer per DEALER: raise ZeroMQ's default limit of 1,024 sockets.
zmq.context.maxSockets = 16_384;

interface PeerSocket {
  name: string;
  address: string;
  socket: zmq.Dealer;
  /** Opened on demand for an address not in nodes.ini (bounded, least recently used closed). */
  onDemand: boolean;
  lastUsed: number;
  /** Frames due for sending, in order: [due time, frame]. */
  delayed: [number, OutFrame][];
  delayedBytes: number;
  timer: NodeJS.Timeout | null;
  /** Frames released by the delay and waiting for the socket. */
  ready: OutFrame[];
  readyBytes: number;
  pumping: boolean;
  dropped: number;
  closed: boolean;
  /** The ZMTP handshake with the peer completed (tracked only until waitForPeers returns). */
  connected: boolean;
}

const defaultIsNode = (name: string) => /^P[0-9]+$/.test(name);
/** After a failed handshake with a configured peer, a new connection to it is tried this much later (on the next send). */
const HANDSHAKE_RETRY_MS = 1_000;

/** The size of a frame in bytes, cheaply: exact only when it could matter. */
function frameBytes(frame: string): number {
  return frame.length * 3 <= MAX_FRAME_BYTES ? frame.length : Buffer.byteLength(frame);
}

export class Transport {
  readonly links = new LinkTable();
  private readonly router = new zmq.Router({ linger: 0, receiveHighWaterMark: MAX_RECEIVE_QUEUE_FRAMES, maxMessageSize: MAX_MESSAGE_SIZE });
  private readonly sockets = new Map<string, PeerSocket>();
  /** The on-demand subset of `sockets`, least recently used first. */
  private readonly onDemand = new Map<string, PeerSocket>();
  private closed = false;
  private watchDone = false;
  private receiving = false;
  private readonly frames = new WeakMap<AnyMessage, string>();
  private boundAt = '';
  private readonly log: RateLimitedLog;
  private readonly isNode: (name: string) => boolean;
  private readonly looksLikeNode: (name: string) => boolean;
  private sweeper: NodeJS.Timeout | null = null;
  private keyWatch: NodeJS.Timeout | null = null;
  private releaseZap: (() => void) | null = null;
  private readonly selfIsNode: boolean;

  constructor(private readonly o: TransportOptions) {
    this.log = new RateLimitedLog(o.warn);
    this.looksLikeNode = o.isNode ?? defaultIsNode;
    // A node is a name the config gives as a node: a key named P9 in the key folder is no node.
    this.isNode = (name) => this.looksLikeNode(name) && o.peers.has(name);
    this.selfIsNode = this.isNode(o.self);
    if (o.security.mode === 'curve') o.security.ring.onProblem = (line) => this.log.warn('key-set', `key set: ${line}`);
  }

  /** The endpoint actually bound (with the real port when asked for port 0). */
  get endpoint(): string {
    return this.boundAt;
  }

  /** Open on-demand reply connections (for tests and the hostile-input suite). */
  get onDemandSockets(): number {
    return this.onDemand.size;
  }

  /**
   * Binds the ROUTER without delivering anything yet: a caller that needs its endpoint to build
   * the handler's state (the client's core needs its reply address) binds, builds, then `start`s.
   */
  async bind(): Promise<string> {
    if (this.boundAt) return this.boundAt;
    const bind = this.o.bind.replace(/:0$/, ':*');
    const sec = this.o.security;
    if (sec.mode === 'curve') {
      const { domain, release } = await registerZapDomain(`chainkv:${this.o.self}`, (key, address) => {
        const name = sec.ring.nameOfKey(key);
        const who = `a connection from ${printableShort(address, 64)}`;
        if (!name) {
          this.log.warn('zap-unknown-key', `refused ${who}: its key is not in the key set`);
          return { refused: 'unknown key' };
        }
        if (!this.selfIsNode && !this.isNode(name)) {
          this.log.warn('zap-not-node', `refused ${who} with the key of ${printableShort(name, 64)}: a client takes connections from nodes only`);
          return { refused: 'not a node' };
        }
        return { name };
      });
      this.releaseZap = release;
      this.router.curveServer = true;
      this.router.curveSecretKey = sec.ring.secretKey;
      this.router.zapDomain = domain;
      this.router.zapEnforceDomain = true; // no handler means no admission, never "any key"
    }
    try {
      await this.router.bind(bind);
    } catch (e) {
      this.releaseZap?.();
      this.releaseZap = null;
      throw new Error(`cannot listen on ${this.o.bind}: ${(e as Error).message} (is another process using that port?)`);
    }
    this.boundAt = this.router.lastEndpoint ?? this.o.bind;
    return this.boundAt;
  }

  /** Binds (if not yet bound) and starts delivering messages to `onMessage`. */
  async start(): Promise<void> {
    await this.bind();
    if (this.receiving) return;
    this.receiving = true;
    this.sweeper = setInterval(() => this.closeIdle(), Math.min(10_000, REPLY_SOCKET_IDLE_MS));
    this.sweeper.unref();
    const sec = this.o.security;
    if (sec.mode === 'curve') {
      // A key added or removed in public/ takes effect within a second, without a restart.
      this.keyWatch = setInterval(() => sec.ring.refresh(), KEY_RESCAN_MIN_INTERVAL_MS);
      this.keyWatch.unref();
    }
    void this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.router) {
        try {
          this.onFrames(frames);
        } catch (e) {
          // Nothing a peer sends may stop this loop: report it (without a stack) and go on.
          this.log.warn('frame-error', `dropped a frame: ${printableShort((e as Error)?.message ?? e, 300)}`);
        }
      }
    } catch (e) {
      if (!this.closed) {
        this.o.warn(`receiving stopped: ${printableShort((e as Error)?.message ?? e, 300)}`);
        throw e;
      }
    }
  }

  /** One received message: checked, authenticated, authorized, then handed to `onMessage`. */
  private onFrames(frames: Buffer[]): void {
    const sec = this.o.security;
    // Plain: [routing id, message]; secure: [routing id, sender, MAC, message]. The routing
    // id is never trusted; in secure mode the sender is whoever the MAC proves.
    const payload = frames[frames.length - 1];
    let claimed: string | null = null;
    if (sec.mode === 'curve') {
      if (frames.length !== 4 || frames[1].byteLength > 64 || frames[2].byteLength !== MAC_BYTES) {
        this.log.warn('bad-envelope', `dropped a frame of ${frames.length - 1} part(s) that is not [sender, MAC, message]`);
        return;
      }
      claimed = frames[1].toString('utf8');
      const v = sec.ring.verify(claimed, payload, frames[2]);
      if (v !== 'ok') {
        // Claims to be a node and claims to be a client are counted apart (a forged node is the graver).
        this.log.warn(this.isNode(claimed) ? 'unauthenticated-node' : 'unauthenticated-client', `dropped a frame claiming to come from ${printableShort(claimed, 64)}: ${v === 'unknown-sender' ? 'no key of that name in the key set' : 'its MAC does not verify under that sender\'s key'}`);
        return;
      }
    } else if (frames.length !== 2) {
      this.log.warn('bad-envelope', `dropped a frame of ${frames.length - 1} parts (plain links carry one)`);
      return;
    }
    if (payload.byteLength > BIG_FRAME_BYTES && !this.bigFrameBudget(payload.byteLength)) {
      this.log.warn('big-frame-rate', `dropped a frame of ${payload.byteLength} bytes undecoded: more than ${BIG_FRAME_BYTES_PER_SEC} bytes of large frames per second`);
      return;
    }
    const d = decode(payload);
    if (!d.ok) {
      this.log.warn('bad-frame', `dropped a frame from ${d.from === undefined ? 'an unknown sender' : printableShort(d.from, 64)}: ${printableShort(d.reason, 200)}`);
      return;
    }
    if (claimed !== null && d.from !== claimed) {
      this.log.warn('sender-mismatch', `dropped a message from ${printableShort(claimed, 64)} that names ${printableShort(d.from, 64)} as its sender`);
      return;
    }
    if (!this.links.isUp(d.from)) { // failLink: accept nothing from that peer
      this.o.observe?.dropped(d.from, d.msg.kind, true);
      return;
    }
    // Who may send what is checked only where the sender is proven (plain links prove nothing).
    const refused = claimed === null ? null : refusal(this.selfIsNode, d.from, this.isNode(d.from), d.msg);
    if (refused) {
      this.log.warn('not-allowed', `dropped ${d.msg.kind} from ${printableShort(d.from, 64)}: ${refused}`);
      return;
    }
    if (d.msg.kind === 'request' && !this.screenRequest(d.from, d.msg as ClientRequest)) return;
    if (d.msg.kind === 'leader' && !this.leaderAllowed(d.from)) return;
    if (this.o.trace) this.o.trace(printable(`${this.o.self} <- ${d.from} ${describe(d.msg)}`));
    try {
      this.o.onMessage(d.from, d.msg);
    } catch (e) {
      // One message must not kill the process: report it (without a stack) and go on.
      this.log.warn('handler-error', `error handling ${d.msg.kind} from ${printableShort(d.from, 64)}: ${printableShort((e as Error)?.message ?? e, 300)}; message dropped`);
    }
  }

  /** When each client's last `Leader` was acted on (insertion order = least recently seen first). */
  private readonly leaderAt = new Map<string, number>();

  /** At most one `Leader` per client per LEADER_REQUEST_MIN_INTERVAL_MS is acted on. */
  private leaderAllowed(from: string): boolean {
    const now = Date.now();
    const last = this.leaderAt.get(from);
    if (last !== undefined && now - last < LEADER_REQUEST_MIN_INTERVAL_MS) {
      this.log.warn('leader-rate', `dropped a Leader request from ${printableShort(from, 64)}: its previous one was ${now - last} ms ago (at most one per ${LEADER_REQUEST_MIN_INTERVAL_MS} ms)`);
      return false;
    }
    this.leaderAt.delete(from);
    this.leaderAt.set(from, now);
    if (this.leaderAt.size > MAX_LEADER_REQUESTERS) this.leaderAt.delete(this.leaderAt.keys().next().value as string);
    return true;
  }

  private bigTokens = BIG_FRAME_BYTES_PER_SEC;
  private bigRefilledAt = 0; // (the bucket starts full)

  /** Token bucket for large frames: whether `bytes` more may be decoded now. */
  private bigFrameBudget(bytes: number): boolean {
    const now = (this.o.budgetClock ?? Date.now)();
    this.bigTokens = Math.min(BIG_FRAME_BYTES_PER_SEC, this.bigTokens + ((now - this.bigRefilledAt) / 1000) * BIG_FRAME_BYTES_PER_SEC);
    this.bigRefilledAt = now;
    if (this.bigTokens < bytes) return false;
    this.bigTokens -= bytes;
    return true;
  }

  /**
   * A client request is checked before anyone acts on it: an unusable reply address is refused
   * with a line (it cannot be answered); a key or value that cannot be stored is refused with
   * an answer to the client. Returns whether to deliver it.
   */
  private screenRequest(from: string, req: ClientRequest): boolean {
    const p = req.pending;
    const client = p.operation.client;
    const addrProblem = this.addressProblem(client, p.replyTo);
    if (addrProblem) {
      this.log.warn('bad-reply-address', `refused a request from ${printableShort(from, 64)} for client ${printableShort(client, 64)}: ${addrProblem}`);
      return false;
    }
    const opProblem = printable(client) !== client ? 'the client name contains a control character' : operationProblem(p.operation.op, p.operation.key, p.operation.value);
    if (opProblem) {
      this.log.warn('bad-request', `refused request #${p.operation.req} of ${printableShort(client, 64)}: ${opProblem}`);
      this.send(client, make(ClientReply, { client, req: p.operation.req, result: `refused: ${opProblem}`, leader: '', depth: 0 }), p.replyTo);
      return false;
    }
    return true;
  }

  /** Why `name` may not be reached at `address`, or null. */
  private addressProblem(name: string, address: string): string | null {
    const configured = this.o.peers.get(name);
    if (configured !== undefined) {
      return address === configured ? null : `${printableShort(address, 100)} is not the address nodes.ini gives ${printableShort(name, 64)}`;
    }
    if (this.looksLikeNode(name)) return `${printableShort(name, 64)} is not a configured node`;
    const problem = replyAddressProblem(address);
    if (problem) return `${problem}: ${printableShort(address, 100)}`;
    for (const [peer, addr] of this.o.peers) if (addr === address) return `${printableShort(address, 100)} belongs to ${peer}`;
    return null;
  }

  /** Sends `msg` to `to` after the constant delay; `address` reaches a peer not in the config. */
  send(to: string, msg: AnyMessage, address?: string): void {
    if (this.closed) return;
    if (!this.links.isUp(to)) {
      this.o.observe?.dropped(to, msg.kind, false);
      return;
    }
    const peer = this.peer(to, address);
    if (!peer) return;
    peer.lastUsed = Date.now();
    if (peer.onDemand) { // most recently used last
      this.onDemand.delete(to);
      this.onDemand.set(to, peer);
    }
    // The core hands the same message object to every peer that gets it: encode it once.
    let payload = this.frames.get(msg);
    if (!payload) {
      payload = encode(this.o.self, msg);
      this.frames.set(msg, payload);
    }
    const bytes = frameBytes(payload);
    if (bytes > MAX_FRAME_BYTES) {
      this.log.warn('frame-too-big', `not sending ${msg.kind} to ${printableShort(to, 64)}: its frame of ${bytes} bytes exceeds ${MAX_FRAME_BYTES} (the receiver would drop it)`);
      return;
    }
    const sec = this.o.security;
    const mac = sec.mode === 'curve' ? sec.ring.mac(to, payload) : null;
    if (sec.mode === 'curve' && !mac) {
      // The socket was opened with `to`'s key, which has since left the key set.
      this.log.warn('no-key', `not sending to ${printableShort(to, 64)}: no public key of that name in the key set`);
      return;
    }
    const frame: OutFrame = { payload, mac, bytes };
    if (this.o.trace) this.o.trace(printable(`${this.o.self} -> ${to} ${describe(msg)}`));
    this.o.observe?.sent(to, msg.kind);
    if (this.o.delayMs <= 0) {
      this.release(peer, frame);
      return;
    }
    if (peer.delayed.length >= MAX_DELAYED_FRAMES || peer.delayedBytes + bytes > MAX_DELAYED_BYTES) {
      peer.dropped++;
      this.log.warn('delay-queue-full', `delay queue to ${printableShort(to, 64)} is full (${peer.delayed.length} frames, ${peer.delayedBytes} bytes): dropping`);
      return;
    }
    peer.delayed.push([Date.now() + this.o.delayMs, frame]);
    peer.delayedBytes += bytes;
    if (!peer.timer) this.armDelay(peer);
  }

  private armDelay(peer: PeerSocket): void {
    const wait = Math.max(0, peer.delayed[0][0] - Date.now());
    peer.timer = setTimeout(() => {
      peer.timer = null;
      const now = Date.now();
      while (peer.delayed.length > 0 && peer.delayed[0][0] <= now) {
        const frame = peer.delayed.shift()![1];
        peer.delayedBytes -= frame.bytes;
        this.release(peer, frame);
      }
      if (peer.delayed.length > 0 && !this.closed && !peer.closed) this.armDelay(peer);
    }, wait);
  }

  private release(peer: PeerSocket, frame: OutFrame): void {
    const bytes = frame.bytes;
    if (this.closed || peer.closed) return;
    if (!this.links.isUp(peer.name)) { // the link failed during the delay
      this.o.observe?.dropped(peer.name, null, false);
      return;
    }
    if (peer.ready.length >= MAX_PEER_QUEUE_FRAMES || peer.readyBytes + bytes > MAX_PEER_QUEUE_BYTES) {
      peer.dropped++;
      this.log.warn('send-queue-full', `send queue to ${printableShort(peer.name, 64)} is full (${peer.ready.length} frames, ${peer.readyBytes} bytes): dropping`);
      return;
    }
    peer.ready.push(frame);
    peer.readyBytes += bytes;
    if (!peer.pumping) void this.pump(peer);
  }

  private async pump(peer: PeerSocket): Promise<void> {
    peer.pumping = true;
    try {
      while (peer.ready.length > 0 && !this.closed && !peer.closed) {
        const batch = peer.ready;
        peer.ready = [];
        peer.readyBytes = 0;
        for (const frame of batch) {
          if (peer.closed) break;
          try {
            await peer.socket.send(frame.mac ? [this.o.self, frame.mac, frame.payload] : frame.payload);
          } catch {
            peer.dropped++; // EAGAIN: the peer is not connected (down or not yet up); a lost message
          }
        }
      }
    } finally {
      peer.pumping = false;
    }
  }

  private peer(name: string, address?: string): PeerSocket | null {
    const configured = this.o.peers.get(name);
    const addr = address ?? configured;
    if (addr === undefined) {
      this.log.warn('no-address', `no address for ${printableShort(name, 64)}: message dropped`);
      return null;
    }
    let p = this.sockets.get(name);
    if (p && p.address === addr) return p;
    const problem = this.addressProblem(name, addr);
    if (problem) {
      this.log.warn('bad-reply-address', `not connecting to ${printableShort(name, 64)}: ${problem}`);
      return null;
    }
    if (p) this.closePeer(p); // a client came back on another port
    const onDemand = configured === undefined;
    if (onDemand) {
      while (this.onDemand.size >= MAX_REPLY_SOCKETS) {
        const [, lru] = this.onDemand.entries().next().value as [string, PeerSocket];
        this.closePeer(lru);
      }
    }
    const node = !onDemand && this.isNode(name);
    const sec = this.o.security;
    let curve = {};
    if (sec.mode === 'curve') {
      // The peer's public key as the server key: only the holder of its secret completes the handshake.
      const serverKey = sec.ring.publicKeyOf(name);
      if (!serverKey) {
        this.log.warn('no-key', `not connecting to ${printableShort(name, 64)}: no public key of that name in the key set`);
        return null;
      }
      curve = { curveServerKey: serverKey, curvePublicKey: sec.ring.publicKey, curveSecretKey: sec.ring.secretKey };
    }
    // Nodes: reconnect every 100 ms without backoff: on loopback or a LAN that is cheap, and a
    // node that restarts is reached (and repaired) within a tenth of a second. Clients: queue
    // until connected; an on-demand address backs off to 2 s, so dead reply addresses cost little.
    const socket = node
      ? new zmq.Dealer({ ...curve, linger: 0, sendTimeout: 0, immediate: true, sendHighWaterMark: 10_000, reconnectInterval: 100, reconnectMaxInterval: 0, maxMessageSize: MAX_MESSAGE_SIZE })
      : new zmq.Dealer({ ...curve, linger: 0, sendTimeout: 0, immediate: false, sendHighWaterMark: 1_000, reconnectInterval: 100, reconnectMaxInterval: onDemand ? 2_000 : 0, maxMessageSize: MAX_MESSAGE_SIZE });
    const peer: PeerSocket = {
      name, address: addr, socket, onDemand, lastUsed: Date.now(), delayed: [], delayedBytes: 0, timer: null,
      ready: [], readyBytes: 0, pumping: false, dropped: 0, closed: false, connected: false,
    };
    if (!onDemand && !this.watchDone) socket.events.on('handshake', () => { peer.connected = true; });
    if (!onDemand) {
      // ZeroMQ never reconnects a socket whose handshake failed (a protocol error: a key the
      // peer refused, or whatever answered at that address while the peer was down sent a bad
      // greeting): say so, and open a new socket on a later send. The configured peers' addresses
      // are fixed and well known, so anyone could otherwise squat one for a moment and cut a link
      // for good.
      const failed = (why: string) => {
        this.log.warn(`handshake-failed-${name}`, `handshake with ${printableShort(name, 64)} at ${printableShort(addr, 100)} failed (${why}); a new connection in ${HANDSHAKE_RETRY_MS} ms`);
        setTimeout(() => { if (!peer.closed) this.closePeer(peer); }, HANDSHAKE_RETRY_MS).unref();
      };
      socket.events.on('handshake:error:auth', () => failed(`${printableShort(name, 64)} refused this process's key: is ${this.o.self}'s public key in its key set?`));
      socket.events.on('handshake:error:protocol', () => failed('a protocol error: not the expected peer or security'));
      socket.events.on('handshake:error:other', () => failed('an error'));
    }
    try {
      socket.connect(addr);
    } catch (e) {
      try { socket.close(); } catch { /* already closed */ }
      this.log.warn('connect-failed', `cannot connect to ${printableShort(name, 64)} at ${printableShort(addr, 100)}: ${printableShort((e as Error)?.message ?? e, 200)}`);
      return null;
    }
    this.sockets.set(name, peer);
    if (onDemand) this.onDemand.set(name, peer);
    return peer;
  }

  private closePeer(p: PeerSocket): void {
    p.closed = true;
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    p.delayed = [];
    p.ready = [];
    p.delayedBytes = p.readyBytes = 0;
    try { p.socket.close(); } catch { /* already closed */ }
    if (this.sockets.get(p.name) === p) this.sockets.delete(p.name);
    if (this.onDemand.get(p.name) === p) this.onDemand.delete(p.name);
  }

  /** Closes on-demand connections unused for REPLY_SOCKET_IDLE_MS (and with nothing to send). */
  private closeIdle(): void {
    const cutoff = Date.now() - REPLY_SOCKET_IDLE_MS;
    for (const p of [...this.onDemand.values()]) {
      if (p.lastUsed >= cutoff) break; // least recently used first: the rest are newer
      if (p.delayed.length === 0 && p.ready.length === 0 && !p.pumping) this.closePeer(p);
    }
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
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.keyWatch) clearInterval(this.keyWatch);
    for (const p of [...this.sockets.values()]) this.closePeer(p);
    try { this.router.close(); } catch { /* already closed */ }
    this.releaseZap?.();
    this.releaseZap = null;
  }
}
