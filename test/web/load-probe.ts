// Probe (not a test, not run by mocha): the web view under a 64-client load. Starts `npm start`
// (cluster-main, delay 0, --quiet, --insecure: made-up client ids have no keys) on free ports, with or without the web view (WEB=0), reads its
// event stream as a page would, and runs 64 closed-loop clients (50% put, 50% get) against the
// same nodes for SECS seconds. Prints ops/s and what reached the page: pushes per second, KB per
// second, the largest push, messages listed and counted. See the README's web view section.
// With PAGE=1 the page is also open in headless Chromium, and its main thread's busy time
// (Chromium's TaskDuration) and JS heap are printed.
// node dist/test/web/load-probe.js          (WEB=0 for the same load without the web view)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '../../src/client/client';
import { ClusterConfig, configToIni, loadConfig } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SECS = Number(process.env.SECS ?? 10);
const CLIENTS = Number(process.env.CLIENTS ?? 64);
const WEB = process.env.WEB !== '0';

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((r) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => r(s)); })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-web-load-'));
  const ports = await freePorts(8);
  const ini = path.join(dir, 'nodes.ini');
  fs.writeFileSync(ini, configToIni({
    delayMs: 0,
    nodes: ports.slice(0, 5).map((port, i) => ({ name: `P${i + 1}`, host: '127.0.0.1', port })),
    clients: ports.slice(5).map((port, i) => ({ name: `C${i + 1}`, host: '127.0.0.1', port })),
  }));
  const config: ClusterConfig = loadConfig(ini);
  const args = [path.join(ROOT, 'dist', 'src', 'cli', 'cluster-main.js'), '--config', ini, '--data-dir', path.join(dir, 'data'), '--quiet', '--insecure', ...(WEB ? ['--web-port', '0'] : ['--no-web'])];
  const consoleProc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  consoleProc.stdout!.on('data', (c) => { out += c.toString(); });
  while (!/all 8 processes are up/.test(out)) await new Promise((r) => setTimeout(r, 50));

  // The page's side: the event stream, measured.
  const stream = { pushes: 0, bytes: 0, largest: 0, listed: 0, skipped: 0, counted: 0 };
  let req: http.ClientRequest | null = null;
  if (WEB) {
    const url = /web view: (http:\/\/\S+)/.exec(out)![1];
    req = http.get(`${url}events`, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(ev)?.[1];
          if (!data) continue;
          const m = JSON.parse(data);
          if (m.type !== 'push') continue;
          stream.pushes++;
          stream.bytes += data.length;
          stream.largest = Math.max(stream.largest, data.length);
          stream.listed += m.sent?.length ?? 0;
          stream.skipped += m.sentSkipped ?? 0;
          stream.counted += Object.values((m.counts ?? {}) as Record<string, number>).reduce((s, n) => s + n, 0);
        }
      });
    });
  }

  let browser: any = null;
  let cdp: any = null;
  const taskSecs = async (): Promise<{ task: number; heapMB: number }> => {
    const m = new Map<string, number>((await cdp.send('Performance.getMetrics')).metrics.map((x: { name: string; value: number }) => [x.name, x.value]));
    return { task: m.get('TaskDuration')!, heapMB: m.get('JSHeapUsedSize')! / 2 ** 20 };
  };
  if (WEB && process.env.PAGE === '1') {
    const { chromium } = require('playwright-core');
    browser = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
      executablePath: process.env.CHAINKV_CHROMIUM ?? '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    await page.goto(/web view: (http:\/\/\S+)/.exec(out)![1]);
    cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
  }

  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => Client.connect({ id: `L${i + 1}`, config, delayMs: 0, hint: 1, security: { mode: 'plain' } })));
  await clients[0].put('warm', '1');
  let ops = 0;
  let running = true;
  const t0 = Date.now();
  Object.assign(stream, { pushes: 0, bytes: 0, largest: 0, listed: 0, skipped: 0, counted: 0 });
  const before = cdp ? await taskSecs() : null;
  await Promise.all(clients.map(async (c, i) => {
    let n = 0;
    while (running) {
      const key = `k${(i * 7919 + n++) % 1000}`;
      await (n % 2 ? c.put(key, `{"v":${n}}`) : c.get(key));
      ops++;
      if (Date.now() - t0 > SECS * 1000) running = false;
    }
  }));
  const secs = (Date.now() - t0) / 1000;
  console.log(`${CLIENTS} clients, ${secs.toFixed(1)} s, web view ${WEB ? 'on' : 'off'}: ${ops} operations, ${(ops / secs).toFixed(0)} ops/s`);
  if (WEB) {
    console.log(`to the page: ${(stream.pushes / secs).toFixed(1)} pushes/s, ${(stream.bytes / 1024 / secs).toFixed(1)} KB/s, largest push ${stream.largest} characters; ` +
      `messages listed ${(stream.listed / secs).toFixed(0)}/s, not listed ${(stream.skipped / secs).toFixed(0)}/s, counted ${(stream.counted / secs).toFixed(0)}/s`);
  }
  if (cdp) {
    const after = await taskSecs();
    console.log(`the page in Chromium: main thread busy ${((100 * (after.task - before!.task)) / secs).toFixed(0)}% of the time, JS heap ${after.heapMB.toFixed(1)} MB`);
    await browser.close();
  }
  for (const c of clients) c.close();
  req?.destroy();
  consoleProc.stdin!.end('quit\n');
  await new Promise((r) => consoleProc.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
})();
