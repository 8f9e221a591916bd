/**
 * nodes.ini is checked at load (each error names the file, the line and the fix), and a node
 * start that fails leaves nothing behind (real processes).
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configFromIni, ConfigError } from '../../src/config';
import { NODE_MAIN, ROOT, stopAll, tempConfig, Cluster } from '../e2e/harness';

const BASE = '[network]\ndelay_ms = 0\n[P1]\nhost = 127.0.0.1\nport = 7001\n[P2]\nhost = 127.0.0.1\nport = 7002\n[C1]\nhost = 127.0.0.1\nport = 7101\n';

function configError(text: string): string {
  try {
    configFromIni(text, 'x.ini');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail(`accepted:\n${text}`);
}

describe('cli: nodes.ini checked at load', () => {
  it('accepts the shipped nodes.ini and a minimal file', () => {
    const shipped = configFromIni(fs.readFileSync(path.join(ROOT, 'nodes.ini'), 'utf8'), 'nodes.ini');
    assert.equal(shipped.nodes.length, 5);
    assert.equal(configFromIni(BASE, 'x.ini').clients.length, 1);
  });

  it('names the file, the line and the fix for each kind of mistake', () => {
    const cases: [string, RegExp][] = [
      [BASE.replace('port = 7002', 'port = 7001'), /^x\.ini:8: \[P2\] uses 127\.0\.0\.1:7001, already used by \[P1\]; give every process its own port$/],
      [BASE.replace('port = 7101', 'port = 7002'), /^x\.ini:11: \[C1\] uses 127\.0\.0\.1:7002, already used by \[P2\]/],
      [BASE + '[P9x]\nport = 1\n', /^x\.ini:12: unknown section \[P9x\]; expected \[network\], \[security\], \[P1\]/],
      [BASE + '[nodes]\n', /^x\.ini:12: unknown section \[nodes\]/],
      [BASE.replace('host = 127.0.0.1\nport = 7002', 'hots = 127.0.0.1\nport = 7002'), /^x\.ini:7: unknown key "hots" in \[P2\]; expected host and port$/],
      [BASE.replace('delay_ms = 0', 'delay = 0'), /^x\.ini:2: unknown key "delay" in \[network\]; expected delay_ms$/],
      [BASE.replace('host = 127.0.0.1\nport = 7002', 'host = my host\nport = 7002'), /^x\.ini:7: \[P2\] host "my host" is not an IP address .*; use e\.g\. host = 127\.0\.0\.1$/],
      [BASE.replace('port = 7002', 'port = 70020'), /^x\.ini:8: \[P2\] port "70020" must be a whole number 1\.\.65535/],
      [BASE.replace('port = 7002', 'port = 7002.5'), /^x\.ini:8: \[P2\] port "7002\.5"/],
      [BASE.replace('port = 7002\n', ''), /^x\.ini:6: \[P2\] has no port; add e\.g\. port = 70002$/],
      [BASE.replace('delay_ms = 0', 'delay_ms = -1'), /^x\.ini:2: \[network\] delay_ms "-1" must be a whole number of milliseconds 0\.\.600000/],
      [BASE.replace('delay_ms = 0', 'delay_ms = 9999999'), /^x\.ini:2: \[network\] delay_ms "9999999"/],
      [BASE.replace('[P2]', '[P3]'), /^x\.ini:6: nodes must be numbered P1\.\.P2 without gaps \(found \[P3\] where \[P2\] belongs\); renumber them$/],
      [BASE + '[P1]\n', /^x\.ini:12: section \[P1\] appears twice \(first at line 3\); merge them/],
      [BASE.replace('port = 7001', 'port = 7001\nport = 7003'), /^x\.ini:6: port appears twice in \[P1\] \(first at line 5\)/],
      ['[C1]\nport = 7101\n', /^x\.ini: no nodes; add sections \[P1\]\.\.\[P5\]/],
      [Array.from({ length: 16 }, (_, i) => `[P${i + 1}]\nport = ${8001 + i}\n`).join(''), /^x\.ini:31: at most 15 nodes \(found 16\)/],
    ];
    for (const [text, re] of cases) assert.match(configError(text), re);
  });
});

function runNode(args: string[], limitMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NODE_MAIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`node ${args.join(' ')} still running: ${stdout}${stderr}`)); }, limitMs);
    child.on('exit', (code) => { clearTimeout(timer); setTimeout(() => resolve({ code, stdout, stderr }), 20); });
  });
}

describe('cli: a node start that fails says why in one line and leaves nothing behind (real processes)', function () {
  this.timeout(60_000);
  afterEach(() => stopAll());

  it('a port in use, a host that is not this machine\'s, a data folder that cannot be created, a folder in use', async () => {
    const c = await Cluster.start();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-start-'));
    try {
      // Two processes on one port: P2's port given to P1 in another file.
      const dup = path.join(tmp, 'dup.ini');
      fs.writeFileSync(dup, fs.readFileSync(c.iniPath, 'utf8').replace(/\[P1\]\nhost = (.*)\nport = [0-9]+/, `[P1]\nhost = $1\nport = ${c.config.nodes[1].port}`));
      const fresh = path.join(tmp, 'new', 'P1');
      let r = await runNode(['1', '-c', dup, '--data-dir', fresh]);
      assert.equal(r.code, 2, r.stderr); // the file itself has P1 and P2 on one port
      assert.match(r.stderr, /dup\.ini:[0-9]+: \[P2\] uses 127\.0\.0\.1:[0-9]+, already used by \[P1\]/);
      // The running P1's port, from a file that is fine by itself.
      const taken = path.join(tmp, 'taken.ini');
      const text = fs.readFileSync(c.iniPath, 'utf8');
      fs.writeFileSync(taken, text);
      r = await runNode(['1', '-c', taken, '--data-dir', fresh]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.trim(), /^node: P1 cannot start: \[P1\] 127\.0\.0\.1:[0-9]+ in .*taken\.ini: the port is already in use by another process/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      // A host that is an IP address but not this machine's.
      const far = path.join(tmp, 'far.ini');
      fs.writeFileSync(far, text.replace(/\[P1\]\nhost = [^\n]*/, '[P1]\nhost = 192.0.2.1'));
      r = await runNode(['1', '-c', far, '--data-dir', fresh]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /192\.0\.2\.1 is not an address of this machine/);
      assert.ok(!fs.existsSync(path.join(tmp, 'new')), 'a failed start left its data folder behind');
      // A data folder that cannot be created (a file in the way): one line, nothing left.
      const blocker = path.join(tmp, 'file');
      fs.writeFileSync(blocker, 'x');
      await c.sigkill(1);
      r = await runNode(['1', '-c', c.iniPath, '--data-dir', path.join(blocker, 'P1')]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.trim(), /^node: P1 cannot start: cannot use data folder .*file\/P1: creating it failed \(ENOTDIR: a part of the path is a file\); choose another --data-dir/);
      // A folder in use by a live node (P2's folder, P1's free port): refused, P2's LOCK stays, no kv.json added.
      const before = fs.readdirSync(c.dataDir(2)).sort();
      r = await runNode(['1', '-c', c.iniPath, '--data-dir', c.dataDir(2)]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /is in use by another process \(pid [0-9]+\)/);
      assert.deepEqual(fs.readdirSync(c.dataDir(2)).sort(), before);
      assert.equal(fs.readFileSync(path.join(c.dataDir(2), 'LOCK'), 'utf8').trim(), String(c.node(2).child.pid));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a bad nodes.ini: exit 2 and one line naming the file and line', async () => {
    const { iniPath } = await tempConfig();
    fs.appendFileSync(iniPath, '\n[P9x]\n');
    const r = await runNode(['1', '-c', iniPath]);
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^node: .*nodes\.ini:[0-9]+: unknown section \[P9x\]; .* \(see --help\)$/);
  });
});
