/**
 * A 5-member etcd cluster on loopback for comparison (etcd 3.4, Debian package etcd-server),
 * driven through its v3 JSON gateway (POST /v3/kv/put and /v3/kv/range, base64 keys and values)
 * with Node's http and a keep-alive Agent. Gets are linearizable (etcd's default,
 * serializable=false); every request goes to the leader. fsync stays on (etcd's default).
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { spawnTracked, exited, stopProcess } from './procs';
import { freePorts, sleep } from './util';
import { KvClient } from './workload';

/** The etcd binary on PATH (or `explicit`), with its version, or null when absent. */
export function findEtcd(explicit?: string): { bin: string; version: string } | null {
  const candidates = explicit ? [explicit] : ['etcd', '/usr/bin/etcd', '/usr/local/bin/etcd'];
  for (const bin of candidates) {
    try {
      const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
      const m = /etcd Version:\s*(\S+)/.exec(out);
      return { bin, version: m ? m[1] : out.trim().split('\n')[0] };
    } catch {
      /* try the next */
    }
  }
  return null;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  child: ChildProcess | null;
  logPath: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** One CA and one leaf certificate (127.0.0.1, server and client use) made with openssl, as an operator would for a TLS etcd. */
interface Tls { ca: string; cert: string; key: string }

function makeCerts(dir: string): Tls {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=chainkv-bench-ca']);
  ssl(['req', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyAgreement\n');
  ssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.crt'), cert: f('leaf.crt'), key: f('leaf.key') };
}

export class EtcdCluster {
  private readonly agent: http.Agent;

  private constructor(readonly bin: string, readonly dir: string, readonly members: Member[], private readonly tls: Tls | null) {
    const keepAlive = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 };
    this.agent = tls
      ? new https.Agent({ ...keepAlive, ca: fs.readFileSync(tls.ca), cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) })
      : new http.Agent(keepAlive);
  }

  /** `tls`: clients and peers over TLS with client certificates (--client-cert-auth, --peer-client-cert-auth). */
  static async start(bin: string, dir: string, size = 5, tls = false): Promise<EtcdCluster> {
    fs.mkdirSync(dir, { recursive: true });
    const ports = await freePorts(2 * size);
    const members: Member[] = Array.from({ length: size }, (_, i) => ({
      name: `m${i + 1}`,
      clientPort: ports[2 * i],
      peerPort: ports[2 * i + 1],
      child: null,
      logPath: path.join(dir, `m${i + 1}.log`),
    }));
    const certs = tls ? makeCerts(path.join(dir, 'tls')) : null;
    const scheme = certs ? 'https' : 'http';
    const tlsFlags = certs ? [
      '--cert-file', certs.cert, '--key-file', certs.key, '--client-cert-auth', '--trusted-ca-file', certs.ca,
      '--peer-cert-file', certs.cert, '--peer-key-file', certs.key, '--peer-client-cert-auth', '--peer-trusted-ca-file', certs.ca,
    ] : [];
    const initial = members.map((m) => `${m.name}=${scheme}://127.0.0.1:${m.peerPort}`).join(',');
    const token = `chainkv-bench-${process.pid}-${Date.now()}`;
    const c = new EtcdCluster(bin, dir, members, certs);
    for (const m of members) {
      const fd = fs.openSync(m.logPath, 'a');
      m.child = spawnTracked(bin, [
        '--name', m.name,
        '--data-dir', path.join(dir, m.name),
        '--listen-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
        '--advertise-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
        '--listen-peer-urls', `${scheme}://127.0.0.1:${m.peerPort}`,
        '--initial-advertise-peer-urls', `${scheme}://127.0.0.1:${m.peerPort}`,
        ...tlsFlags,
        '--initial-cluster', initial,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
      ], { stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
    }
    await c.waitHealthy(60_000);
    return c;
  }

  tail(m: Member, lines = 15): string {
    try {
      return fs.readFileSync(m.logPath, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (const m of this.members) {
        if (m.child && exited(m.child)) throw new Error(`etcd ${m.name} exited (code ${m.child.exitCode}):\n${this.tail(m)}`);
      }
      try {
        if ((await this.leader()) !== null) {
          // One write through the leader proves the cluster commits.
          const l = (await this.leader())!;
          await this.request(l, '/v3/kv/put', { key: b64('warmup'), value: b64('{"warm":true}') });
          return;
        }
      } catch {
        /* not up yet */
      }
      if (performance.now() > deadline) throw new Error(`etcd cluster not healthy within ${timeoutMs} ms:\n${this.tail(this.members[0])}`);
      await sleep(100);
    }
  }

  /** The leading member, from /v3/maintenance/status on each member (leader == own member_id). */
  async leader(): Promise<Member | null> {
    for (const m of this.members) {
      try {
        const s = (await this.request(m, '/v3/maintenance/status', {})) as { header?: { member_id?: string }; leader?: string };
        if (s.leader && s.header?.member_id && s.leader === s.header.member_id) return m;
      } catch {
        /* member not answering: try the next */
      }
    }
    return null;
  }

  pids(): number[] {
    return this.members.map((m) => m.child?.pid).filter((p): p is number => p !== undefined);
  }

  /** One POST to the JSON gateway; rejects on a non-200 answer. */
  request(m: Member, urlPath: string, body: unknown): Promise<unknown> {
    const data = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = (this.tls ? https : http).request(
        {
          host: '127.0.0.1', port: m.clientPort, path: urlPath, method: 'POST', agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return reject(new Error(`etcd ${urlPath}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
            try {
              resolve(JSON.parse(text));
            } catch (e) {
              reject(e as Error);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error(`etcd ${urlPath}: no answer in 10 s`)));
      req.end(data);
    });
  }

  /** `n` closed-loop clients sending everything to the current leader, each after one warm-up get. */
  async clients(n: number): Promise<EtcdClient[]> {
    const leader = await this.leader();
    if (!leader) throw new Error('etcd has no leader');
    const out = Array.from({ length: n }, () => new EtcdClient(this, leader));
    await Promise.all(out.map((c) => c.get('warmup')));
    return out;
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await Promise.all(this.members.map((m) => (m.child ? stopProcess(m.child, 5000) : undefined)));
  }
}

export class EtcdClient implements KvClient {
  lastValue: string | null = null;
  constructor(private readonly cluster: EtcdCluster, private readonly leader: Member) {}
  async put(key: string, value: string): Promise<number> {
    await this.cluster.request(this.leader, '/v3/kv/put', { key: b64(key), value: b64(value) });
    return 1;
  }
  async get(key: string): Promise<number> {
    // serializable defaults to false: a linearizable read (goes through the leader's ReadIndex).
    const r = (await this.cluster.request(this.leader, '/v3/kv/range', { key: b64(key) })) as { kvs?: { value?: string }[] };
    this.lastValue = r.kvs?.[0]?.value !== undefined ? Buffer.from(r.kvs[0].value, 'base64').toString('utf8') : null; // decoded, as a real client would
    return 1;
  }
  close(): void {}
}
