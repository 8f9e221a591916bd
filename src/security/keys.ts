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
    if (st.size > MAX_KEY_FILE_BYTES) throw new KeyError(`${file} is ${st.size} bytes: not a key (a key file is one 40-character Z85 line)`);
    const text = fs.readFileSync(fd, 'utf8').trim();
    const raw = text.length === 40 ? z85Decode(text) : null;
    if (!raw) throw new KeyError(`${file} does not hold a Z85 key (one line of 40 characters)`);
    return { z85: text, raw };
  } finally {
    fs.closeSync(fd);
  }
}

function writeFileDurable(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Writes a new key pair for `name` into `dir` (public/ and secret/ made if missing); refuses to replace one unless `replace`. */
export function addIdentity(dir: string, name: string, replace = false): string {
  if (!NAME.test(name)) throw new KeyError(`"${name}" is not a usable identity name (letters, digits, _ and -, at most 64)`);
  fs.mkdirSync(path.join(dir, 'public'), { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'secret'), { recursive: true, mode: 0o700 });
  if (!replace && fs.existsSync(publicPath(dir, name))) throw new KeyError(`${publicPath(dir, name)} exists already`);
  const kp = zmq.curveKeyPair();
  // Secret first: a public key without its secret would admit a key nobody holds.
  writeFileDurable(secretPath(dir, name), `${kp.secretKey}\n`, 0o600);
  writeFileDurable(publicPath(dir, name), `${kp.publicKey}\n`, 0o644);
  return kp.publicKey;
}

/** Adds a key pair for `name` unless the set has one (a process racing to add it is fine). */
export function ensureIdentity(dir: string, name: string): void {
  if (fs.existsSync(publicPath(dir, name))) return;
  try {
    addIdentity(dir, name);
  } catch (e) {
    if (!fs.existsSync(publicPath(dir, name))) throw e;
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
  /** The pairwise MAC key, derived on first use. */
  mac?: Buffer;
}

/** This process's key pair and every identity's public key, with the pairwise link keys. */
export class KeyRing {
  readonly publicKey: string;
  readonly secretKey: string;
  private readonly privateKey: crypto.KeyObject;
  private readonly peers = new Map<string, PeerKey>();
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
   * is not the secret's.
   */
  static load(dir: string, self: string): KeyRing {
    if (!fs.existsSync(dir)) throw new KeyError(`no key set at ${dir} (make one with: npm run keys -- new --dir ${dir})`);
    const secret = readKeyFile(secretPath(dir, self), true);
    const mine = z85Encode(publicOf(secret.raw));
    const ring = new KeyRing(dir, self, secret, mine);
    ring.scan();
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
    for (const [name, kp] of keys) ring.setPeer(name, kp.publicKey, z85Decode(kp.publicKey)!);
    return ring;
  }

  private setPeer(name: string, z85: string, raw: Buffer): void {
    const old = this.peers.get(name);
    if (old && old.z85 === z85) return;
    if (old) this.byRaw.delete(old.raw.toString('hex'));
    this.peers.set(name, { z85, raw });
    this.byRaw.set(raw.toString('hex'), name);
  }

  /** Reads public/ (bounded: MAX_KEYS files, each a Z85 line); a bad file is skipped and reported. */
  private scan(): string[] {
    if (!this.dir) return [];
    this.scannedAt = Date.now();
    this.scans++;
    this.scannedMtime = this.folderMtime();
    const problems: string[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.dir, 'public')).filter((f) => f.endsWith('.pub'));
    } catch (e) {
      throw new KeyError(`cannot read the public keys in ${path.join(this.dir, 'public')}: ${(e as Error).message}`);
    }
    if (names.length > MAX_KEYS) {
      problems.push(`${names.length} public keys in ${path.join(this.dir, 'public')}: only the first ${MAX_KEYS} are read`);
      names = names.sort().slice(0, MAX_KEYS);
    }
    for (const f of names) {
      const name = f.slice(0, -4);
      if (!NAME.test(name)) continue;
      try {
        const k = readKeyFile(path.join(this.dir, 'public', f), false);
        this.setPeer(name, k.z85, k.raw);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    return problems;
  }

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
    const p = this.peers.get(peer) ?? (this.rescan() ? this.peers.get(peer) : undefined);
    if (!p) return null;
    if (!p.mac) {
      const shared = crypto.diffieHellman({ privateKey: this.privateKey, publicKey: publicKeyObject(p.raw) });
      // Both names in the derivation: the key of the link P1-C2 is no other link's key.
      const info = [this.self, peer].sort().join('\n');
      p.mac = Buffer.from(crypto.hkdfSync('sha256', shared, 'chainkv link mac v1', info, MAC_BYTES));
    }
    return p.mac;
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
