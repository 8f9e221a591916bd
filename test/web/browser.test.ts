/**
 * The web view in a real browser (issue #17): `npm start` (cluster-main) on a temp config with
 * free ports and a 200 ms delay, its page opened in headless Chromium (Debian's `chromium`,
 * driven by playwright-core, which never downloads a browser of its own). Checks: five nodes
 * drawn; a put typed on the page becomes a decided block on all five; failProcess on the leader
 * shows it down and, after the next operation, another leader; a link cut by clicking it shows
 * messages dropped; restart brings the node back; a screenshot is saved.
 *
 * Without the browser (CHAINKV_CHROMIUM, else /usr/bin/chromium) these tests are skipped with one
 * loud line; `.ci/run` installs it first.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configToIni, Endpoint } from '../../src/config';
import { freePorts } from '../e2e/harness';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLUSTER_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'cluster-main.js');
const CHROMIUM = process.env.CHAINKV_CHROMIUM ?? '/usr/bin/chromium';
/** Where the screenshot goes (the README's docs/web-view.png is a copy of one). */
const SHOT = process.env.CHAINKV_WEB_SCREENSHOT ?? path.join(os.tmpdir(), 'chainkv-web-view.png');
const DELAY_MS = 200;
/** The page's document, inside page.evaluate / waitForFunction (this project compiles without the DOM types). */
declare const document: any;


