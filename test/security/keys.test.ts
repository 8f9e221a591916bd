/** Key sets, Z85 and the per-frame MAC (src/security). */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { addIdentity, createKeySet, KeyRing, MAX_KEY_FILE_BYTES, MAX_KEYS, publicOf, publicPath, secretPath } from '../../src/security/keys';
import { z85Decode, z85Encode } from '../../src/security/z85';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-keys-'));

describe('security: Z85 and key pairs', () => {
  it('Z85 matches RFC 32 test vector and round-trips', () => {
    const bytes = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    assert.equal(z85Encode(bytes), 'HelloWorld');
    assert.deepEqual(z85Decode('HelloWorld'), bytes);
    assert.equal(z85Decode('Hello Worl'), null, 'a space is not Z85');
    assert.equal(z85Decode('HelloWorl'), null, 'length not a multiple of 5');
    assert.equal(z85Decode('#####'), null, 'above 2^32');
  });

  it("X25519 in node:crypto derives the same public key as libzmq's curveKeyPair (both ends agree on keys)", () => {
    for (let i = 0; i < 20; i++) {
      const kp = zmq.curveKeyPair();
      assert.equal(z85Encode(publicOf(z85Decode(kp.secretKey)!)), kp.publicKey);
    }
  });
});

describe('security: key sets on disk', () => {
  it('creates a set with secret keys mode 0600 and loads it', () => {
    const dir = path.join(tmp(), 'keys');
    assert.equal(createKeySet(dir, ['P1', 'P2', 'C1']), true);
    assert.equal(createKeySet(dir, ['P1']), false, 'an existing set is never replaced');
    for (const n of ['P1', 'P2', 'C1']) assert.equal(fs.statSync(secretPath(dir, n)).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, 'secret')).mode & 0o777, 0o700);
    const ring = KeyRing.load(dir, 'P1');
    assert.equal(ring.publicKeyOf('C1'), fs.readFileSync(publicPath(dir, 'C1'), 'utf8').trim());
    assert.equal(ring.publicKeyOf('C9'), null);
  });

  it('refuses, naming the file: a missing secret, a world-readable one, garbage, a public key from another set', () => {
    const dir = path.join(tmp(), 'keys');
    createKeySet(dir, ['P1', 'P2']);
    assert.throws(() => KeyRing.load(dir, 'P7'), new RegExp(`cannot read secret key ${secretPath(dir, 'P7').replace(/[.]/g, '\\.')}: no such file`));
    fs.chmodSync(secretPath(dir, 'P1'), 0o644);
    assert.throws(() => KeyRing.load(dir, 'P1'), /can be read by others \(mode 644\); run: chmod 600 .*P1\.key/);
    fs.chmodSync(secretPath(dir, 'P1'), 0o600);
    fs.writeFileSync(secretPath(dir, 'P2'), 'not a key\n', { mode: 0o600 });
    assert.throws(() => KeyRing.load(dir, 'P2'), /P2\.key does not hold a Z85 key/);
    fs.writeFileSync(publicPath(dir, 'P1'), `${zmq.curveKeyPair().publicKey}\n`);
    assert.throws(() => KeyRing.load(dir, 'P1'), /is not the public key of .*P1\.key/);
    assert.throws(() => KeyRing.load(path.join(dir, 'nope'), 'P1'), /no key set at .*nope \(make one with: npm run keys -- new/);
  });

  it('eight processes creating the same set at once end with one complete set', async () => {
    const dir = path.join(tmp(), 'keys');
    const names = ['P1', 'P2', 'P3', 'P4', 'P5', 'C1', 'C2', 'C3'];
    const mod = path.resolve(__dirname, '../../src/security/keys.js');
    const code = `process.stdout.write(String(require(${JSON.stringify(mod)}).createKeySet(${JSON.stringify(dir)}, ${JSON.stringify(names)})))`;
    const made = await Promise.all(names.map(() => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', code], (err, out) => (err ? reject(err) : resolve(out)));
    })));
    assert.equal(made.filter((m) => m === 'true').length, 1, `exactly one process made it: ${made.join(',')}`);
    for (const n of names) KeyRing.load(dir, n); // every secret matches its public key
    assert.deepEqual(fs.readdirSync(path.dirname(dir)).filter((f) => f !== 'keys'), [], 'no temporary folder left');
  });

  it('learns a client added after start at once, and re-reads an unchanged folder at most once a second', async () => {
    const dir = path.join(tmp(), 'keys');
    createKeySet(dir, ['P1']);
    const ring = KeyRing.load(dir, 'P1');
    addIdentity(dir, 'C7');
    assert.ok(ring.publicKeyOf('C7'), 'the folder changed: read again');
    const scans = ring.scans;
    for (let i = 0; i < 100; i++) assert.equal(ring.publicKeyOf(`C${100 + i}`), null);
    assert.equal(ring.scans, scans, 'a flood of unknown names on an unchanged folder reads it no more than once a second');
    await new Promise((r) => setTimeout(r, 1_050));
    assert.equal(ring.publicKeyOf('C99'), null);
    assert.equal(ring.scans, scans + 1);
  });
});

