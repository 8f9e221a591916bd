/**
 * The web view's plumbing without a browser: the event lines a process writes (bounded however
 * many messages it sends), the console's hub (refuses bad lines, bounds what it pushes, cuts a
 * page that does not keep up) and the page server (every hostile request gets one status code;
 * a command reaches the console's queue exactly as sent).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { chainTail, EVENT_PREFIX, EventReporter, jsonLine, kvSample } from '../../src/events/reporter';
import {
  EVENT_KV_MS, MAX_EVENT_COUNT_KEYS, MAX_EVENT_DROPS, MAX_EVENT_KV_ENTRIES, MAX_EVENT_LINE_CHARS, MAX_EVENT_LOG_LINES, MAX_EVENT_SENDS,
  MAX_EVENT_TAIL_BLOCKS, MAX_EVENT_TEXT_CHARS, MAX_WEB_BACKLOG_BYTES, MAX_WEB_BODY_BYTES, MAX_WEB_PAGES, MAX_WEB_PENDING_COMMANDS,
  MAX_WEB_PUSH_SENDS, MAX_WEB_TIMELINE,
} from '../../src/limits';
import { ProcSource, WebHub } from '../../src/web/hub';
import { isLoopback, WebServer } from '../../src/web/server';

const ROOT = path.resolve(__dirname, '..', '..', '..');

const NODE_STATE = { node: 'P1', role: 'leader', leader: 'P1', ballot: '<1,1,0>', promised: '<1,1,0>', depth: 3, tentative: 1, queue: 0, failedLinks: ['P3'] };

function parse(line: string | null): Record<string, any> {
  assert.ok(line !== null, 'expected an event line');
  assert.ok(line.startsWith(EVENT_PREFIX));
  return JSON.parse(line.slice(EVENT_PREFIX.length));
}

function fakeProcs(): ProcSource & { states: Map<string, string>; written: string[] } {
  const states = new Map<string, string>();
  const written: string[] = [];
  const nodes = ['P1', 'P2', 'P3', 'P4', 'P5'];
  const clients = ['C1', 'C2', 'C3'];
  for (const n of [...nodes, ...clients]) states.set(n, 'up');
  return { nodes, clients, delayMs: 200, states, written, proc: (name) => ({ state: states.get(name)!, pid: 100, unanswered: [], write: (t: string) => { written.push(`${name} ${t}`); return true; } }) };
}

describe('web view: event lines of a process (src/events/reporter.ts)', () => {
  it('lists at most MAX_EVENT_SENDS of 10,000 messages sent in one period and counts every one, with at most MAX_EVENT_COUNT_KEYS peers', () => {
    const r = new EventReporter('P1', { state: () => null }, () => undefined, () => 5);
    for (let i = 0; i < 10_000; i++) r.sent(`B${i % 300}`, i % 2 ? 'accept' : 'reply');
    const line = r.take();
    assert.ok(line!.length < MAX_EVENT_LINE_CHARS, `line of ${line!.length} characters`);
    const ev = parse(line);
    assert.equal(ev.sent.length, MAX_EVENT_SENDS);
    assert.deepEqual(ev.sent[0], ['B0', 'reply', 5]);
    const counts = Object.entries(ev.counts as Record<string, number>);
    assert.ok(counts.length <= MAX_EVENT_COUNT_KEYS + 2, `${counts.length} counters`);
    assert.equal(counts.reduce((s, [, n]) => s + n, 0), 10_000);
    assert.equal(counts.filter(([k]) => k.endsWith(' accept')).reduce((s, [, n]) => s + n, 0), 5_000);
    assert.ok(ev.counts['* accept'] > 0, 'peers beyond the bound are counted as "*"');
    // The next period starts empty.
    assert.equal(r.take(), null);
  });

  it('writes nothing while nothing happens, and the state only when it changed', () => {
    let state: unknown = { a: 1 };
    const r = new EventReporter('C1', { state: () => state }, () => undefined);
    assert.deepEqual(parse(r.take()).state, { a: 1 });
    assert.equal(r.take(), null);
    assert.equal(r.take(), null);
    state = null;
    assert.equal(parse(r.take()).state, null);
    assert.equal(r.take(), null);
  });

  it('bounds log lines (MAX_EVENT_LOG_LINES, each cut to MAX_EVENT_TEXT_CHARS) and drops (MAX_EVENT_DROPS listed, all counted)', () => {
    const r = new EventReporter('P2', { state: () => null }, () => undefined);
    r.take();
    for (let i = 0; i < 100; i++) r.log(`line ${i} ${'x'.repeat(1000)}`);
    for (let i = 0; i < 50; i++) r.dropped('P3', i % 2 ? 'accept' : null, i % 3 === 0);
    const ev = parse(r.take());
    assert.equal(ev.log.length, MAX_EVENT_LOG_LINES);
    assert.ok(ev.log.every((l: string) => l.length <= MAX_EVENT_TEXT_CHARS));
    assert.equal(ev.logSkipped, 100 - MAX_EVENT_LOG_LINES);
    assert.equal(ev.drops.length, MAX_EVENT_DROPS);
    assert.equal(ev.dropCount, 50);
    assert.deepEqual(ev.drops[0].slice(0, 3), ['P3', '?', true]);
  });

  it('sends the chain when it changed, and the dictionary at most every EVENT_KV_MS', () => {
    let t = 0;
    let version = 0;
    let kvCalls = 0;
    const r = new EventReporter('P1', {
      state: () => NODE_STATE,
      chainVersion: () => String(version),
      chain: () => ({ commit: version, end: version, tail: [] }),
      kv: () => { kvCalls++; return { size: version, entries: [] }; },
    }, () => undefined, () => t);
    const kvAt: number[] = [];
    for (t = 0; t <= 2500; t += 100) {
      version++;
      const ev = parse(r.take());
      assert.equal(ev.chain.commit, version);
      if (ev.kv) kvAt.push(t);
    }
    assert.deepEqual(kvAt, [0, EVENT_KV_MS, 2 * EVENT_KV_MS]);
    assert.equal(kvCalls, 3);
  });

  it('cuts a chain tail to MAX_EVENT_TAIL_BLOCKS blocks and a dictionary to MAX_EVENT_KV_ENTRIES entries, looking at no more', () => {
    const big = 'v'.repeat(60_000);
    const log = Array.from({ length: 50 }, (_, i) => ({ operation: { op: 'put', key: `k${i}${'k'.repeat(250)}`, value: big, client: 'C1', req: i }, nonce: 'n', hashPointer: 'h'.repeat(64) }));
    const tail = chainTail(log, log.map((_, i) => `hash${i}`), 45);
    assert.equal(tail.tail.length, MAX_EVENT_TAIL_BLOCKS);
    assert.equal(tail.tail[0].depth, 50 - MAX_EVENT_TAIL_BLOCKS);
    assert.deepEqual(tail.tail.map((b) => b.status).filter((s) => s === 'tentative').length, 5);
    assert.ok(tail.tail.every((b) => b.value!.length <= 80 && b.key.length <= 64));
    const dict = new Map<string, string>();
    for (let i = 0; i < 100_000; i++) dict.set(`key${i}`, big.slice(0, 100));
    const s = kvSample(dict);
    assert.equal(s.size, 100_000);
    assert.equal(s.entries.length, MAX_EVENT_KV_ENTRIES);
    assert.ok(jsonLine(s).length < 10_000);
  });

  it('while paused by the console (no page open), counts nothing and writes nothing; resumed, reports the whole state again', () => {
    const lines: string[] = [];
    const r = new EventReporter('P1', { state: () => NODE_STATE }, (l) => lines.push(l));
    r.flush();
    assert.equal(lines.length, 1);
    assert.equal(r.control('@events off'), true);
    for (let i = 0; i < 1000; i++) r.sent('P2', 'accept');
    r.log('elected leader');
    r.dropped('P3', 'accept', false);
    r.flush();
    assert.equal(lines.length, 1, 'nothing while paused');
    assert.equal(r.control('status'), false);
    assert.equal(r.control('@events on'), true);
    assert.equal(lines.length, 2, 'resuming reports at once');
    const ev = parse(lines[1]);
    assert.deepEqual(ev.state, NODE_STATE, 'the state again, though unchanged');
    assert.equal(ev.counts, undefined, 'nothing counted while paused');
    assert.equal(ev.log, undefined);
  });

  it('escapes what a terminal would act on, and stays valid JSON', () => {
    const s = jsonLine({ k: 'a\u007fb\u009bc\u2028d\u202ee\x1b[2J' });
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u202e]/.test(s), s);
    assert.deepEqual(JSON.parse(s), { k: 'a\u007fb\u009bc\u2028d\u202ee\x1b[2J' });
  });
});

describe('web view: the console\'s hub (src/web/hub.ts)', () => {
  it('refuses bad event lines with a count and at most 3 warning lines, never throwing', () => {
    const warned: string[] = [];
    const hub = new WebHub(fakeProcs(), (l) => warned.push(l));
    const bad = [
      'no prefix', `${EVENT_PREFIX}{not json`, `${EVENT_PREFIX}[]`, `${EVENT_PREFIX}{"p":"P2","t":1}`, `${EVENT_PREFIX}{"p":"P1","t":-1}`,
      `${EVENT_PREFIX}{"p":"P1","t":1,"state":{"role":5}}`, `${EVENT_PREFIX}{"p":"P1","t":1,"sent":[["P2","<script>",1]]}`,
      `${EVENT_PREFIX}{"p":"P1","t":1,"chain":{"commit":1,"end":1,"tail":[{"depth":0}]}}`, `${EVENT_PREFIX}{"p":"P1","t":1,"kv":{"size":1,"entries":[[1,2]]}}`,
      `${EVENT_PREFIX}{"p":"P1","t":1,"counts":{"P2 accept":"many"}}`, `${EVENT_PREFIX}{"p":"P1","t":1,"log":[{}]}`,
      `${EVENT_PREFIX}{"p":"P1","t":1,"pad":"${'x'.repeat(MAX_EVENT_LINE_CHARS)}"}`,
    ];
    for (const l of bad) assert.equal(hub.onEventLine('P1', l), false, l.slice(0, 80));
    assert.equal(hub.rejected, bad.length);
    assert.equal(hub.onEventLine('Z9', `${EVENT_PREFIX}{"p":"Z9","t":1}`), false);
    assert.ok(warned.length <= 3, `${warned.length} warning lines`);
    assert.equal(hub.nodes.get('P1')!.status, null, 'nothing from a refused line was taken');
  });

  it('takes a reporter\'s line whole and pushes what changed, with a timeline entry per decided block', () => {
    const hub = new WebHub(fakeProcs(), () => undefined);
    hub.takePush(); // the processes coming up
    const log = [0, 1].map((i) => ({ operation: { op: 'put', key: `k${i}`, value: '{"a":1}', client: 'C1', req: i }, nonce: 'ab', hashPointer: '0'.repeat(64) }));
    const r = new EventReporter('P1', { state: () => NODE_STATE, chainVersion: () => 'v', chain: () => chainTail(log, ['h0', 'h1'], 2), kv: () => kvSample(new Map([['k0', '{"a":1}']])) }, () => undefined);
    r.sent('P2', 'accept');
    r.log('elected leader with ballot <1,1,0> (3 promises)');
    assert.ok(hub.onEventLine('P1', r.take()!));
    const push = hub.takePush() as Record<string, any>;
    assert.equal(push.nodes.P1.status.role, 'leader');
    assert.deepEqual(push.nodes.P1.status.failedLinks, ['P3']);
    assert.equal(push.nodes.P1.chain.tail.length, 2);
    assert.deepEqual(push.nodes.P1.kv.entries, [['k0', '{"a":1}']]);
    assert.deepEqual(push.sent.map((s: unknown[]) => s.slice(0, 3)), [['P1', 'P2', 'accept']]);
    assert.deepEqual(push.timeline.map((e: { kind: string }) => e.kind), ['elected', 'decided', 'decided']);
    assert.equal(hub.takePush(), null, 'nothing new: no push');
  });

  it('lists at most MAX_WEB_PUSH_SENDS messages per push and keeps at most MAX_WEB_TIMELINE entries', () => {
    const hub = new WebHub(fakeProcs(), () => undefined);
    for (let i = 0; i < 100; i++) {
      const r = new EventReporter(`P${1 + (i % 5)}`, { state: () => NODE_STATE }, () => undefined);
      for (let j = 0; j < 50; j++) r.sent('P2', 'accept');
      for (let j = 0; j < 20; j++) r.log(`event ${i}.${j}`);
      assert.ok(hub.onEventLine(`P${1 + (i % 5)}`, r.take()!));
    }
    const push = hub.takePush() as Record<string, any>;
    assert.equal(push.sent.length, MAX_WEB_PUSH_SENDS);
    assert.equal(push.sentSkipped, 100 * MAX_EVENT_SENDS - MAX_WEB_PUSH_SENDS);
    assert.equal(Object.values(push.counts as Record<string, number>).reduce((s, n) => s + n, 0), 100 * 50, 'every message counted');
    assert.equal(push.timeline.length, MAX_WEB_TIMELINE);
    assert.equal((hub.snapshot() as { timeline: unknown[] }).timeline.length, MAX_WEB_TIMELINE);
  });

  it('counts every message even from more peers than it keeps counters for', () => {
    const hub = new WebHub(fakeProcs(), () => undefined);
    for (let i = 0; i < 40; i++) {
      const r = new EventReporter('P1', { state: () => NODE_STATE }, () => undefined);
      for (let j = 0; j < MAX_EVENT_COUNT_KEYS; j++) r.sent(`L${i}x${j}`, 'reply');
      assert.ok(hub.onEventLine('P1', r.take()!));
    }
    const counts = (hub.takePush() as Record<string, any>).counts as Record<string, number>;
    assert.ok(Object.keys(counts).length <= 4 * MAX_EVENT_COUNT_KEYS + 1, `${Object.keys(counts).length} counters`);
    assert.equal(Object.values(counts).reduce((s, n) => s + n, 0), 40 * MAX_EVENT_COUNT_KEYS);
    assert.ok(counts['P1 * reply'] > 0);
  });

  it('tells a process going down and coming back (a restart) in the timeline', () => {
    const procs = fakeProcs();
    const hub = new WebHub(procs, () => undefined);
    hub.takePush();
    procs.states.set('P3', 'down');
    const down = hub.takePush() as Record<string, any>;
    assert.equal(down.nodes.P3.up, 'down');
    procs.states.set('P3', 'up');
    const up = hub.takePush() as Record<string, any>;
    assert.deepEqual(up.timeline.map((e: { text: string }) => e.text), ['P3 is up (restarted)']);
  });

  it('pauses the processes\' events while no page is open and resumes them when one opens', () => {
    const procs = fakeProcs();
    const hub = new WebHub(procs, () => undefined);
    hub.takePush();
    assert.deepEqual(procs.written.sort(), [...procs.nodes, ...procs.clients].map((n) => `${n} @events off`).sort());
    procs.written.length = 0;
    hub.takePush();
    assert.equal(procs.written.length, 0, 'told once');
    const handlers = new Map<string, () => void>();
    const res = { writableLength: 0, write: () => true, on: (e: string, f: () => void) => handlers.set(e, f), destroy: () => undefined, end: () => undefined } as any;
    assert.ok(hub.addPage(res));
    assert.equal(procs.written.filter((w) => w.endsWith('@events on')).length, 8);
    procs.written.length = 0;
    handlers.get('close')!();
    assert.equal(procs.written.filter((w) => w.endsWith('@events off')).length, 8);
  });

  it('disconnects a page that falls MAX_WEB_BACKLOG_BYTES behind, and refuses page MAX_WEB_PAGES + 1', () => {
    const hub = new WebHub(fakeProcs(), () => undefined);
    const page = () => {
      const p = { writableLength: 0, destroyed: false, handlers: new Map<string, () => void>() } as any;
      p.write = (s: string) => { p.writableLength += s.length; return false; }; // never drains
      p.destroy = () => { p.destroyed = true; p.handlers.get('close')?.(); };
      p.on = (ev: string, f: () => void) => p.handlers.set(ev, f);
      p.end = () => undefined;
      return p;
    };
    const slow = page();
    assert.ok(hub.addPage(slow));
    let pushes = 0;
    while (!slow.destroyed && pushes < 10_000) {
      const r = new EventReporter('P1', { state: () => ({ ...NODE_STATE, depth: pushes, pad: 'x'.repeat(2000) }) }, () => undefined);
      // (an extra field is dropped by the hub, so make the log carry the bytes)
      for (let i = 0; i < MAX_EVENT_LOG_LINES; i++) r.log(`${pushes} ${'y'.repeat(500)}`);
      hub.onEventLine('P1', r.take()!);
      hub.push();
      pushes++;
    }
    assert.ok(slow.destroyed, 'the slow page was cut');
    assert.ok(slow.writableLength <= MAX_WEB_BACKLOG_BYTES, `${slow.writableLength} bytes queued`);
    assert.equal(hub.pagesCut, 1);
    assert.equal(hub.pageCount, 0);
    const pages = Array.from({ length: MAX_WEB_PAGES }, page);
    for (const p of pages) assert.ok(hub.addPage(p));
    assert.equal(hub.addPage(page()), false);
  });
});

describe('web view: the page server (src/web/server.ts)', function () {
  let server: WebServer;
  let tokenServer: WebServer;
  const ran: string[] = [];
  let hold: (() => void)[] = [];

  const request = (port: number, method: string, p: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  before(async () => {
    const opts = (token: string | null) => ({
      host: '127.0.0.1', port: 0, token, hub: new WebHub(fakeProcs(), () => undefined),
      run: (line: string) => {
        ran.push(line);
        if (line === 'hold') return new Promise<{ ok: true }>((r) => hold.push(() => r({ ok: true })));
        return Promise.resolve(line === 'bad' ? { ok: false as const, error: 'error: no' } : { ok: true as const });
      },
      staticDir: path.join(ROOT, 'web'), scenariosDir: path.join(ROOT, 'scenarios'),
      names: { nodes: ['P1', 'P2', 'P3', 'P4', 'P5'], clients: ['C1', 'C2', 'C3'] },
    });
    server = new WebServer(opts(null));
    await server.start();
    tokenServer = new WebServer(opts('0123456789abcdef-token'));
    await tokenServer.start();
  });

  after(async () => {
    for (const h of hold) h();
    await server.close();
    await tokenServer.close();
  });

  it('serves the page with a policy that allows nothing from elsewhere', async () => {
    const r = await request(server.port, 'GET', '/');
    assert.equal(r.status, 200);
    assert.match(r.body, /<svg id="net"/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
    assert.equal((await request(server.port, 'GET', '/view.js')).status, 200);
  });

  it('hands a command line to the console exactly as sent, and its failure back', async () => {
    ran.length = 0;
    const line = 'C1 put alice {"phone_number":"111-222-3333"}';
    const r = await request(server.port, 'POST', '/api/command', JSON.stringify({ line }));
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { ok: true });
    const b = await request(server.port, 'POST', '/api/command', JSON.stringify({ line: 'bad' }));
    assert.equal(b.status, 422);
    assert.deepEqual(JSON.parse(b.body), { ok: false, error: 'error: no' });
    assert.deepEqual(ran, [line, 'bad']);
  });

  it('answers every hostile request with one status code and one line, running nothing', async () => {
    ran.length = 0;
    const p = server.port;
    const cases: [Promise<{ status: number; body: string }>, number, RegExp][] = [
      [request(p, 'GET', '/nope'), 404, /not found/],
      [request(p, 'GET', '/../../etc/passwd'), 404, /not found/],
      [request(p, 'DELETE', '/api/command'), 405, /use POST/],
      [request(p, 'POST', '/'), 405, /use GET or HEAD/],
      [request(p, 'POST', '/api/command', '{"line":"status"}', { 'content-type': 'text/plain' }), 415, /application\/json/],
      [request(p, 'POST', '/api/command', 'x'.repeat(MAX_WEB_BODY_BYTES + 1)), 413, /larger than/],
      [request(p, 'POST', '/api/command', '{"line":'), 400, /not JSON/],
      [request(p, 'POST', '/api/command', '[1,2]'), 400, /JSON object/],
      [request(p, 'POST', '/api/command', '{"line":5}'), 400, /one console line/],
      [request(p, 'POST', '/api/command', '{"line":"status\\nP1 failProcess"}'), 400, /one console line/],
      [request(p, 'POST', '/api/command', '{"line":"status"}', { origin: 'http://evil.example' }), 403, /only from the page/],
      [request(p, 'GET', '/api/state', undefined, { host: 'evil.example' }), 403, /Host/],
      [request(p, 'GET', '/api/scenario?name=../nodes.ini'), 404, /no such scenario/],
      [request(p, 'GET', '/api/scenario?name=missing.txt'), 404, /no such scenario/],
    ];
    for (const [r, status, text] of cases) {
      const got = await r;
      assert.equal(got.status, status, got.body);
      assert.match(got.body, text);
      assert.equal(got.body.trim().split('\n').length, 1);
    }
    assert.deepEqual(ran, []);
  });

  it('holds at most MAX_WEB_PENDING_COMMANDS commands waiting for the console', async () => {
    hold = [];
    const waiting = Array.from({ length: MAX_WEB_PENDING_COMMANDS }, () => request(server.port, 'POST', '/api/command', '{"line":"hold"}'));
    while (hold.length < MAX_WEB_PENDING_COMMANDS) await new Promise((r) => setTimeout(r, 10));
    const over = await request(server.port, 'POST', '/api/command', '{"line":"hold"}');
    assert.equal(over.status, 503);
    for (const h of hold) h();
    for (const w of await Promise.all(waiting)) assert.equal(w.status, 200);
  });

  it('offers the shipped scenarios step by step', async () => {
    const list = JSON.parse((await request(server.port, 'GET', '/api/scenarios')).body);
    assert.ok(list.scenarios.includes('leader-crash.txt'), list.scenarios.join(' '));
    const s = JSON.parse((await request(server.port, 'GET', '/api/scenario?name=leader-crash.txt')).body);
    assert.equal(s.ok, true);
    assert.ok(s.steps.length > 3 && s.steps.every((x: { text: string; line: number }) => typeof x.text === 'string' && x.line > 0));
  });

  it('with a token, refuses the API and the stream without it (and serves them with it)', async () => {
    const p = tokenServer.port;
    assert.equal((await request(p, 'GET', '/api/state')).status, 401);
    assert.equal((await request(p, 'GET', '/api/state?token=0123456789abcdef-tokex')).status, 401);
    assert.equal((await request(p, 'GET', '/events')).status, 401);
    assert.equal((await request(p, 'GET', '/api/state?token=0123456789abcdef-token')).status, 200);
    assert.equal((await request(p, 'GET', '/api/state', undefined, { authorization: 'Bearer 0123456789abcdef-token' })).status, 200);
    assert.match(tokenServer.url, /\?token=0123456789abcdef-token$/);
  });

  it('the console refuses another address without a token, and a short token', () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('localhost') && isLoopback('[::1]') && !isLoopback('0.0.0.0') && !isLoopback('10.0.0.1'));
    const main = path.join(ROOT, 'dist', 'src', 'cli', 'cluster-main.js');
    const cfg = ['--config', path.join(ROOT, 'nodes.ini')];
    const noToken = spawnSync(process.execPath, [main, ...cfg, '--web-host', '0.0.0.0'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(noToken.status, 2);
    assert.match(noToken.stderr, /--web-token/);
    assert.equal(noToken.stderr.trim().split('\n').length, 1);
    const short = spawnSync(process.execPath, [main, ...cfg, '--web-host', '0.0.0.0', '--web-token', 'abc'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(short.status, 2);
    assert.match(short.stderr, /16\.\.256/);
  });
});
