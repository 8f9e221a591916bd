/**
 * The key folder (src/security/keys.ts), attacked locally.
 *
 * 1. ensureIdentity says "a process racing to add it is fine", and `npm run keys -- add` relies
 *    on addIdentity's exists-check; but the check and the two renames (secret, then public) are
 *    not one step: processes adding the same name at once can leave secret/NAME.key from one
 *    and public/NAME.pub from another. Every process of that identity then fails to start.
 *    FAILS while the race exists.
 * 3. A public key file for a new identity that repeats an existing identity's public key
 *    (public keys are public: a client operator handing in "their" key can hand in P2's) is
 *    read without complaint, and the ring's key -> name map then names P2's key after whichever
 *    file was read last: a client's ZAP handler then refuses P2 as "not a node".
 *    FAILS while a duplicate key is accepted.
 * 2. Secret key files are refused when others can read them, but public key files (and the
 *    public/ folder) are trusted whatever their mode, and a running node re-reads public/
 *    within a second when it meets an unknown key: with a world-writable P2.pub, any local user
 *    who writes their own key there is admitted AS NODE P2 by a running node, no restart.
 *    FAILS while a world-writable public key is accepted.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { createKeySet, KeyRing, publicPath } from '../../src/security/keys';
import { z85Decode } from '../../src/security/z85';
import { sleep } from '../e2e/harness';

const KEYS_JS = path.resolve(__dirname, '..', '..', 'src', 'security', 'keys.js');

describe('attack-sec: the key folder', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-attack-keys-'));
    dirs.push(d);
    return d;
  };
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  it('six processes adding the same 50 identities at once leave every identity with a matching key pair', async () => {
    const dir = path.join(tmp(), 'keys');
    const start = Date.now() + 700;
    const script = `const { ensureIdentity } = require(${JSON.stringify(KEYS_JS)});
      while (Date.now() < ${start}) {}
      for (let i = 0; i < 50; i++) ensureIdentity(${JSON.stringify(dir)}, 'R' + i);`;
    const procs = Array.from({ length: 6 }, () => spawn(process.execPath, ['-e', script], { stdio: 'inherit' }));
    await Promise.all(procs.map((p) => new Promise((r) => p.on('exit', r))));
    const bad: string[] = [];
    for (let i = 0; i < 50; i++) {
      try {
        KeyRing.load(dir, `R${i}`);
      } catch (e) {
        bad.push((e as Error).message);
      }
    }
    assert.equal(bad.length, 0, `${bad.length} of 50 identities have a secret key and a public key from different processes, e.g. ${bad[0]}`);
  });

  it('a world-writable public/P2.pub is refused (a running P1 must not take a key written there as P2)', async () => {
    const dir = path.join(tmp(), 'keys');
    createKeySet(dir, ['P1', 'P2', 'C1']);
    fs.chmodSync(publicPath(dir, 'P2'), 0o666); // e.g. copied around with a loose umask / by hand
    let ring: KeyRing | null = null;
    let refusedAtLoad = false;
    try {
      ring = KeyRing.load(dir, 'P1');
    } catch {
      refusedAtLoad = true;
    }
    if (ring) {
      // What a local user with no key does: writes their own public key into P2.pub, and connects.
      const mallory = zmq.curveKeyPair();
      fs.writeFileSync(publicPath(dir, 'P2'), `${mallory.publicKey}\n`);
      await sleep(1100);
      const name = ring.nameOfKey(z85Decode(mallory.publicKey)!);
      assert.notEqual(name, 'P2', 'the running ring now admits a key written into a world-writable file as node P2');
    }
    assert.ok(refusedAtLoad, 'a world-writable public key file is accepted without a word');
  });

  it("a public key file repeating P2's public key does not change whose key P2's is", () => {
    const dir = path.join(tmp(), 'keys');
    createKeySet(dir, ['P1', 'P2', 'C1']);
    fs.copyFileSync(publicPath(dir, 'P2'), publicPath(dir, 'Zz')); // "Zz" hands in P2's public key as its own
    let name: string | null = 'refused at load';
    try {
      const ring = KeyRing.load(dir, 'C1');
      name = ring.nameOfKey(z85Decode(fs.readFileSync(publicPath(dir, 'P2'), 'utf8').trim())!);
    } catch { /* refusing the duplicate is fine */ }
    assert.ok(name === 'P2' || name === 'refused at load', `P2's public key is now taken for ${name}'s (a client's ZAP handler would refuse P2: "not a node")`);
  });
});
