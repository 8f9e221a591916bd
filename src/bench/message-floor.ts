/**
 * The message floor: what one ZeroMQ message between two Node processes costs on this
 * machine, measured the way chainkv sends (a DEALER connected to the peer's ROUTER, a JSON
 * frame, `await send`, `for await` receive), as a ping-pong with an echo child process.
 *
 * It bounds what any design on this stack can reach: a chainkv operation at low load needs
 * about ten such messages (client -> leader, four accepts, four accepted, the reply) plus an
 * fsync on each node, so CPU per operation cannot drop far below ten times the CPU per message.
 *
 * Child mode: `node message-floor.js echo IN_PORT OUT_PORT` echoes every frame from its ROUTER
 * to a DEALER connected to OUT_PORT.
 *
 * Security modes (issue #13), to show where its cost goes: `curve` puts both links under
 * CurveZMQ; `curve+mac` also does what the secure transport does per frame, a MAC made by the
 * sender and checked by the receiver ([sender, MAC, message]).
 */
import * as zmq from 'zeromq';
import { KeyRing } from '../security/keys';
import { spawnTracked, stopProcess } from './procs';
import { freePorts, latencyStats, LatencyStats, procCpuMs, sleep } from './util';

export type FloorMode = 'plain' | 'curve' | 'curve+mac';

interface FloorKeys { a: { publicKey: string; secretKey: string }; b: { publicKey: string; secretKey: string } }

function sockets(mode: FloorMode, keys: FloorKeys, me: 'a' | 'b'): { router: zmq.Router; dealer: zmq.Dealer; ring: KeyRing | null } {
  if (mode === 'plain') return { router: new zmq.Router({ linger: 0 }), dealer: new zmq.Dealer({ linger: 0 }), ring: null };
  const mine = keys[me];
  const theirs = keys[me === 'a' ? 'b' : 'a'];
  return {
    router: new zmq.Router({ linger: 0, curveServer: true, curveSecretKey: mine.secretKey }),
    dealer: new zmq.Dealer({ linger: 0, curveServerKey: theirs.publicKey, curvePublicKey: mine.publicKey, curveSecretKey: mine.secretKey }),
    ring: mode === 'curve+mac' ? KeyRing.inMemory(me, new Map([['a', keys.a], ['b', keys.b]])) : null,
  };
}

/** The frame the secure transport sends: [sender, MAC, message], or the message alone. */
function envelope(ring: KeyRing | null, to: string, payload: string): string | (string | Buffer)[] {
  return ring ? [ring.self, ring.mac(to, payload)!, payload] : payload;
}

function unwrap(ring: KeyRing | null, frames: Buffer[]): string {
  const payload = frames[frames.length - 1];
  if (ring && ring.verify(String(frames[1]), payload, frames[2]) !== 'ok') throw new Error('message floor: MAC did not verify');
  return String(payload);
}

export interface MessageFloorResult {
  mode?: FloorMode;
  roundTrips: number;
  /** Round-trip time (two one-way messages). */
  rtt: LatencyStats;
  /** CPU of both processes (all threads: main, ZeroMQ I/O, libuv) per one-way message, in µs. */
  cpuUsPerMessage: number;
}

export async function measureMessageFloor(roundTrips = 20_000, mode: FloorMode = 'plain'): Promise<MessageFloorResult> {
  const [inPort, outPort] = await freePorts(2);
  const keys: FloorKeys = { a: zmq.curveKeyPair(), b: zmq.curveKeyPair() };
  const { router, dealer, ring } = sockets(mode, keys, 'a');
  await router.bind(`tcp://127.0.0.1:${outPort}`);
  const child = spawnTracked(process.execPath, [__filename, 'echo', String(inPort), String(outPort), mode], {
    stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CHAINKV_FLOOR_KEYS: JSON.stringify(keys) },
  });
  dealer.connect(`tcp://127.0.0.1:${inPort}`);
  try {
    const replies = router[Symbol.asyncIterator]();
    const ping = (i: number) => dealer.send(envelope(ring, 'b', JSON.stringify({ from: 'P1', body: { kind: 'ping', i } })));
    // Warm up (connection set-up, JIT) until the echo answers.
    for (let i = 0; i < 500; i++) {
      await ping(i);
      await replies.next();
    }
    await sleep(100);
    const lat: number[] = [];
    const cpu0 = [procCpuMs(process.pid), procCpuMs(child.pid!)];
    for (let i = 0; i < roundTrips; i++) {
      const t0 = process.hrtime.bigint();
      await ping(i);
      const r = await replies.next();
      JSON.parse(unwrap(ring, r.value as Buffer[]));
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const cpu1 = [procCpuMs(process.pid), procCpuMs(child.pid!)];
    const cpuMs = cpu0.every((x) => x !== null) && cpu1.every((x) => x !== null) ? cpu1[0]! - cpu0[0]! + cpu1[1]! - cpu0[1]! : NaN;
    return { mode, roundTrips, rtt: latencyStats(lat), cpuUsPerMessage: (cpuMs * 1000) / (2 * roundTrips) };
  } finally {
    dealer.close();
    router.close();
    await stopProcess(child, 1000);
  }
}

async function echo(inPort: number, outPort: number, mode: FloorMode): Promise<void> {
  const { router, dealer, ring } = sockets(mode, JSON.parse(process.env.CHAINKV_FLOOR_KEYS ?? '{}') as FloorKeys, 'b');
  await router.bind(`tcp://127.0.0.1:${inPort}`);
  dealer.connect(`tcp://127.0.0.1:${outPort}`);
  for await (const frames of router) await dealer.send(envelope(ring, 'a', JSON.stringify(JSON.parse(unwrap(ring, frames)))));
}

if (require.main === module && process.argv[2] === 'echo') {
  echo(Number(process.argv[3]), Number(process.argv[4]), (process.argv[5] ?? 'plain') as FloorMode).catch((e) => {
    process.stderr.write(`message-floor echo: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
