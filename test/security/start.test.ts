/** Starting with keys (issue #13): a development set made on first start, key problems as one line naming the file, --insecure announced. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLIENT_MAIN, nodeCommand } from '../../src/cli/entry-points';
import { secretPath } from '../../src/security/keys';
import { forgetProcs, stopAll, tempConfig } from '../e2e/harness';

const KEYS_MAIN = path.join(path.dirname(CLIENT_MAIN), 'keys-main.js');

function run(args: string[], stdin = ''): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { input: stdin, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('security: starting with keys', function () {
  this.timeout(60_000);
  after(async () => { forgetProcs(); await stopAll(); });

  it('a cluster file without keys beside it gets a development set on first start; a bad secret key is one line naming it', async () => {
    const { dir, iniPath, config } = await tempConfig(5, 3);
    fs.rmSync(config.keysDir, { recursive: true, force: true }); // as on a fresh clone
    const data = path.join(dir, 'P1');
    const args = nodeCommand(1, ['--config', iniPath, '--data-dir', data, '--delay-ms', '0', '--exit-on-stdin-close']);
    const first = run(args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created a development key set for P1, P2, P3, P4, P5, C1, C2, C3 in .*keys/);
    assert.match(first.stdout, /P1 listening on tcp:\/\/.* CurveZMQ, keys in /);
    assert.equal(fs.statSync(secretPath(config.keysDir, 'P1')).mode & 0o777, 0o600);

    fs.chmodSync(secretPath(config.keysDir, 'P1'), 0o644);
    const loose = run(args);
    assert.equal(loose.code, 1);
    assert.equal(loose.stderr.trim().split('\n').length, 1, loose.stderr);
    assert.match(loose.stderr, /^node: P1 cannot start: secret key .*secret\/P1\.key can be read by others \(mode 644\); run: chmod 600 /);

    fs.rmSync(secretPath(config.keysDir, 'P1'));
    const missing = run(args);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^node: P1 cannot start: cannot read secret key .*secret\/P1\.key: no such file\n$/);
    assert.ok(!fs.existsSync(path.join(data, 'LOCK')), 'a failed start leaves no lock behind');

    const client = run([CLIENT_MAIN, '2', '--config', iniPath, 'get', 'k', '--timeout-ms', '500']);
    assert.equal(client.code, 4, `with its key the client gets as far as the network (nothing runs): ${client.stderr}`);
    fs.rmSync(secretPath(config.keysDir, 'C2'));
    const clientMissing = run([CLIENT_MAIN, '2', '--config', iniPath, 'get', 'k', '--timeout-ms', '500']);
    assert.equal(clientMissing.code, 1, clientMissing.stderr);
    assert.match(clientMissing.stderr, /C2 cannot start: cannot read secret key .*secret\/C2\.key: no such file/);
  });

  it('--insecure is announced on every start; keys new/add/list work and refuse to overwrite', async () => {
    const { dir, iniPath } = await tempConfig(5, 3);
    const node = run(nodeCommand(2, ['--config', iniPath, '--data-dir', path.join(dir, 'P2'), '--insecure', '--exit-on-stdin-close']));
    assert.equal(node.code, 0, node.stderr);
    assert.match(node.stderr, /^WARNING: P2 runs with --insecure: its links are neither encrypted nor authenticated/);
    assert.match(node.stdout, /INSECURE plain TCP/);

    const again = run([KEYS_MAIN, 'new', '--config', iniPath]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists already; add --force to replace it/);
    const add = run([KEYS_MAIN, 'add', 'C9', '--config', iniPath]);
    assert.equal(add.code, 0, add.stderr);
    const list = run([KEYS_MAIN, 'list', '--config', iniPath]);
    assert.match(list.stdout, /^C9 +\S{40} +secret key here \(checked\) \(not in the cluster file\)$/m);
    const bad = run([KEYS_MAIN, 'add', '../x', '--config', iniPath]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /"\.\.\/x" is not a usable identity name/);
    const forced = run([KEYS_MAIN, 'new', '--force', '--config', iniPath]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /moved the old key set to .*keys\.old-/);
  });
});