describe('security: the key set\'s bounds', () => {
  it(`a key file over ${MAX_KEY_FILE_BYTES} bytes is refused, naming it; more than ${MAX_KEYS} public keys are refused at start`, () => {
    const dir = path.join(tmp(), 'keys');
    createKeySet(dir, ['P1']);
    fs.writeFileSync(publicPath(dir, 'C1'), 'x'.repeat(MAX_KEY_FILE_BYTES + 1), { mode: 0o644 });
    assert.throws(() => KeyRing.load(dir, 'P1'), new RegExp(`C1\\.pub is ${MAX_KEY_FILE_BYTES + 1} bytes: not a key`));
    fs.rmSync(publicPath(dir, 'C1'));
    for (let i = 0; i < MAX_KEYS; i++) fs.writeFileSync(publicPath(dir, `X${i}`), `${zmq.curveKeyPair().publicKey}\n`, { mode: 0o644 });
    assert.throws(() => KeyRing.load(dir, 'P1'), new RegExp(`${MAX_KEYS + 1} public keys in .*: only the first ${MAX_KEYS} are read`));
  });
});

describe('security: key files changed while running', () => {
  it('a deleted public key stops working at the next refresh; a bad new file is skipped with a line, the rest kept', () => {
    const dir = path.join(tmp(), 'keys');
    createKeySet(dir, ['P1', 'C1', 'C2']);
    const ring = KeyRing.load(dir, 'P1');
    const lines: string[] = [];
    ring.onProblem = (l) => lines.push(l);
    const mac = KeyRing.load(dir, 'C1').mac('P1', 'x')!;
    assert.equal(ring.verify('C1', Buffer.from('x'), mac), 'ok');
    fs.rmSync(publicPath(dir, 'C1'));
    ring.refresh();
    assert.equal(ring.verify('C1', Buffer.from('x'), mac), 'unknown-sender', 'revoked');
    fs.writeFileSync(publicPath(dir, 'C3'), `${z85Encode(Buffer.alloc(32))}\n`, { mode: 0o644 }); // a low-order key
    ring.refresh();
    assert.equal(ring.publicKeyOf('C3'), null);
    assert.ok(ring.publicKeyOf('C2'));
    assert.match(lines.join('\n'), /C3\.pub: not a usable Curve25519 public key/);
    assert.throws(() => KeyRing.load(dir, 'P1'), /C3\.pub: not a usable Curve25519 public key/, 'at start the same file is fatal');
  });
});

describe('security: the per-frame MAC', () => {
  const dir = path.join(tmp(), 'keys');
  createKeySet(dir, ['P1', 'P2', 'C1', 'C2']);
  const ring = (n: string) => KeyRing.load(dir, n);
  const payload = Buffer.from('{"from":"C1","body":{"kind":"leader"}}');

  it('verifies only under the key of the sender it names, for the receiver it was made for', () => {
    const c1 = ring('C1'), p1 = ring('P1'), p2 = ring('P2'), c2 = ring('C2');
    const mac = c1.mac('P1', payload)!;
    assert.equal(p1.verify('C1', payload, mac), 'ok');
    assert.equal(p1.verify('C2', payload, mac), 'bad-mac', 'C1 cannot pass as C2');
    assert.equal(p2.verify('C1', payload, mac), 'bad-mac', 'a MAC made for P1 is no good at P2');
    assert.equal(p1.verify('C1', Buffer.from(payload.toString().replace('leader', 'LEADER')), mac), 'bad-mac', 'one changed byte');
    assert.equal(p1.verify('C9', payload, mac), 'unknown-sender');
    assert.equal(p1.verify('C1', payload, mac.subarray(0, 16)), 'bad-mac', 'a short MAC');
    // The other direction uses the same pairwise key: P1's answer verifies at C1, not at C2.
    const back = p1.mac('C1', payload)!;
    assert.equal(c1.verify('P1', payload, back), 'ok');
    assert.equal(c2.verify('P1', payload, back), 'bad-mac');
  });
});
