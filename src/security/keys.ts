/**
 * Long-term CurveZMQ key pairs, one per process identity (P1..P5, C1..C3, any other client),
 * and the pairwise link keys derived from them.
 *
 * A key set is a folder:
 *
 *     keys/public/P1.pub   the identity's public key, Z85 (40 characters); every process reads all
 *     keys/secret/P1.key   its secret key, Z85; mode 0600, read only by P1 itself
 *
 * CURVE (in ZeroMQ) encrypts every link and, through the ZAP handler (./zap.ts), admits only
 * connections made with a key of the set. It does not tell which key sent a given frame
 * (zeromq.js exposes no per-message metadata), so every frame also carries an HMAC-SHA256 under
 * a key only its two ends can compute: HKDF(X25519(my secret, your public)), bound to both
 * names. A frame whose MAC does not verify under the key of the sender it names is dropped:
 * the sender of every message acted on is the identity that owns the key.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { z85Decode, z85Encode } from './z85';

/** Identities in one key set (every public key is read at start and on an unknown key). */
export const MAX_KEYS = 4096;
/** A key file is one Z85 line: anything bigger is not a key. */
export const MAX_KEY_FILE_BYTES = 256;
/**
 * An unknown key or sender makes the ring re-read public/ when the folder changed (one stat:
 * a key added by `npm run keys -- add` is seen at once) and otherwise at most this often, so a
 * flood of unknown keys costs a stat each and one directory read per interval.
 */
export const KEY_RESCAN_MIN_INTERVAL_MS = 1_000;
/** Bytes of HMAC-SHA256 carried by every frame. */
export const MAC_BYTES = 32;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

export class KeyError extends Error {}

export const publicPath = (dir: string, name: string) => path.join(dir, 'public', `${name}.pub`);
export const secretPath = (dir: string, name: string) => path.join(dir, 'secret', `${name}.key`);

function privateKeyObject(secret: Buffer): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(pub: Buffer): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_X25519, pub]), format: 'der', type: 'spki' });
}

/** The public key (raw 32 bytes) of an X25519 secret key. */
export function publicOf(secret: Buffer): Buffer {
  const jwk = crypto.createPublicKey(privateKeyObject(secret)).export({ format: 'jwk' }) as { x: string };
  return Buffer.from(jwk.x, 'base64url');
}

