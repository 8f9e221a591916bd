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
 */
import * as zmq from 'zeromq';
import { spawnTracked, stopProcess } from './procs';
import { freePorts, latencyStats, LatencyStats, procCpuMs, sleep } from './util';

export interface MessageFloorResult {
  roundTrips: number;
  /** Round-trip time (two one-way messages). */
  rtt: LatencyStats;
  /** CPU of both processes (all threads: main, ZeroMQ I/O, libuv) per one-way message, in µs. */
  cpuUsPerMessage: number;
}

export async function measureMessageFloor(roundTrips = 20_000): Promise<MessageFloorResult> {
  const [inPort, outPort] = await freePorts(2);
  const router = new zmq.Router({ linger: 0 });
  await router.bind(`tcp://127.0.0.1:${outPort}`);
  const child = spawnTracked(process.execPath, [__filename, 'echo', String(inPort), String(outPort)], { stdio: ['ignore', 'inherit', 'inherit'] });
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(`tcp://127.0.0.1:${inPort}`);
  try {
    const replies = router[Symbol.asyncIterator]();
    const ping = (i: number) => dealer.send(JSON.stringify({ from: 'P1', body: { kind: 'ping', i } }));
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
      JSON.parse(String((r.value as Buffer[])[1]));
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const cpu1 = [procCpuMs(process.pid), procCpuMs(child.pid!)];
    const cpuMs = cpu0.every((x) => x !== null) && cpu1.every((x) => x !== null) ? cpu1[0]! - cpu0[0]! + cpu1[1]! - cpu0[1]! : NaN;
    return { roundTrips, rtt: latencyStats(lat), cpuUsPerMessage: (cpuMs * 1000) / (2 * roundTrips) };
  } finally {
    dealer.close();
    router.close();
    await stopProcess(child, 1000);
  }
}

async function echo(inPort: number, outPort: number): Promise<void> {
  const router = new zmq.Router({ linger: 0 });
  await router.bind(`tcp://127.0.0.1:${inPort}`);
  const dealer = new zmq.Dealer({ linger: 0 });
  dealer.connect(`tcp://127.0.0.1:${outPort}`);
  for await (const [, frame] of router) await dealer.send(JSON.stringify(JSON.parse(String(frame))));
}

if (require.main === module && process.argv[2] === 'echo') {
  echo(Number(process.argv[3]), Number(process.argv[4])).catch((e) => {
    process.stderr.write(`message-floor echo: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