describe('web view in a browser (headless Chromium)', function () {
  this.timeout(60_000);
  let dir = '';
  let consoleProc: ChildProcess | null = null;
  let output = '';
  let url = '';
  // playwright-core's types are not needed: it is loaded only when the browser is there.
  let context: any = null;
  let page: any = null;
  const pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      process.stdout.write(`\n  !!! SKIPPING the browser tests of the web view: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does) !!!\n\n`);
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chainkv-web-test-'));
    const ports = await freePorts(8);
    const ep = (name: string, port: number): Endpoint => ({ name, host: '127.0.0.1', port });
    const config = path.join(dir, 'nodes.ini');
    fs.writeFileSync(config, configToIni({
      delayMs: DELAY_MS,
      nodes: ports.slice(0, 5).map((p, i) => ep(`P${i + 1}`, p)),
      clients: ports.slice(5).map((p, i) => ep(`C${i + 1}`, p)),
    }));
    // A process group of its own, so the console and its 8 processes can be killed together.
    consoleProc = spawn(process.execPath, [CLUSTER_MAIN, '--config', config, '--data-dir', path.join(dir, 'data'), '--fresh', '--quiet', '--web-port', '0', '--retry-ms', '1000'], {
      cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    });
    consoleProc.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
    consoleProc.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    const deadline = Date.now() + 30_000;
    while (!/all 8 processes are up/.test(output)) {
      if (Date.now() > deadline || consoleProc.exitCode !== null) throw new Error(`the console did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    url = /web view: (http:\/\/127\.0\.0\.1:[0-9]+\/)/.exec(output)![1];
    const { chromium } = require('playwright-core');
    context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await context.newPage();
    page.on('pageerror', (e: Error) => pageErrors.push(e.message));
    await page.goto(url);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    if (consoleProc && consoleProc.exitCode === null) {
      consoleProc.stdin!.end('quit\n');
      const exited = await new Promise<boolean>((r) => {
        const t = setTimeout(() => r(false), 8000);
        consoleProc!.once('exit', () => { clearTimeout(t); r(true); });
      });
      if (!exited) try { process.kill(-consoleProc.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stdout.write(`console output (last 40 lines):\n${output.split('\n').slice(-40).join('\n')}\n`);
  });

  const leaderOf = async (): Promise<string | null> => page.evaluate(() => document.querySelector('#procs .node[data-role="leader"]')?.id.slice(5) ?? null);
  /** The leader, once one is drawn (after a failover a new election may still be under way). */
  const leader = async (): Promise<string> => {
    await page.waitForSelector('#procs .node[data-role="leader"]', { timeout: 15_000 });
    return (await leaderOf())!;
  };

  it('draws the five nodes and three clients, all up', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#procs .node[data-up="up"]').length === 5, null, { timeout: 10_000 });
    assert.equal(await page.locator('#procs .node').count(), 5);
    assert.equal(await page.locator('#procs .client').count(), 3);
    assert.equal(await page.locator('#links .linkg').count(), 10);
  });

  it('a put typed on the page becomes a decided block on all five nodes', async () => {
    await page.selectOption('#op-client', 'C1');
    await page.selectOption('#op-op', 'put');
    await page.fill('#op-key', 'web_key');
    await page.fill('#op-value', '{"typed":"in the browser"}');
    await page.click('#op-send');
    await page.waitForFunction(() => ['P1', 'P2', 'P3', 'P4', 'P5'].every((n) => document.querySelector(`#chain-${n} .block.decided[data-key="web_key"]`)), null, { timeout: 15_000 });
    const title = await page.getAttribute('#chain-P3 .block.decided[data-key="web_key"]', 'title');
    assert.match(title, /put web_key \{"typed":"in the browser"\}/);
    assert.match(title, /nonce \S+\nhash pointer 0{64}\nhash [0-9a-f]{64}/);
    await page.waitForFunction(() => document.querySelector('#kv-P5')?.textContent?.includes('in the browser'), null, { timeout: 5000 });
    assert.match(await page.textContent('#client-C1'), /ack/);
    assert.match(await page.textContent('#timeline'), /block 0 decided: put web_key/);
    assert.ok(await leaderOf(), 'a leader is drawn');
  });

  it('failProcess on the leader shows it down, and the next operation elects another leader', async () => {
    const old = await leader();
    await page.click(`#card-${old} button.fail`);
    await page.waitForSelector(`#node-${old}[data-up="down"]`, { timeout: 10_000 });
    assert.match(await page.textContent('#timeline'), new RegExp(`${old} is down`));
    await page.selectOption('#op-client', 'C2');
    await page.fill('#op-key', 'after_crash');
    await page.click('#op-send');
    await page.waitForFunction((o: string) => {
      const l = document.querySelector('#procs .node[data-role="leader"]');
      return l && l.id !== `node-${o}`;
    }, old, { timeout: 20_000 });
    const now = (await leaderOf())!;
    assert.notEqual(now, old);
    await page.waitForFunction((n: string) => document.querySelector(`#chain-${n} .block.decided[data-key="after_crash"]`), now, { timeout: 15_000 });
    assert.match(await page.textContent('#timeline'), new RegExp(`${now}elected leader`));
    // restart brings it back, and it catches up
    await page.click(`#card-${old} button.restart`);
    await page.waitForSelector(`#node-${old}[data-up="up"]`, { timeout: 15_000 });
    await page.waitForFunction((o: string) => document.querySelector(`#chain-${o} .block.decided[data-key="after_crash"]`), old, { timeout: 15_000 });
  });

  it('a link cut by clicking it shows the messages dropped there', async () => {
    const lead = await leader();
    const nodes = ['P1', 'P2', 'P3', 'P4', 'P5'];
    const other = nodes.find((n) => n !== lead)!;
    const [a, b] = nodes.indexOf(lead) < nodes.indexOf(other) ? [lead, other] : [other, lead];
    await page.click(`#link-${a}-${b} .hit`);
    await page.waitForSelector(`#link-${a}-${b}.cut`, { timeout: 5000 });
    // The leader's next accept (a put) or heartbeat to that peer is dropped at the cut.
    await page.fill('#op-key', 'across_the_cut');
    await page.click('#op-send');
    await page.waitForFunction((id: string) => /[0-9]+ dropped/.test(document.getElementById(id)?.textContent ?? ''), `drops-${a}-${b}`, { timeout: 10_000 });
    assert.match(await page.textContent(`#drops-${a}-${b}`), /cut · [0-9]+ dropped/);
    // the page's own view of the node agrees with the node's status
    assert.match(await page.textContent(`#card-${a}`), new RegExp(`failed links${b}`));
    // For the screenshot: one more put, taken while its messages are drawn in flight (if it is quick enough).
    await page.fill('#op-key', 'in_flight');
    await page.click('#op-send');
    await page.waitForSelector('#dots circle', { timeout: 3000 }).catch(() => undefined);
    await page.screenshot({ path: SHOT, fullPage: true });
    assert.ok(fs.statSync(SHOT).size > 20_000, 'a screenshot was saved');
    process.stdout.write(`      (screenshot: ${SHOT})\n`);
    // clicking it again restores it
    await page.click(`#link-${a}-${b} .hit`);
    await page.waitForFunction((id: string) => !document.getElementById(id)?.classList.contains('cut'), `link-${a}-${b}`, { timeout: 5000 });
  });

  it('replays a scenario file step by step through the console', async () => {
    await page.selectOption('#scn-list', 'sequential.txt');
    await page.click('#scn-load');
    await page.waitForFunction(() => document.querySelectorAll('#scn-steps li').length > 4, null, { timeout: 5000 });
    assert.match(await page.textContent('#scn-steps li:nth-child(1)'), /^C1 put alice_netid/);
    for (let i = 1; i <= 2; i++) {
      await page.click('#scn-step');
      await page.waitForSelector(`#scn-steps li:nth-child(${i}).ok`, { timeout: 15_000 });
    }
    assert.match(await page.textContent('#scn-steps li:nth-child(2)'), /^expect C1 ack/);
    await page.waitForFunction(() => document.querySelector('#kv-P1')?.textContent?.includes('alice_netid'), null, { timeout: 5000 });
    assert.match(await page.textContent('#timeline'), /ok: C1 answered ack/);
  });

  it('partition and heal from the page cut and restore the links between the groups', async () => {
    await page.fill('#part-groups', 'P1,P2 | P3,P4,P5');
    await page.click('#part-go');
    await page.waitForFunction(() => document.querySelectorAll('#links .linkg.cut').length === 6, null, { timeout: 5000 });
    assert.equal(await page.locator('#link-P1-P2.cut').count(), 0);
    assert.equal(await page.locator('#link-P3-P4.cut').count(), 0);
    await page.click('#heal');
    await page.waitForFunction(() => document.querySelectorAll('#links .linkg.cut').length === 0, null, { timeout: 5000 });
  });

  it('refuses quit from the page, and the page raised no error', async () => {
    const r = await page.evaluate(async () => {
      const res = await fetch('/api/command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ line: 'quit' }) });
      return { status: res.status, body: await res.json() };
    });
    assert.equal(r.status, 422);
    assert.match(r.body.error, /quit only at the console/);
    assert.deepEqual(pageErrors, []);
  });
});
