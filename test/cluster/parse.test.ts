import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommand, parseScript, substitute } from '../../src/cluster/commands';
import { compareTerms } from '../../src/cluster/executor';
import { parseResultLine, resultMatches } from '../../src/cluster/lines';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const NAMES = { nodes: ['P1', 'P2', 'P3', 'P4', 'P5'], clients: ['C1', 'C2', 'C3'] };

function ok(line: string) {
  const p = parseCommand(line, NAMES);
  assert.ok(p.ok, `"${line}" should parse: ${!p.ok ? p.error : ''}`);
  return p.value;
}

function err(line: string, re: RegExp) {
  const p = parseCommand(line, NAMES);
  assert.equal(p.ok, false, `"${line}" should be refused`);
  if (!p.ok) assert.match(p.error, re);
}

describe('cluster console: reading client output and node data', () => {
  it('parses client result and error lines, including values with spaces and parentheses', () => {
    const r = parseResultLine('ack   (put alice_netid: block 0, leader P4, 2361 ms, 2 attempts)');
    assert.deepEqual({ ...r, line: undefined }, { line: undefined, error: false, result: 'ack', op: 'put', key: 'alice_netid', depth: 0, leader: 'P4', ms: 2361, attempts: 2 });
    const v = parseResultLine('{"a": "x   (y)"}   (get k: block 12, leader P2, 93 ms)');
    assert.equal(v?.result, '{"a": "x   (y)"}');
    assert.equal(v?.attempts, 1);
    const e = parseResultLine('error: the value is not valid JSON: Unexpected token');
    assert.equal(e?.error, true);
    assert.equal(parseResultLine('  ...waiting for request #17: 3 s (last sent to P1)'), null);
    assert.equal(parseResultLine('C1 ready (replies on tcp://127.0.0.1:7101; leader hint P1). Type "help" for commands.'), null);
  });

  it('matches expected answers by text, by JSON value, or as errors', () => {
    const res = (line: string) => parseResultLine(line)!;
    assert.ok(resultMatches('ack', res('ack   (put k: block 0, leader P1, 1 ms)')));
    assert.ok(resultMatches('{"phone_number":"1"}', res('{"phone_number": "1"}   (get k: block 1, leader P1, 1 ms)')));
    assert.ok(!resultMatches('NO_KEY', res('ack   (put k: block 0, leader P1, 1 ms)')));
    assert.ok(resultMatches('error', res('error: invalid key "a b"')));
    assert.ok(resultMatches('error: invalid key', res('error: invalid key "a b"')));
    assert.ok(!resultMatches('error: JSON', res('error: invalid key "a b"')));
    assert.ok(!resultMatches('error', res('ack   (put k: block 0, leader P1, 1 ms)')));
  });

  it('orders leadership terms as numbers (seq, then pid), not as strings', () => {
    assert.ok(compareTerms({ seq: 10, pid: 1 }, { seq: 9, pid: 5 }) > 0); // "<10,..." < "<9,..." as strings
    assert.ok(compareTerms({ seq: 1, pid: 2 }, { seq: 1, pid: 5 }) < 0);
    assert.ok(compareTerms(null, { seq: 1, pid: 1 }) < 0);
    assert.equal(compareTerms({ seq: 3, pid: 3 }, { seq: 3, pid: 3 }), 0);
  });
});

