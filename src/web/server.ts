/**
 * The page server of the web view (node:http, no dependency): the page itself (plain HTML, CSS
 * and JavaScript from web/, no build step), the event stream (server-sent events, from the hub)
 * and the controls, which are console lines handed to the console's own queue — the same parser
 * and executor as a line typed at the console.
 *
 * Every request is untrusted: only the routes below, only their method, a body of at most
 * MAX_WEB_BODY_BYTES that must be a JSON object of the expected shape; anything else gets one
 * status code and one line of text. Bound to 127.0.0.1 by default, where the Host header must
 * name this server (a page elsewhere cannot reach it through DNS rebinding) and a POST must come
 * from this origin; bound elsewhere, a token is required on every API call and on the stream.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { MAX_WEB_BODY_BYTES, MAX_WEB_PENDING_COMMANDS } from '../limits';
import { parseScript } from '../cluster/commands';
import { jsonLine } from '../events/reporter';
import { WebHub } from './hub';

export interface WebServerOptions {
  host: string;
  port: number;
  /** Required on /api and /events when set (a query parameter `token` or `Authorization: Bearer`). */
  token: string | null;
  hub: WebHub;
  /** Runs one console line through the console's queue; resolves with its outcome. */
  run: (line: string) => Promise<{ ok: true } | { ok: false; error: string }>;
  /** The page's files (index.html, view.js, view.css). */
  staticDir: string;
  /** scenarios/*.txt, offered for replay step by step. */
  scenariosDir: string;
  names: { nodes: string[]; clients: string[] };
}

const STATIC: Record<string, [string, string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/view.js': ['view.js', 'text/javascript; charset=utf-8'],
  '/view.css': ['view.css', 'text/css; charset=utf-8'],
};

/** Largest scenario file offered (the shipped ones are a few KB). */
const MAX_SCENARIO_BYTES = 256 * 1024;
const SCENARIO_NAME = /^[A-Za-z0-9_.-]{1,100}\.txt$/;

