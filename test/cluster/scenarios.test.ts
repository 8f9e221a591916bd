/**
 * The scenario runner end to end: `node dist/src/cli/cluster-main.js --script FILE` on a temp
 * config with free ports, for every shipped scenario, plus a script whose expectation is wrong.
 *
 * The runner is started in a process group of its own (detached), so whatever happens — a
 * failed assertion, a timeout — the whole group (the runner and the 8 processes it started) is
 * killed by its id afterwards, and each test checks that the group is gone and its ports free.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { configToIni, Endpoint } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLUSTER_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'cluster-main.js');
const SCENARIOS = path.join(ROOT, 'scenarios');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Ports the OS reports free right now (all held open together, so they are distinct). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

const groups = new Set<number>();
process.on('exit', () => {
  for (const g of groups) {
    try { process.kill(-g, 'SIGKILL'); } catch { /* gone */ }
  }
});

describe('cluster console: scenario scripts', function () {
  this.timeout(45_000);
  let dir: string;
  let config: string;
  let ports: number[];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-cluster-test-'));
    ports = await freePorts(8);
    const ep = (name: string, port: number): Endpoint => ({ name, host: '127.0.0.1', port });
    config = path.join(dir, 'nodes.ini');
    fs.writeFileSync(config, configToIni({
      delayMs: 20,
      nodes: ports.slice(0, 5).map((p, i) => ep(`P${i + 1}`, p)),
      clients: ports.slice(5).map((p, i) => ep(`C${i + 1}`, p)),
    }));
  });

  after(() => {
    for (const g of groups) {
      try { process.kill(-g, 'SIGKILL'); } catch { /* gone */ }
    }
    groups.clear();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the cluster console; on timeout SIGTERMs it (it stops its processes), then SIGKILLs its group. */
  async function runCluster(args: string[], timeoutMs: number): Promise<Run> {
    const child = spawn(process.execPath, [CLUSTER_MAIN, ...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pgid = child.pid!;
    groups.add(pgid);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    let result = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (result === null) {
      output += `\n[test] no exit after ${timeoutMs} ms: SIGTERM\n`;
      child.kill('SIGTERM');
      result = await Promise.race([exited, sleep(5000).then(() => null)]);
      if (result === null) {
        process.kill(-pgid, 'SIGKILL');
        result = await exited;
      }
    }
    // Everything it started must be gone: the process group and the cluster's ports.
    for (let i = 0; i < 50 && groupAlive(pgid); i++) await sleep(100);
    const leftover = groupAlive(pgid);
    if (leftover) process.kill(-pgid, 'SIGKILL');
    groups.delete(pgid);
    assert.equal(leftover, false, `processes were left running after the console exited\n${tail(output)}`);
    for (const p of ports) assert.ok(await portIsFree(p), `port ${p} is still in use after the console exited`);
    return { ...result, output };
  }

  const tail = (s: string, n = 80) => s.split('\n').slice(-n).join('\n');

  const scenarios = fs.readdirSync(SCENARIOS).filter((f) => f.endsWith('.txt')).sort();

  for (const file of scenarios) {
    it(`replays scenarios/${file} and every check holds`, async () => {
      const data = path.join(dir, path.basename(file, '.txt'));
      const r = await runCluster(['--script', path.join(SCENARIOS, file), '--config', config, '--data-dir', data, '--quiet'], 40_000);
      assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; output:\n${tail(r.output)}`);
      assert.match(r.output, /PASSED /);
    });
  }

  it('exits non-zero, naming the line, when an expectation is wrong', async () => {
    const script = path.join(dir, 'wrong.txt');
    fs.writeFileSync(script, [
      '# a deliberately wrong expectation',
      'set delay 20',
      'C1 put alice_netid {"phone_number":"1"}',
      'expect C1 NO_KEY',
      'C1 get alice_netid',
      'expect C1 {"phone_number":"1"}',
    ].join('\n'));
    const r = await runCluster(['--script', script, '--config', config, '--data-dir', path.join(dir, 'wrong'), '--quiet'], 30_000);
    assert.equal(r.code, 1, `exit ${r.code ?? r.signal}; output:\n${tail(r.output)}`);
    assert.match(r.output, /FAILED .*wrong\.txt:4: expect C1 NO_KEY/);
    assert.match(r.output, /C1 answered "ack"/);
    assert.doesNotMatch(r.output, /PASSED/);
  });

  it('console fixes: short-form mistakes explained, unknown clients refused; --timeout-ms/--retry-ms reach the clients', async () => {
    const script = path.join(dir, 'console.txt');
    fs.writeFileSync(script, [
      'set delay 20',
      'C1 put',
      'expect C1 error: put needs a key and a JSON value',
      'C1 put  {"a":1}',
      'expect C1 error: put needs a key before the value',
      'C1 get ""',
      'expect C1 error: the key is empty',
      'C1 get "k"',
      'expect C1 NO_KEY',
      'P1 failLink(P1,C9)',
      'P1 failLink(P1,P9)',
      'sleep 300',
    ].join('\n'));
    const r = await runCluster(['--script', script, '--config', config, '--data-dir', path.join(dir, 'console'), '--quiet', '--timeout-ms', '7000', '--retry-ms', '900'], 40_000);
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}; output:\n${tail(r.output)}`);
    assert.match(r.output, /P1 \| error: there is no client C9 in .*nodes\.ini \(clients: C1, C2, C3\)/);
    assert.match(r.output, /P1 \| error: there is no node P9 \(nodes: P1\.\.P5\)/);
    assert.match(r.output, /C1 \| C1 ready \(.*deadline 7\.0 s per operation\)/);
  });

  it('expect takes only answers that came after the previous step began', async () => {
    const script = path.join(dir, 'stale.txt');
    fs.writeFileSync(script, [
      'set delay 20',
      'set timeout 3000',
      'C1 put k {"a":1}',
      'C2 put j {"b":2}',
      'expect C1 ack',
      'expect C2 ack',
      'C1 get k',
      'sleep 2500',
      'wait-leader',
      'expect C1 {"a":1}',
    ].join('\n'));
    const r = await runCluster(['--script', script, '--config', config, '--data-dir', path.join(dir, 'stale'), '--quiet'], 40_000);
    assert.equal(r.code, 1, `exit ${r.code ?? r.signal}; output:\n${tail(r.output)}`);
    assert.match(r.output, /FAILED .*stale\.txt:10: expect C1 \{"a":1\}/);
    assert.match(r.output, /no answer from C1, and nothing typed into it is waiting for one \(skipped 1 answer\(s\) that came before the previous step\)/);
  });

  it('the console\'s first-operation hint counts the hops at the spec\'s 5 s delay (no more 52 s)', async () => {
    // stdin is closed: the console starts everything, prints its hints and stops.
    const r = await runCluster(['--config', config, '--data-dir', path.join(dir, 'hint'), '--delay-ms', '5000', '--quiet'], 40_000);
    assert.equal(r.code, 0, tail(r.output));
    assert.match(r.output, /asked P1 to lead as they started; it leads after 3 message delays \(Leader, prepare, promise: about 15 s at delay 5000 ms\)\. An operation then takes 4 delays \(about 20 s\); one typed before that waits for the election, at most 6 delays \(about 30 s\)/);
    assert.match(r.output, /A client waits 24 s for an answer from the node it believes leads \(30 s through another node, 35 s once it asked a node to lead\) before it asks the next node, and gives up after 100 s/);
    assert.match(r.output, /C1 \| C1 ready \(.*deadline 99\.5 s per operation\)/);
  });

  it('refuses a script with a syntax error before starting anything', async () => {
    const script = path.join(dir, 'broken.txt');
    fs.writeFileSync(script, 'set delay 20\nC1 put k {"a":1}\nexpect C1 sometime soon\nfrobnicate P1\nexpect P2 depth twelve\n');
    const r = await runCluster(['--script', script, '--config', config], 10_000);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /broken\.txt:4: unknown command "frobnicate"/);
    assert.match(r.output, /broken\.txt:5: cannot check "depth twelve"/);
    assert.doesNotMatch(r.output, /starting P1/);
  });
});
