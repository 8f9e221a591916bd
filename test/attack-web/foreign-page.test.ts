/**
 * Attack on the web view: a page of ANOTHER origin takes every event-stream slot of the console.
 *
 * GET /events has no cross-site check: on loopback without a token only the Host header is
 * checked, and a foreign page's subresource request to http://127.0.0.1:PORT/events carries
 * exactly that Host. The browser cannot read the stream (no CORS), but the server has already
 * counted it as one of the MAX_WEB_PAGES pages (and told every process `@events on`). With
 * MAX_WEB_PAGES such requests (hidden <iframe>s, which keep loading forever; an <img> or
 * <script> does not hold, Chromium cuts those off) the console's own
 * page is answered `refused: too many pages are open on this console` for as long as the
 * foreign page stays open. Each test FAILS while the weakness exists.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_WEB_PAGES } from '../../src/limits';
import { ProcSource, WebHub } from '../../src/web/hub';
import { WebServer } from '../../src/web/server';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHAINKV_CHROMIUM ?? '/usr/bin/chromium';

function fakeProcs(): ProcSource {
  const nodes = ['P1', 'P2', 'P3', 'P4', 'P5'];
  const clients = ['C1', 'C2', 'C3'];
  return { nodes, clients, delayMs: 200, proc: () => ({ state: 'up', pid: 100, unanswered: [], write: () => true }) };
}

async function startServer(): Promise<{ server: WebServer; hub: WebHub }> {
  const hub = new WebHub(fakeProcs(), () => undefined);
  const server = new WebServer({
    host: '127.0.0.1', port: 0, token: null, hub,
    run: () => Promise.resolve({ ok: true as const }),
    staticDir: path.join(ROOT, 'web'), scenariosDir: path.join(ROOT, 'scenarios'),
    names: { nodes: ['P1', 'P2', 'P3', 'P4', 'P5'], clients: ['C1', 'C2', 'C3'] },
  });
  await server.start();
  hub.start();
  return { server, hub };
}

/** The first server-sent event of /events, as the console's own page would get it. */
function firstEvent(port: number, headers: Record<string, string> = {}): Promise<{ status: number; data: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', headers }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        const m = /data: (.*)\n\n/.exec(buf);
        if (m) {
          resolve({ status: res.statusCode!, data: JSON.parse(m[1]) });
          req.destroy();
        }
      });
      // A refusal is a status and one line, not a stream.
      res.on('end', () => (res.statusCode !== 200 ? resolve({ status: res.statusCode!, data: { type: 'refused', body: buf } }) : reject(new Error(`stream ended without an event: ${buf}`))));
    });
    req.on('error', reject);
  });
}

describe('attack web: a foreign origin and the event stream', function () {
  this.timeout(120_000);

  it('refuses /events to a cross-site request (Sec-Fetch-Site: cross-site, Origin of another site)', async () => {
    const { server, hub } = await startServer();
    try {
      // What Chromium sends for <img src="http://127.0.0.1:PORT/events"> on http://evil.example/.
      const r = await firstEvent(server.port, {
        host: `127.0.0.1:${server.port}`, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image',
        referer: 'http://evil.example/',
      });
      // Observed: 200 and a full snapshot (the slot is taken; the stream is live).
      assert.notEqual(r.status, 200, `a cross-site request got the event stream (${r.data.type}); the server counts it as a page`);
    } finally {
      await server.close();
      void hub;
    }
  });

  it('a page of another origin, open in the user\'s browser, does not lock the console\'s own page out', async function () {
    if (!fs.existsSync(CHROMIUM)) this.skip();
    const { server, hub } = await startServer();
    // The foreign site: another origin (another port), one page with MAX_WEB_PAGES hidden iframes.
    const P = server.port;
    // Hidden iframes (the /events response sets no frame-ancestors); half by each name of
    // loopback the Host check admits, to stay under Chromium's 6 connections per host.
    const imgs = Array.from({ length: MAX_WEB_PAGES }, (_, i) => `<iframe style="display:none" src="http://${i % 2 ? 'localhost' : '127.0.0.1'}:${P}/events?n=${i}"></iframe>`).join('\n');
    const evil = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>innocent</title><p>nothing to see</p>\n${imgs}`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilPort = (evil.address() as { port: number }).port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attack-web-'));
    const { chromium } = require('playwright-core');
    const context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
      executablePath: CHROMIUM, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${evilPort}/`, { waitUntil: 'commit' });
      const deadline = Date.now() + 10_000;
      while (hub.pageCount < MAX_WEB_PAGES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const foreignSlots = hub.pageCount;
      // The console's own page connects now (as view.js's EventSource does, same origin).
      const own = await firstEvent(P, { host: `127.0.0.1:${P}`, accept: 'text/event-stream' });
      assert.equal(own.data.type, 'snapshot',
        `the foreign page at http://127.0.0.1:${evilPort}/ holds ${foreignSlots} of ${MAX_WEB_PAGES} event-stream slots; the console's own page got: ${JSON.stringify(own.data)}`);
    } finally {
      await context.close().catch(() => undefined);
      await server.close();
      await new Promise((r) => { evil.closeAllConnections(); evil.close(r); });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
