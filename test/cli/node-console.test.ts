/**
 * The node console's data forms (real process): every command the cluster console needs
 * answers with one JSON line when `--json` follows it, so nothing parses human lines.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { parseNodeCommand } from '../../src/cli/commands';
import { NodeProc, stopAll, tempConfig } from '../e2e/harness';
import { nodeCommand } from '../../src/cli/entry-points';

describe('cli: node console commands with --json', function () {
  this.timeout(60_000);
  afterEach(() => stopAll());

  it('parses a trailing --json on any command', () => {
    assert.deepEqual(parseNodeCommand('status --json'), { ok: true, value: { cmd: 'status', json: true } });
    assert.deepEqual(parseNodeCommand('failLink(P1,P2) --JSON'), { ok: true, value: { cmd: 'failLink', a: 'P1', b: 'P2', json: true } });
    assert.deepEqual(parseNodeCommand('printBlockchain'), { ok: true, value: { cmd: 'printBlockchain' } });
    const bad = parseNodeCommand('status now --json');
    assert.equal(bad.ok, false);
  });

  it('status, printBlockchain, failLink/fixLink and errors answer as JSON; without --json as text', async () => {
    const { dir, iniPath } = await tempConfig(1, 1);
    const p = new NodeProc(1, nodeCommand(1, ['--config', iniPath, '--data-dir', path.join(dir, 'P1'), '-d', '0', '-q']));
    await p.waitForLine(/ listening on tcp:\/\//, { timeoutMs: 15_000, what: 'P1 to listen' });
    const ask = async (text: string, re: RegExp) => {
      const since = p.lines.length;
      p.send(text);
      return (await p.waitForLine(re, { since, timeoutMs: 5000, what: text })).line;
    };
    const status = JSON.parse(await ask('status --json', /^\{/)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(status).sort(), ['ballot', 'catchUp', 'depth', 'failedLinks', 'leader', 'node', 'promised', 'queue', 'role', 'tentative', 'term']);
    assert.equal(status.node, 'P1');
    assert.deepEqual(status.catchUp, { fetch: null, backfill: null, installs: 0, backfills: 0 }, 'no catch-up in progress');
    assert.equal(status.term, null);
    const chain = JSON.parse(await ask('printBlockchain --json', /^\{/)) as { node: string; commit: number; blocks: unknown[] };
    assert.deepEqual([chain.node, chain.commit, chain.blocks], ['P1', 0, []]);
    assert.deepEqual(JSON.parse(await ask('failLink(P1,C1) --json', /^\{/)), { link: 'failLink', node: 'P1', peer: 'C1', failed: true, changed: true });
    assert.deepEqual(JSON.parse(await ask('failLink(P1,C1) --json', /^\{/)), { link: 'failLink', node: 'P1', peer: 'C1', failed: true, changed: false });
    assert.deepEqual(JSON.parse(await ask('fixLink(P1,C1) --json', /^\{/)), { link: 'fixLink', node: 'P1', peer: 'C1', failed: false, changed: true });
    assert.match(JSON.parse(await ask('failLink(P1,C9) --json', /^\{/)).error, /there is no client C9/);
    assert.match(JSON.parse(await ask('bogus --json', /^\{/)).error, /unknown command "bogus"/);
    assert.match(await ask('status', /^P1: /), /^P1: follower, leader unknown, ballot -, promised -, depth 0/);
  });
});