describe('cluster console: commands', () => {
  it('routes text to a process, case-insensitively, and failLink to its first node', () => {
    assert.deepEqual(ok('C1 put alice_netid {"phone_number":"111-222-3333"}'), { kind: 'send', target: 'C1', text: 'put alice_netid {"phone_number":"111-222-3333"}' });
    assert.deepEqual(ok('c2 Operation(get, alice_netid)'), { kind: 'send', target: 'C2', text: 'Operation(get, alice_netid)' });
    assert.deepEqual(ok('P2 failLink(P2,P3)'), { kind: 'send', target: 'P2', text: 'failLink(P2,P3)' });
    assert.deepEqual(ok('failLink(P2,P3)'), { kind: 'send', target: 'P2', text: 'failLink(P2,P3)', note: 'typed at P2' });
    assert.deepEqual(ok('all printKVStore'), { kind: 'send', target: 'all', text: 'printKVStore' });
  });

  it('parses the console commands and checks', () => {
    assert.deepEqual(ok('restart p3'), { kind: 'restart', target: 'P3' });
    assert.deepEqual(ok('partition P1,P2 | P3, P4 P5'), { kind: 'partition', groups: [['P1', 'P2'], ['P3', 'P4', 'P5']] });
    assert.deepEqual(ok('partition P2 | *'), { kind: 'partition', groups: [['P2'], ['*']] });
    assert.deepEqual(ok('expect C1 {"phone_number": "1"}'), { kind: 'expect-client', target: 'C1', expected: '{"phone_number": "1"}' });
    assert.deepEqual(ok('expect P4 depth 12'), { kind: 'expect-node', target: 'P4', check: { what: 'depth', atLeast: false, depth: 12 } });
    assert.deepEqual(ok('expect all depth >= 2'), { kind: 'expect-node', target: 'all', check: { what: 'depth', atLeast: true, depth: 2 } });
    assert.deepEqual(ok('expect P2 role leader'), { kind: 'expect-node', target: 'P2', check: { what: 'role', role: 'leader' } });
    assert.deepEqual(ok('expect P2 leader P5'), { kind: 'expect-node', target: 'P2', check: { what: 'leader', leader: 'P5' } });
    assert.deepEqual(ok('expect P3 down'), { kind: 'expect-node', target: 'P3', check: { what: 'down' } });
    assert.deepEqual(ok('wait-leader old'), { kind: 'wait-leader', variable: 'OLD' });
    assert.deepEqual(ok('set delay 20'), { kind: 'set', name: 'delay', value: 20 });
    for (const c of ['status', 'heal', 'help', 'quit', 'expect agree']) ok(c);
  });

  it('refuses bad input with one clear line', () => {
    err('', /empty/);
    err('foo', /unknown command "foo"/);
    err('P9 status', /no process P9/);
    err('C1', /what should C1 do/);
    err('put k {"a":1}', /which client/);
    err('printBlockchain', /which node/);
    err('restart', /restart needs one process/);
    err('status P1', /no arguments/);
    err('partition P1,P2', /partition P1,P2 \| P3/);
    err('partition P1 | P1', /two groups/);
    err('partition P1,* | P2', /group of its own/);
    err('sleep soon', /milliseconds/);
    err('expect C1', /needs the answer/);
    err('expect P1 depth x', /cannot check/);
    err('expect P1 leader C1', /not a node/);
    err('wait-leader a b', /variable name/);
  });

  it('substitutes $VARIABLES except in text for a client', () => {
    const vars = new Map([['LEADER', 'P3']]);
    assert.deepEqual(substitute('$LEADER failProcess', vars, NAMES), { ok: true, value: 'P3 failProcess' });
    assert.deepEqual(substitute('partition $leader | *', vars, NAMES), { ok: true, value: 'partition P3 | *' });
    assert.deepEqual(substitute('C1 put k {"v":"$LEADER"}', vars, NAMES), { ok: true, value: 'C1 put k {"v":"$LEADER"}' });
    assert.equal(substitute('restart $NEW', vars, NAMES).ok, false);
  });

  it('checks a whole script before running it', () => {
    const good = parseScript('# comment\nset delay 20\n\nC1 put k {"a":1}\nexpect C1 ack\nwait-leader OLD\n$OLD failProcess\nrestart $OLD\n', 's.txt', NAMES);
    assert.ok(good.ok);
    if (good.ok) {
      assert.equal(good.script.delayMs, 20);
      assert.deepEqual(good.script.steps.map((s) => s.line), [4, 5, 6, 7, 8]);
    }
    const bad = parseScript('C1 get k\nset delay 20\n$X failProcess\nfrobnicate\n', 's.txt', NAMES);
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      assert.equal(bad.errors.length, 3);
      assert.match(bad.errors[0], /^s\.txt:2: set delay must come before/);
      assert.match(bad.errors[1], /^s\.txt:3: \$X is not set/);
      assert.match(bad.errors[2], /^s\.txt:4: unknown command/);
    }
  });

  it('every shipped scenario parses', () => {
    const dir = path.join(ROOT, 'scenarios');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.txt'));
    assert.ok(files.length >= 4);
    for (const f of files) {
      const p = parseScript(fs.readFileSync(path.join(dir, f), 'utf8'), f, NAMES);
      assert.ok(p.ok, !p.ok ? p.errors.join('\n') : '');
    }
  });
});
