import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DirLock } from '../../src/node/dir-lock';

describe('node: one process per data folder', () => {
  it('refuses a folder whose lock holder is alive, takes it over once that process is gone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-lock-'));
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(dir, 'LOCK'), `${other.pid}\n`);
      assert.throws(() => DirLock.take(dir), new RegExp(`in use by another process \\(pid ${other.pid}\\)`));
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
      const lock = DirLock.take(dir); // the holder crashed: its lock is stale
      assert.equal(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8').trim(), String(process.pid));
      lock.release();
      assert.equal(fs.existsSync(path.join(dir, 'LOCK')), false);
    } finally {
      other.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
