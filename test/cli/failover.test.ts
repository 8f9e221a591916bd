/**
 * Failover without needless waiting, client side: timeouts from the delay and the hops, a
 * waiting request sent again to its node (so a node that came back answers it), and the
 * ...waiting lines.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ClientCore } from '../../src/client/client-core';
import { defaultClientTimeoutMs, defaultDeadlineMs, electionTimeoutMs, FIRST_OPERATION_HOPS, leaderTimeoutMs, resendMs } from '../../src/client/client';
import { ClientReply, NoLeader, Redirect, make } from '../../messages';
import { CLIENT_MAIN, Cluster, ROOT, sleep, stopAll } from '../e2e/harness';

describe('client: timeouts follow the delay and the hops', () => {
  it('derives the attempt, election, resend and deadline times from the delay', () => {
    assert.equal(defaultClientTimeoutMs(5000), 29_500); // 5 x 5 s x 1.1 + 2 s: an operation via a follower
    assert.equal(leaderTimeoutMs(5000), 24_000); // 4 x 5 s x 1.1 + 2 s: request, accept, accepted, reply
    assert.equal(leaderTimeoutMs(0), 2000);
    assert.equal(electionTimeoutMs(5000), 35_000); // 6 x 5 s x 1.1 + 2 s: Leader, prepare, promise, accept, accepted, reply
    assert.equal(FIRST_OPERATION_HOPS, 6); // a put sent as the clients start: Leader, prepare, promise, accept, accepted, reply
    assert.equal(resendMs(5000), 12_000);
    assert.equal(resendMs(0), 1000);
    // A resend comes within every attempt, so a node restarted meanwhile gets the request.
    for (const d of [0, 20, 300, 1000, 5000]) assert.ok(resendMs(d) < leaderTimeoutMs(d), `delay ${d}`);
    assert.equal(defaultDeadlineMs(0), 10_000);
    assert.equal(defaultDeadlineMs(5000), 29_500 + 2 * 35_000);
    assert.equal(defaultClientTimeoutMs(0), 2000);
  });

  it('ClientCore waits electionTimeoutMs once it asked a node to lead, and resends to the same node meanwhile', () => {
    const core = new ClientCore({ id: 'C1', nodes: 5, replyTo: 'x', timeoutMs: 100, electionTimeoutMs: 300, resendMs: 40, hint: 2 });
    const first = core.submit('get', 'k', undefined, 0);
    assert.deepEqual(first.map((o) => [o.to, o.msg.kind]), [[2, 'request']]);
    assert.equal(core.retryAt, 100);
    assert.deepEqual(core.onTick(39), []);
    assert.deepEqual(core.onTick(40).map((o) => [o.to, o.msg.kind]), [[2, 'request']]); // resent, same node
    assert.equal(core.pending!.attempts, 1);
    // P2 knows no leader: asked to lead; now the attempt waits the election time.
    const asked = core.onNoLeader(make(NoLeader, { client: 'C1', req: core.pending!.req }), 2, 50);
    assert.deepEqual(asked.map((o) => [o.to, o.msg.kind]), [[2, 'leader'], [2, 'request']]);
    assert.equal(core.retryAt, 350);
    assert.deepEqual(core.onTick(89), []);
    assert.deepEqual(core.onTick(349).map((o) => o.to), [2]); // a resend, not a new attempt
    const next = core.onTick(350);
    assert.deepEqual(next.map((o) => [o.to, o.msg.kind]), [[3, 'leader'], [3, 'request']]);
    assert.equal(core.pending!.attempts, 2);
    core.abandon();
    assert.equal(core.pending, null);
    assert.deepEqual(core.onTick(10_000), []);
  });

  it('a client that knows no leader asks P1 to lead as it starts; every such client picks P1; one given a hint does not', () => {
    const opts = { nodes: 5, replyTo: 'x', timeoutMs: 100, electionTimeoutMs: 300 };
    const cores = ['C1', 'C2', 'C3'].map((id) => new ClientCore({ ...opts, id }));
    for (const core of cores) {
      assert.deepEqual(core.start(0).map((o) => [o.to, o.msg.kind]), [[1, 'leader']]);
      assert.deepEqual(core.start(5), [], 'asked once');
    }
    assert.deepEqual(new ClientCore({ ...opts, id: 'C1', hint: 3 }).start(0), [], 'a hint is a known leader: no election');
    // The first request goes to the node asked, and waits as long as an election takes.
    const c1 = cores[0];
    assert.deepEqual(c1.submit('put', 'k', '1', 10).map((o) => [o.to, o.msg.kind]), [[1, 'request']]);
    assert.equal(c1.retryAt, 310);
    // If the node still knows no leader when the request gets there (its election failed, or it
    // was down when Leader came), the client asks it again at once.
    assert.deepEqual(c1.onNoLeader(make(NoLeader, { client: 'C1', req: c1.pending!.req }), 1, 50).map((o) => [o.to, o.msg.kind]), [[1, 'leader'], [1, 'request']]);
    // Long after the start-up election, a first request waits a plain attempt.
    const late = cores[1];
    late.submit('get', 'k', undefined, 1000);
    assert.equal(late.retryAt, 1100);
    // Once a node named the leader, the client knows one: no longer an election wait.
    const c3 = cores[2];
    c3.onReply(make(ClientReply, { client: 'C3', req: 0, result: 'ack', leader: 'P1', depth: 0, digest: 'x' }), 20);
    c3.submit('get', 'k', undefined, 30);
    assert.equal(c3.retryAt, 130);
  });

  it('an attempt sent to the node named as the leader waits its 4 hops; a redirect (through a follower) extends it to 5', () => {
    const core = new ClientCore({ id: 'C1', nodes: 5, replyTo: 'x', timeoutMs: 100, leaderTimeoutMs: 60, electionTimeoutMs: 300, hint: 2 });
    core.submit('get', 'k', undefined, 0);
    assert.equal(core.retryAt, 60, 'P2 is the leader it was given');
    core.onRedirect(make(Redirect, { client: 'C1', req: core.pending!.req, leader: 'P3' }));
    assert.equal(core.retryAt, 100, 'P2 forwarded it to P3: one hop more');
    assert.equal(core.pending!.target, 3);
    assert.deepEqual(core.onTick(100).map((o) => [o.to, o.msg.kind]), [[4, 'leader'], [4, 'request']]);
    assert.equal(core.retryAt, 400, 'P4 was asked to lead');
    // The answer names P4: the next operation goes there and waits the leader's hops.
    core.onReply(make(ClientReply, { client: 'C1', req: core.pending!.req, result: 'NO_KEY', leader: 'P4', depth: 0, digest: 'other' }), 150);
    core.abandon();
    core.submit('get', 'k', undefined, 1000);
    assert.deepEqual([core.pending!.target, core.retryAt], [4, 1060]);
  });

  it('without resendMs (the simulator) nothing is resent', () => {
    const core = new ClientCore({ id: 'C1', nodes: 5, replyTo: 'x', timeoutMs: 100 });
    core.submit('get', 'k', undefined, 0);
    assert.deepEqual(core.onTick(99), []);
    assert.equal(core.onTick(100).length, 2);
  });
});

describe('client: failover on real processes', function () {
  this.timeout(90_000);
  afterEach(() => stopAll());

  it('a leader restarted while a request waits for it is used at once (not after the client timeout)', async () => {
    const c = await Cluster.start();
    const base = ['-c', c.iniPath, '-d', '0'];
    const run = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) => {
      const t0 = Date.now();
      const child = spawn(process.execPath, [CLIENT_MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
    });
    const first = await run(['1', ...base, '--leader', '1', 'put', 'a', '1']);
    assert.equal(first.code, 0, first.stderr);
    const leader = await c.waitForLeader();
    await c.sigkill(leader);
    // The client's attempt would wait 20 s; the restarted node gets the resent request.
    const pending = run(['2', ...base, '--leader', String(leader), '--retry-ms', '20000', '-t', '40000', 'put', 'b', '2']);
    await sleep(1500);
    await c.startNode(leader);
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ack\n');
    assert.ok(r.ms < 15_000, `took ${r.ms} ms: the restarted P${leader} was not used until the 20 s timeout`);
    assert.doesNotMatch(r.stderr, /asking P[0-9] to become leader and retrying there/);
  });

  it('one ...waiting line per operation, with what it waits for and what comes next (piped output: no countdown)', async () => {
    const c = await Cluster.start();
    for (const id of [3, 4, 5]) await c.sigkill(id);
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [CLIENT_MAIN, '1', '-c', c.iniPath, '-d', '0', '--retry-ms', '2500', '-t', '7000'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.on('exit', (code) => resolve({ code, stdout }));
      child.stdin.end('put k {"a":1}\n');
    });
    assert.equal(r.code, 3, r.stdout);
    const waiting = r.stdout.split('\n').filter((l) => /\.\.\.waiting/.test(l));
    assert.equal(waiting.length, 1, r.stdout);
    assert.match(waiting[0], /^  \.\.\.waiting for request #[0-9]+: sent to P[0-9], no answer yet; the next node is asked to lead in [0-9]+ s \(delay 0 ms per message\); gives up in [0-9]+ s$/);
    assert.doesNotMatch(r.stdout, /\r/);
    assert.match(r.stdout, /^error: timeout: no answer within 7000 ms/m);
  });

  it('on a terminal: after the one ...waiting line, a countdown rewritten in place (one line, not one per second)', async function () {
    if (!fs.existsSync('/usr/bin/script')) this.skip(); // util-linux script gives the client a terminal
    const c = await Cluster.start();
    for (const id of [3, 4, 5]) await c.sigkill(id);
    const cmd = [process.execPath, CLIENT_MAIN, '1', '-c', c.iniPath, '-d', '0', '--retry-ms', '20000', '-t', '7000', 'put', 'k', '1'].map((a) => `'${a}'`).join(' ');
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn('/usr/bin/script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => { text += d; });
      child.on('exit', (code) => resolve({ code, text }));
    });
    assert.equal(out.code, 3, out.text);
    const lines = out.text.split(/\r?\n/);
    assert.equal(lines.filter((l) => /\.\.\.waiting for request/.test(l)).length, 1, out.text);
    const updates = out.text.split('\r\x1b[K').filter((x) => /^  \.\.\.[0-9]+ s, attempt 1 at P[0-9]; next node in [0-9]+ s; gives up in [0-9]+ s/.test(x));
    assert.ok(updates.length >= 2, `expected countdown updates in place:\n${JSON.stringify(out.text)}`);
    // All of them on one terminal line: no newline between the first update and the timeout line.
    const countdown = out.text.slice(out.text.indexOf('\r\x1b[K'), out.text.indexOf('client: timeout'));
    assert.equal((countdown.match(/\n/g) ?? []).length, 0, JSON.stringify(countdown));
  });
});

describe('client: the first operation on a fresh cluster (real processes, delay 400 ms)', function () {
  this.timeout(60_000);
  afterEach(() => stopAll());
  // Hop counts, not wall-clock figures: before clients asked P1 to lead as they started, the
  // first put took 8 one-way delays (request, no-leader, Leader, prepare, promise, accept,
  // accepted, reply). Each bound below leaves a delay or more for processing.
  const D = 400;

  it('three clients starting together get P1 elected before any operation, in one election; the first put then takes the leader\'s 4 hops', async () => {
    const c = await Cluster.start({ delayMs: D });
    const clients = [1, 2, 3].map((n) => c.startClient(n, { timeoutMs: 20_000 }));
    assert.equal(await c.waitForLeader(15_000), 1, 'P1 leads, with no operation typed');
    // One election: every node promised P1's first ballot (rival candidacies would have raised it).
    assert.deepEqual((await c.statuses()).map((s) => s.promised), Array(5).fill('<1,1,0>'));
    const r = await clients[0].op('put first {"a":1}');
    assert.deepEqual([r.result, r.leader, r.attempts], ['ack', 'P1', 1], JSON.stringify(r));
    // Request, accept, accepted, reply.
    assert.ok(r.ms! < 6 * D, `the first put took ${r.ms} ms = ${(r.ms! / D).toFixed(1)} delays of ${D} ms (4 expected)`);
  });

  it('a one-shot put on a fresh cluster is answered within the election\'s 6 hops (its Leader goes out as it starts)', async () => {
    const c = await Cluster.start({ delayMs: D });
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLIENT_MAIN, '1', '-c', c.iniPath, '--json', 'put', 'k', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no leader known yet: asking P1 to become leader now/);
    const j = JSON.parse(r.stdout) as { result: string; leader: string; attempts: number; ms: number };
    assert.deepEqual([j.result, j.leader, j.attempts], ['ack', 'P1', 1], r.stdout);
    assert.doesNotMatch(r.stderr, /knows no leader/, 'no no-leader round trip');
    // Leader (sent 300 ms before the request), prepare, promise, accept, accepted, reply.
    assert.ok(j.ms < 7 * D, `the first put took ${j.ms} ms = ${(j.ms / D).toFixed(1)} delays of ${D} ms (at most 6 expected)`);
  });
});
