/**
 * The client's command line on real processes: one-shot operations, exit codes, the deadline,
 * piped stdin, --version everywhere, one process per client identity.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clientLockDir } from '../../src/cli/client-lock';
import { nodeCommand } from '../../src/cli/entry-points';
import { CLIENT_MAIN, Cluster, NODE_MAIN, NodeProc, ROOT, sleep, stopAll, tempConfig } from '../e2e/harness';

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

/** Runs a CLI to its end (stdin: `input`, or closed); fails if it runs longer than `limitMs`. */
function run(script: string, args: string[], input = '', limitMs = 30_000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(script)} ${args.join(' ')} still running after ${limitMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      setTimeout(() => resolve({ code, stdout, stderr, ms: Date.now() - t0 }), 20);
    });
    child.stdin.end(input);
  });
}

const client = (args: string[], input = '', limitMs?: number) => run(CLIENT_MAIN, args, input, limitMs);
const noStack = (r: Run) => assert.ok(!/\n\s+at /.test(r.stderr + r.stdout), `a stack trace:\n${r.stderr}`);

describe('cli: the client command line (real processes)', function () {
  this.timeout(120_000);
  afterEach(() => stopAll());

  it('--version and --help on every entry point, exit 0', async () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
    const mains = ['node-main.js', 'client-main.js', 'cluster-main.js', 'sim-main.js', 'bench-main.js'].map((m) => path.join(ROOT, 'dist', 'src', 'cli', m));
    for (const m of mains) {
      for (const flag of ['--version', '-V']) {
        const r = await run(m, [flag]);
        assert.equal(r.code, 0, `${m} ${flag}: ${r.stderr}`);
        assert.equal(r.stdout.trim(), `chainkv ${version} (node ${process.version})`);
      }
      const h = await run(m, ['--help']);
      assert.equal(h.code, 0, m);
      assert.match(h.stdout, /^usage: /);
      assert.match(h.stdout, /-V, --version/);
    }
    const h = await client(['-h']);
    for (const re of [/Exit codes:/, /^\s+3\s+deadline/m, /^\s+4\s+unreachable/m, /put KEY JSON\s+one operation, then exit/]) assert.match(h.stdout, re);
  });

  it('strict options with short aliases and precise one-line errors (exit 2)', async () => {
    const { iniPath } = await tempConfig();
    const cases: [string, string[], RegExp][] = [
      [CLIENT_MAIN, ['1', '-c', iniPath, '-x'], /^client: unknown option -x \(see --help\)$/],
      [CLIENT_MAIN, ['1', '-c', iniPath, '--jsn'], /unknown option --jsn/],
      [CLIENT_MAIN, ['1', '-c', iniPath, '--json=yes'], /--json takes no value/],
      [CLIENT_MAIN, ['1', '-c', iniPath, '--timeout-ms'], /--timeout-ms needs a value/],
      [CLIENT_MAIN, ['1', '-c', iniPath, '-t', '0'], /--timeout-ms must be >= 1/],
      [CLIENT_MAIN, ['1', '-c', iniPath, 'put', 'k'], /put needs a JSON value/],
      [CLIENT_MAIN, ['1', '-c', iniPath, 'delete', 'k'], /unknown operation "delete"/],
      [CLIENT_MAIN, ['-c', iniPath], /give a client number/],
      [NODE_MAIN, ['-q'], /give exactly one node number/],
      [NODE_MAIN, ['1', '-c', iniPath, '-d', '-1'], /--delay-ms must be >= 0/],
    ];
    for (const [m, args, re] of cases) {
      const r = await run(m, args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${r.stderr}`);
      assert.match(r.stderr.trim(), re, args.join(' '));
      noStack(r);
    }
  });

  it('a cluster that is down: one-shot and piped stdin exit 4 at once with one line', async () => {
    const { iniPath } = await tempConfig();
    for (const [args, input] of [[['1', '-c', iniPath, 'get', 'k'], ''], [['1', '-c', iniPath], 'get k\n']] as [string[], string][]) {
      const r = await client(args, input, 15_000);
      assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /no node of the cluster is reachable \(P1 127\.0\.0\.1:[0-9]+ ECONNREFUSED/);
      assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
      noStack(r);
    }
  });

  it('one-shot put/get print the answer and exit 0; Operation(...) and --json; NO_KEY is an answer (exit 0)', async () => {
    const c = await Cluster.start();
    const base = ['-c', c.iniPath, '-d', '0', '--retry-ms', '1500'];
    const put = await client(['1', ...base, 'put', 'alice', '{"phone": "111"}']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout, 'ack\n');
    const get = await client(['2', ...base, 'get', 'alice']);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, '{"phone": "111"}\n');
    const op = await client(['3', ...base, 'Operation(get, alice)']);
    assert.equal(op.stdout, '{"phone": "111"}\n');
    // A leader exists: a fresh one-shot client's first answer is not lost (one attempt, no retry).
    const missing = await client(['1', '-c', c.iniPath, '-d', '0', '--retry-ms', '8000', '--json', 'get', 'nobody']);
    assert.equal(missing.code, 0, missing.stderr);
    const j = JSON.parse(missing.stdout) as { op: string; key: string; result: string; attempts: number; ms: number };
    assert.deepEqual([j.op, j.key, j.result, j.attempts], ['get', 'nobody', 'NO_KEY', 1], missing.stderr);
    assert.ok(j.ms < 8000, `took ${j.ms} ms`);
    assert.doesNotMatch(missing.stderr, /no answer for request/);
  });

  it('piped stdin: every line answered, then exit; 1 if a line was not an operation', async () => {
    const c = await Cluster.start();
    const base = ['-c', c.iniPath, '-d', '0', '--retry-ms', '1500', '--json'];
    const ok = await client(['1', ...base], 'put k {"a":1}\nget k\n');
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split('\n').map((l) => JSON.parse(l).result), ['ack', '{"a":1}']);
    const bad = await client(['1', ...base], 'get k\nbogus\nput k {"a":2}\n');
    assert.equal(bad.code, 1, bad.stderr);
    const lines = bad.stdout.trim().split('\n').map((l) => JSON.parse(l) as { result?: string; error?: string });
    assert.deepEqual(lines.map((l) => l.result ?? 'error'), ['{"a":1}', 'error', 'ack']);
  });

  it('the deadline: no majority, so no answer; gives up after --timeout-ms with exit 3', async () => {
    const c = await Cluster.start();
    for (const id of [3, 4, 5]) await c.sigkill(id);
    const r = await client(['1', '-c', c.iniPath, '-d', '0', '--retry-ms', '800', '-t', '2500', 'put', 'k', '{}'], '', 20_000);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^client: timeout: no answer within 2500 ms for request #[0-9]+ \([0-9]+ attempt\(s\), last sent to P[0-9]\); it may still take effect/m);
    assert.ok(r.ms >= 2500 && r.ms < 12_000, `took ${r.ms} ms`);
    assert.equal(r.stdout, '');
    noStack(r);
  });

  it('a client identity in use is refused (exit 5), also under another config of the same cluster', async () => {
    const c = await Cluster.start();
    const first = c.startClient(1);
    const lock = path.join(clientLockDir('C1', c.config), 'LOCK');
    for (let i = 0; i < 100 && !(fs.existsSync(lock) && fs.readFileSync(lock, 'utf8').trim() === String(first.child.pid)); i++) await sleep(100);
    // The same nodes, C1 on another port: the requests of two C1s would starve each other.
    const other = path.join(c.dir, 'other.ini');
    const text = fs.readFileSync(c.iniPath, 'utf8').replace(/\[C1\]\nhost = (.*)\nport = ([0-9]+)/, (_all, host: string, port: string) => `[C1]\nhost = ${host}\nport = ${Number(port) + 1 > 65535 ? Number(port) - 1 : Number(port) + 1}`);
    fs.writeFileSync(other, text);
    const r = await client(['1', '-c', other, '-d', '0', 'get', 'k']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /^client: C1 is already in use by another client process \(pid [0-9]+\) of this cluster/);
    // C2 is free.
    const r2 = await client(['2', '-c', c.iniPath, '-d', '0', '--retry-ms', '1500', 'get', 'k']);
    assert.equal(r2.code, 0, r2.stderr);
  });

  it('Ctrl-C (SIGINT) while waiting: exit 130, not 0; --json errors carry the exit code', async () => {
    const c = await Cluster.start();
    for (const id of [3, 4, 5]) await c.sigkill(id);
    const child = spawn(process.execPath, [CLIENT_MAIN, '1', '-c', c.iniPath, '-d', '0'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    for (let i = 0; i < 150 && !out.includes('C1 ready ('); i++) await sleep(100);
    child.stdin.write('put k {"a":1}\n');
    await sleep(500);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    const r = await client(['1', '-c', c.iniPath, '-d', '0', '--json', '-t', '1500', 'get', 'k'], '', 20_000);
    assert.equal(r.code, 3, r.stderr);
    const j = JSON.parse(r.stdout) as { error: string; code: number };
    assert.equal(j.code, 3);
    assert.match(j.error, /^timeout: no answer within 1500 ms/);
  });

  it('a fresh one-shot client\'s first answer is not lost (one attempt, no retry)', async () => {
    const { dir, iniPath } = await tempConfig(1, 1);
    const p = new NodeProc(1, nodeCommand(1, ['--config', iniPath, '--data-dir', path.join(dir, 'P1'), '-d', '0', '-q']));
    await p.waitForLine(/ listening on tcp:\/\//, { timeoutMs: 15_000, what: 'P1 to listen' });
    for (let i = 0; i < 3; i++) {
      const r = await client(['1', '-c', iniPath, '-d', '0', '--retry-ms', '8000', '--json', '--verbose', 'put', `k${i}`, String(i)]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { result: string; attempts: number; ms: number };
      assert.deepEqual([j.result, j.attempts], ['ack', 1], r.stderr);
      // A lost first answer shows as a second REQUEST line: the resend (resendMs(0), 1 s) that got the answer again.
      assert.equal(r.stderr.split('\n').filter((l) => /^C1 -> P1 REQUEST /.test(l)).length, 1, `put k${i}: its first answer was lost\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /no answer for request/);
    }
  });
});