/** Is `host` a loopback address (where the web view may run without a token)? */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/.test(h);
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class WebServer {
  private server: http.Server | null = null;
  private pending = 0;
  url = '';

  constructor(private readonly o: WebServerOptions) {}

  /** Listens; resolves with the page's URL (with the token when there is one). */
  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        const status = e instanceof HttpError ? e.status : 500;
        const text = e instanceof HttpError ? e.message : 'internal error';
        if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`${text}\n`);
      });
    });
    server.requestTimeout = 10_000; // receiving a request (not the event stream's response)
    server.headersTimeout = 5_000;
    server.maxHeadersCount = 50;
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const port = (server.address() as { port: number }).port;
    const host = this.o.host.includes(':') ? `[${this.o.host}]` : this.o.host;
    this.url = `http://${host}:${port}/${this.o.token ? `?token=${encodeURIComponent(this.o.token)}` : ''}`;
    return this.url;
  }

  get port(): number {
    return (this.server?.address() as { port: number } | null)?.port ?? 0;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    this.o.hub.stop();
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      throw new HttpError(400, 'bad URL');
    }
    const route = url.pathname;
    const method = req.method ?? '';
    this.checkHost(req);
    const file = STATIC[route];
    if (file) {
      allow(method, ['GET', 'HEAD']);
      return this.sendFile(res, file[0], file[1], method === 'HEAD');
    }
    if (route === '/favicon.ico') {
      res.writeHead(204);
      return void res.end();
    }
    if (route === '/events' || route.startsWith('/api/')) {
      this.checkToken(req, url);
      this.checkFetchSite(req);
    }
    switch (route) {
      case '/events': {
        allow(method, ['GET']);
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'content-security-policy': "frame-ancestors 'none'", 'x-frame-options': 'DENY' });
        if (!this.o.hub.addPage(res)) {
          res.end(`data: ${jsonLine({ type: 'refused', error: 'too many pages are open on this console' })}\n\nretry: 10000\n\n`);
        }
        return;
      }
      case '/api/state': {
        allow(method, ['GET']);
        return json(res, 200, this.o.hub.snapshot());
      }
      case '/api/command': {
        allow(method, ['POST']);
        this.checkOrigin(req);
        const body = await readJson(req);
        const line = body.line;
        if (typeof line !== 'string' || line.length === 0 || line.length > MAX_WEB_BODY_BYTES || /[\r\n]/.test(line)) throw new HttpError(400, 'the body must be {"line": "one console line"}');
        if (this.pending >= MAX_WEB_PENDING_COMMANDS) throw new HttpError(503, `${MAX_WEB_PENDING_COMMANDS} commands from pages are already waiting for the console; try again`);
        this.pending++;
        try {
          const r = await this.o.run(line);
          return json(res, r.ok ? 200 : 422, r);
        } finally {
          this.pending--;
        }
      }
      case '/api/scenarios': {
        allow(method, ['GET']);
        return json(res, 200, { scenarios: this.scenarioNames() });
      }
      case '/api/scenario': {
        allow(method, ['GET']);
        const name = url.searchParams.get('name') ?? '';
        if (!SCENARIO_NAME.test(name) || !this.scenarioNames().includes(name)) throw new HttpError(404, 'no such scenario (see /api/scenarios)');
        const full = path.join(this.o.scenariosDir, name);
        if (fs.statSync(full).size > MAX_SCENARIO_BYTES) throw new HttpError(413, `scenario larger than ${MAX_SCENARIO_BYTES} bytes`);
        const parsed = parseScript(fs.readFileSync(full, 'utf8'), `scenarios/${name}`, this.o.names);
        if (!parsed.ok) return json(res, 422, { ok: false, error: parsed.errors.slice(0, 5).join('\n') });
        return json(res, 200, { ok: true, name, delayMs: parsed.script.delayMs ?? null, steps: parsed.script.steps });
      }
      default:
        throw new HttpError(404, 'not found');
    }
  }

  private scenarioNames(): string[] {
    try {
      return fs.readdirSync(this.o.scenariosDir).filter((f) => SCENARIO_NAME.test(f)).sort();
    } catch {
      return [];
    }
  }

  private sendFile(res: http.ServerResponse, name: string, type: string, head: boolean): void {
    const body = fs.readFileSync(path.join(this.o.staticDir, name));
    res.writeHead(200, {
      'content-type': type, 'content-length': body.length, 'cache-control': 'no-store',
      // Nothing from elsewhere: the page is self-contained and works offline.
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
    });
    res.end(head ? undefined : body);
  }

  /** On loopback without a token, the Host header must name this server (no DNS rebinding). */
  private checkHost(req: http.IncomingMessage): void {
    if (this.o.token) return;
    const host = req.headers.host ?? '';
    const ok = [`127.0.0.1:${this.port}`, `localhost:${this.port}`, `[::1]:${this.port}`, `${this.o.host}:${this.port}`];
    if (!ok.includes(host.toLowerCase())) throw new HttpError(403, 'wrong Host header: open the URL the console printed');
  }

  /**
   * The stream and the API are for this console's own page: a browser says where a request comes
   * from in Sec-Fetch-Site, and anything but `same-origin` (or `none`, typed in the address bar)
   * is another page — another site, or another port of this machine, which browsers count as the
   * same site — e.g. hidden iframes on a page elsewhere holding every stream slot. Tools that send
   * no Sec-Fetch-Site (curl, the tests) are not browsers running someone else's page.
   */
  private checkFetchSite(req: http.IncomingMessage): void {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'the stream and the commands are taken only from the page this console serves');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, 'the stream and the commands are taken only from the page this console serves');
  }

  /** A POST must come from this page (a browser sends Origin on a cross-site POST). */
  private checkOrigin(req: http.IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, 'commands are taken only from the page this console serves');
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') throw new HttpError(415, 'send the command as application/json');
  }

  private checkToken(req: http.IncomingMessage, url: URL): void {
    const want = this.o.token;
    if (!want) return;
    const auth = req.headers.authorization;
    const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : '');
    const a = Buffer.from(given);
    const b = Buffer.from(want);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) throw new HttpError(401, 'missing or wrong token: open the URL the console printed');
  }
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, `use ${methods.join(' or ')} here`);
}

function json(res: http.ServerResponse, status: number, data: unknown): void {
  const body = jsonLine(data);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

/** The request body as a JSON object: at most MAX_WEB_BODY_BYTES (413 beyond, read no further). */
function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_WEB_BODY_BYTES) {
      req.resume();
      return reject(new HttpError(413, `the body is larger than ${MAX_WEB_BODY_BYTES} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > MAX_WEB_BODY_BYTES) {
        failed = true;
        reject(new HttpError(413, `the body is larger than ${MAX_WEB_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => { failed = true; reject(new HttpError(400, 'the request was cut off')); });
    req.on('end', () => {
      if (failed) return;
      let v: unknown;
      try {
        v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reject(new HttpError(400, 'the body is not JSON'));
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return reject(new HttpError(400, 'the body must be a JSON object'));
      resolve(v as Record<string, unknown>);
    });
  });
}