/** Reads one key file: a Z85 key of 32 bytes, or a KeyError naming the file. */
function readKeyFile(file: string, secret: boolean): { z85: string; raw: Buffer } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ELOOP' ? 'it is a symbolic link' : (e as Error).message;
    throw new KeyError(`cannot read ${secret ? 'secret' : 'public'} key ${file}: ${why}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new KeyError(`${file} is not a regular file`);
    if (secret && (st.mode & 0o077) !== 0) {
      throw new KeyError(`secret key ${file} can be read by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
    // Whoever can write a public key file can make their own key pass for that identity.
    if (!secret && (st.mode & 0o022) !== 0) {
      throw new KeyError(`public key ${file} can be changed by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 644 ${file}`);
    }
    if (st.size > MAX_KEY_FILE_BYTES) throw new KeyError(`${file} is ${st.size} bytes: not a key (a key file is one 40-character Z85 line)`);
    const text = fs.readFileSync(fd, 'utf8').trim();
    const raw = text.length === 40 ? z85Decode(text) : null;
    if (!raw) throw new KeyError(`${file} does not hold a Z85 key (one line of 40 characters)`);
    return { z85: text, raw };
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `file` whole and fsynced: through a temporary file renamed into place, or (rename false) in place, exclusively. */
function writeFileDurable(file: string, text: string, mode: number, rename = true): void {
  const tmp = rename ? `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}` : file;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.fchmodSync(fd, mode); // whatever the umask
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (rename) fs.renameSync(tmp, file);
}

/** Writes a new key pair for `name` into `dir` (public/ and secret/ made if missing); refuses to replace one unless `replace`. */
export function addIdentity(dir: string, name: string, replace = false): string {
  if (!NAME.test(name)) throw new KeyError(`"${name}" is not a usable identity name (letters, digits, _ and -, at most 64)`);
  fs.mkdirSync(path.join(dir, 'public'), { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'secret'), { recursive: true, mode: 0o700 });
  if (!replace && fs.existsSync(publicPath(dir, name))) throw new KeyError(`${publicPath(dir, name)} exists already`);
  const kp = zmq.curveKeyPair();
  // The secret key is the claim on the name: it is linked into place, which fails if another
  // process got there first (a rename would silently replace its key), and only the process
  // whose secret is in place writes the public key, so the two always belong together.
  const tmp = `${secretPath(dir, name)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  writeFileDurable(tmp, `${kp.secretKey}\n`, 0o600, false);
  try {
    if (replace) fs.renameSync(tmp, secretPath(dir, name));
    else fs.linkSync(tmp, secretPath(dir, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyError(`${secretPath(dir, name)} exists already`);
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  writeFileDurable(publicPath(dir, name), `${kp.publicKey}\n`, 0o644);
  return kp.publicKey;
}

/** Adds a key pair for `name` unless the set has one (a process racing to add it is fine). */
export function ensureIdentity(dir: string, name: string): void {
  if (fs.existsSync(publicPath(dir, name))) return;
  try {
    addIdentity(dir, name);
  } catch (e) {
    if (!fs.existsSync(secretPath(dir, name))) throw e;
    // Another process holds the name: its public key follows its secret within moments.
    for (const end = Date.now() + 2_000; !fs.existsSync(publicPath(dir, name)); ) {
      if (Date.now() > end) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/**
 * Creates a whole key set at `dir` for `names`, atomically: it is built in a sibling temporary
 * folder and renamed into place, so processes starting together either all see the same
 * complete set or one of them made it. Returns false when `dir` already existed.
 */
export function createKeySet(dir: string, names: readonly string[]): boolean {
  if (fs.existsSync(dir)) return false;
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  try {
    fs.chmodSync(tmp, 0o755);
    for (const n of names) addIdentity(tmp, n);
    fs.renameSync(tmp, dir);
    return true;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && fs.existsSync(dir)) return false; // another process made it first
    throw e;
  }
}

interface PeerKey {
  z85: string;
  raw: Buffer;
  /** The pairwise MAC key, derived when the key is read (which also proves the key usable). */
  mac: Buffer;
}

/** This process's key pair and every identity's public key, with the pairwise link keys. */
export class KeyRing {
  readonly publicKey: string;
  readonly secretKey: string;
  private readonly privateKey: crypto.KeyObject;
  private peers = new Map<string, PeerKey>();
  private readonly byRaw = new Map<string, string>();
  private scannedAt = 0;
  /** How many times public/ was read (for tests and status). */
  scans = 0;
  /** public/'s modification time at the last read (ns). */
  private scannedMtime = -1n;

  private constructor(readonly dir: string | null, readonly self: string, secret: { z85: string; raw: Buffer }, publicZ85: string) {
    this.secretKey = secret.z85;
    this.publicKey = publicZ85;
    this.privateKey = privateKeyObject(secret.raw);
  }

  /**
   * Loads `self`'s secret key and every public key from `dir`. Every problem is a KeyError
   * naming the file: a missing or unreadable secret, one readable by others, a public key that
   * is not the secret's, a public key file others may change, one that repeats another's key
   * or is not a usable key.
   */
  static load(dir: string, self: string): KeyRing {
    if (!fs.existsSync(dir)) throw new KeyError(`no key set at ${dir} (make one with: npm run keys -- new --dir ${dir})`);
    const secret = readKeyFile(secretPath(dir, self), true);
    const mine = z85Encode(publicOf(secret.raw));
    const ring = new KeyRing(dir, self, secret, mine);
    // At start every key file must be right (later re-reads skip a bad file and say so).
    const problems = ring.scan();
    if (problems.length > 0) throw new KeyError(`${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s) in the key set)` : ''}`);
    const listed = ring.peers.get(self);
    if (!listed) throw new KeyError(`no public key ${publicPath(dir, self)} for ${self} (its secret key is there)`);
    if (listed.z85 !== mine) throw new KeyError(`${publicPath(dir, self)} is not the public key of ${secretPath(dir, self)}: the two files come from different key sets`);
    return ring;
  }

  /** A ring held in memory only (tests): `keys` maps every identity to its key pair. */
  static inMemory(self: string, keys: ReadonlyMap<string, { publicKey: string; secretKey: string }>): KeyRing {
    const me = keys.get(self);
    if (!me) throw new KeyError(`no key pair for ${self}`);
    const ring = new KeyRing(null, self, { z85: me.secretKey, raw: z85Decode(me.secretKey)! }, me.publicKey);
    for (const [name, kp] of keys) {
      const raw = z85Decode(kp.publicKey)!;
      const mac = ring.linkKey(name, raw);
      if (typeof mac !== 'string') ring.setPeer(name, kp.publicKey, raw, mac);
    }
    return ring;
  }

  /**
   * The MAC key of the link between this process and `peer` (public key `raw`), or why `raw`
   * cannot be a peer's key: libsodium and OpenSSL refuse a shared secret of zeros (a low-order
   * point, e.g. an all-zero key), so such a key could never complete a handshake either.
   */
  private linkKey(peer: string, raw: Buffer): Buffer | string {
    let shared: Buffer;
    try {
      shared = crypto.diffieHellman({ privateKey: this.privateKey, publicKey: publicKeyObject(raw) });
    } catch (e) {
      return `not a usable Curve25519 public key (${(e as Error).message})`;
    }
    // Both names in the derivation: the key of the link P1-C2 is no other link's key.
    const info = [this.self, peer].sort().join('\n');
    return Buffer.from(crypto.hkdfSync('sha256', shared, 'chainkv link mac v1', info, MAC_BYTES));
  }

  private setPeer(name: string, z85: string, raw: Buffer, mac: Buffer): void {
    this.peers.set(name, { z85, raw, mac });
    this.byRaw.set(raw.toString('hex'), name);
  }

  /** Reads public/ (bounded: MAX_KEYS files, each a Z85 line); a bad file is skipped and reported. */
  private scan(): string[] {
    if (!this.dir) return [];
    this.scannedAt = Date.now();
    this.scans++;
    this.scannedMtime = this.folderMtime();
    const problems: string[] = [];
    const folder = path.join(this.dir, 'public');
    let names: string[];
    try {
      const st = fs.statSync(folder);
      if ((st.mode & 0o022) !== 0) throw new Error(`it can be changed by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 755 ${folder}`);
      names = fs.readdirSync(folder).filter((f) => f.endsWith('.pub') && NAME.test(f.slice(0, -4)));
    } catch (e) {
      throw new KeyError(`cannot use the public keys in ${folder}: ${(e as Error).message}`);
    }
    // Nodes first, then by name: a key repeated under a second name stays with the first one.
    const rank = (n: string) => (/^P[0-9]+\.pub$/.test(n) ? 0 : 1);
    names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    if (names.length > MAX_KEYS) {
      problems.push(`${names.length} public keys in ${folder}: only the first ${MAX_KEYS} are read`);
      names = names.slice(0, MAX_KEYS);
    }
    // Rebuilt whole: a key file removed is a key no longer admitted.
    const old = this.peers;
    this.peers = new Map();
    this.byRaw.clear();
    for (const f of names) {
      const name = f.slice(0, -4);
      try {
        const k = readKeyFile(path.join(folder, f), false);
        const hex = k.raw.toString('hex');
        const taken = this.byRaw.get(hex);
        if (taken) throw new KeyError(`${path.join(folder, f)} repeats the public key of ${taken}: ignored`);
        const prev = old.get(name);
        const mac = prev && prev.z85 === k.z85 ? prev.mac : this.linkKey(name, k.raw); // an unchanged key keeps its derived MAC key
        if (typeof mac === 'string') throw new KeyError(`${path.join(folder, f)}: ${mac}`);
        this.setPeer(name, k.z85, k.raw, mac);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    this.problems = problems;
    for (const p of problems) this.onProblem?.(p);
    return problems;
  }

  /** What the last read of public/ refused (after the start, a bad file is skipped). */
  problems: string[] = [];
  /** Told of each file a re-read skipped (the transport logs it, rate-limited). */
  onProblem?: (line: string) => void;

  private folderMtime(): bigint {
    try {
      return fs.statSync(path.join(this.dir!, 'public'), { bigint: true }).mtimeNs;
    } catch {
      return -1n;
    }
  }

  /** Re-reads public/ if it changed since the last read, or that read is older than KEY_RESCAN_MIN_INTERVAL_MS; returns whether it read. */
  private rescan(): boolean {
    if (!this.dir) return false;
    if (Date.now() - this.scannedAt < KEY_RESCAN_MIN_INTERVAL_MS && this.folderMtime() === this.scannedMtime) return false;
    try {
      this.scan();
    } catch {
      return false; // the folder went away: keep the keys already known
    }
    return true;
  }

  /** Re-reads public/ if it changed (one stat): the transport calls it every second, so a deleted key stops working within a second. */
  refresh(): void {
    if (!this.dir || this.folderMtime() === this.scannedMtime) return;
    try {
      this.scan();
    } catch {
      /* the folder is unreadable or unsafe now: keep the keys known (the next change is read) */
    }
  }

  /** The Z85 public key of `name` (re-reading the folder once if unknown), or null. */
  publicKeyOf(name: string): string | null {
    return (this.peers.get(name) ?? (this.rescan() ? this.peers.get(name) : undefined))?.z85 ?? null;
  }

  /** Whose public key `raw` is (re-reading the folder once if unknown), or null. */
  nameOfKey(raw: Uint8Array): string | null {
    const hex = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
    return this.byRaw.get(hex) ?? (this.rescan() ? this.byRaw.get(hex) ?? null : null);
  }

  private macKey(peer: string): Buffer | null {
    return (this.peers.get(peer) ?? (this.rescan() ? this.peers.get(peer) : undefined))?.mac ?? null;
  }


  /** The MAC of a frame this process sends to `to`, or null when `to` has no key. */
  mac(to: string, payload: string | Uint8Array): Buffer | null {
    const key = this.macKey(to);
    return key ? crypto.createHmac('sha256', key).update(payload).digest() : null;
  }

  /** Whether `mac` is the MAC `from` would put on `payload` sent to this process. */
  verify(from: string, payload: Uint8Array, mac: Uint8Array): 'ok' | 'unknown-sender' | 'bad-mac' {
    const key = this.macKey(from);
    if (!key) return 'unknown-sender';
    if (mac.byteLength !== MAC_BYTES) return 'bad-mac';
    const want = crypto.createHmac('sha256', key).update(payload).digest();
    return crypto.timingSafeEqual(want, mac) ? 'ok' : 'bad-mac';
  }
}
